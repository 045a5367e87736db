/**
 * Runs `task` in the background `firstAfterMs` after start (so a gateway restarted after a crash soon settles what it
 * left), then every `ms`, never two at once: a run still going when the next is due makes that one skip. A failed run is
 * reported and the next one tries again. Does not keep the process alive. `stop` cancels what is not started and waits
 * for a run in progress, so nothing it sends outlives the clients it uses.
 */
export function repeatedly(
  ms: number,
  firstAfterMs: number,
  task: () => Promise<unknown>,
  onError: (err: Error) => void,
): { stop(): Promise<void> } {
  let current: Promise<void> | undefined;
  let stopped = false;
  const run = () => {
    if (current || stopped) return;
    current = task()
      .then(
        () => undefined,
        (err: unknown) => onError(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => {
        current = undefined;
      });
  };
  const first = setTimeout(run, firstAfterMs);
  const timer = setInterval(run, ms);
  first.unref();
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await current;
    },
  };
}

/** A `repeatedly` that never runs. */
export const never: typeof repeatedly = () => ({ stop: () => Promise.resolve() });
