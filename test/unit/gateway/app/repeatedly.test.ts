import { never, repeatedly } from '../../../../services/gateway/src/app/repeatedly';

/** A task whose runs are counted and which each finish (or fail) only when the test says so. */
function gatedTask() {
  const runs: { finish: () => void; fail: (reason: unknown) => void; settled: boolean }[] = [];
  const task = () =>
    new Promise<void>((resolve, reject) => {
      const run = {
        settled: false,
        finish: () => {
          run.settled = true;
          resolve();
        },
        fail: (reason: unknown) => {
          run.settled = true;
          // A task may reject with anything (a library's string, say); what repeatedly reports of it is tested.
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          reject(reason);
        },
      };
      runs.push(run);
    });
  return { runs, task };
}

/** What the timers would do in `ms`, with every promise they settle handled in between. */
const advance = (ms: number) => jest.advanceTimersByTimeAsync(ms);

function unexpected(err: Error): never {
  throw err;
}

/** The gateway's sweeps and heartbeat: background runs that never overlap, and a stop that outwaits the one running. */
describe('repeatedly', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('first runs firstAfterMs after start, then every ms', async () => {
    let runs = 0;
    const r = repeatedly(1_000, 100, () => Promise.resolve(runs++), unexpected);
    await advance(99);
    expect(runs).toBe(0);
    await advance(1);
    expect(runs).toBe(1);
    await advance(900);
    expect(runs).toBe(2);
    await advance(2_000);
    expect(runs).toBe(4);
    await r.stop();
    await advance(10_000);
    expect(runs).toBe(4);
  });

  it('never runs twice at once: a run due while one is going is skipped', async () => {
    const { runs, task } = gatedTask();
    const r = repeatedly(100, 0, task, unexpected);
    await advance(550);
    expect(runs).toHaveLength(1);
    runs[0]!.finish();
    await advance(0);
    expect(runs).toHaveLength(1);
    // The next tick after the run ended starts the next.
    await advance(50);
    expect(runs).toHaveLength(2);
    runs[1]!.finish();
    await r.stop();
  });

  it('stop waits for the run in progress and starts no other', async () => {
    const { runs, task } = gatedTask();
    const r = repeatedly(100, 0, task, unexpected);
    await advance(0);
    expect(runs).toHaveLength(1);
    let stopped = false;
    const stopping = r.stop().then(() => {
      stopped = true;
    });
    await advance(1_000);
    expect(stopped).toBe(false);
    runs[0]!.finish();
    await stopping;
    expect(runs[0]!.settled).toBe(true);
    await advance(1_000);
    expect(runs).toHaveLength(1);
  });

  it('stopped before its first run, it never runs', async () => {
    let runs = 0;
    const r = repeatedly(1_000, 500, () => Promise.resolve(runs++), unexpected);
    await advance(499);
    await r.stop();
    await advance(10_000);
    expect(runs).toBe(0);
  });

  it('reports a failed run, as an Error whatever was thrown, and runs again at the next tick', async () => {
    const { runs, task } = gatedTask();
    const errors: string[] = [];
    const r = repeatedly(100, 0, task, (err) => errors.push(`${err.constructor.name}: ${err.message}`));
    await advance(0);
    runs[0]!.fail(new Error('database unavailable'));
    await advance(100);
    expect(runs).toHaveLength(2);
    runs[1]!.fail('not an Error');
    await advance(100);
    expect(runs).toHaveLength(3);
    // stop waits for a run that fails too, and what it reports comes before stop returns.
    const stopping = r.stop();
    runs[2]!.fail(new Error('late failure'));
    await stopping;
    expect(errors).toEqual(['Error: database unavailable', 'Error: not an Error', 'Error: late failure']);
  });

  it('keeps no process alive: its timers are unref-ed', () => {
    jest.useRealTimers();
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const r = repeatedly(100, 10, () => Promise.resolve(), unexpected);
    // Unref-ed timers are not counted as resources keeping the event loop alive.
    expect(process.getActiveResourcesInfo().filter((x) => x === 'Timeout').length).toBe(before);
    return r.stop();
  });

  it('never: never runs, and stops at once', async () => {
    let runs = 0;
    const r = never(1, 0, () => Promise.resolve(runs++), unexpected);
    await advance(1_000);
    await r.stop();
    expect(runs).toBe(0);
  });
});
