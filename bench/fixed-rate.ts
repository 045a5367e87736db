import { setTimeout as sleep } from 'node:timers/promises';

import autocannon from 'autocannon';

/** How many autocannon instances share the rate unless told otherwise. */
export const DEFAULT_LANES = 50;
/** Seconds of load before the window unless told otherwise. */
export const DEFAULT_WARMUP_SECONDS = 5;
/** Seconds the load goes on after the window unless told otherwise. */
export const DEFAULT_DRAIN_SECONDS = 5;

export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
  /** Answered requests (any status). */
  requests: number;
  rps: number;
  non2xx: number;
}

export interface FixedRateResult extends LatencySummary {
  /** Failed requests (connection errors and timeouts) over the whole run, warm-up and drain included. */
  errors: number;
  /** The same summary for the requests sent during the warm-up, which the result above leaves out. */
  warmup: LatencySummary;
}

export interface FixedRateOptions {
  url: string;
  rate: number;
  /** Length of the measured window. */
  seconds: number;
  /**
   * Seconds of load before the measured window (default {@link DEFAULT_WARMUP_SECONDS}). The connections and the rate
   * carry straight on into the window: it starts on a generator whose connections are open and a server that has been
   * under load all along.
   */
  warmupSeconds?: number;
  /**
   * Seconds the load goes on after the window, so that the window's slowest answers still arrive (default
   * {@link DEFAULT_DRAIN_SECONDS}).
   */
  drainSeconds?: number;
  request: autocannon.Request;
  /**
   * Autocannon instances the rate is split across, started 1/lanes s apart (default {@link DEFAULT_LANES}).
   * autocannon rate-limits each connection by sending its whole per-second quota at one tick a second, and every
   * connection of an instance ticks together: one instance at 1,000 requests/s sends all 1,000 in one burst at the
   * top of each second (against a server that answers at once, p99 263 ms). Fifty staggered instances send 20 every
   * 20 ms (p99 8 ms).
   */
  lanes?: number;
  /** Called as the measured window opens and as it closes (to scrape a server's metrics over the same window). */
  onWindowStart?: () => Promise<void>;
  onWindowEnd?: () => Promise<void>;
}

function summarise(latencies: number[], non2xx: number, seconds: number): LatencySummary {
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  const requests = latencies.length + non2xx;
  return {
    p50: at(0.5),
    p99: at(0.99),
    max: at(1),
    requests,
    rps: Math.round((requests / seconds) * 10) / 10,
    non2xx,
  };
}

/**
 * Offers `rate` requests per second, spread evenly over each second, for a warm-up, the measured window and a short
 * drain, without a pause or a reconnect between them. It reports the raw response times of the 2xx answers to the
 * requests *sent* inside the window (the send time is the answer's arrival minus its response time), so a request
 * counts wherever its answer lands, and the drain keeps the load steady while the window's last answers arrive.
 * Each connection sends one request a second, so a request only waits for its connection when the previous one took
 * more than a second; a request sent in the window and not answered by the end of the drain is missing from
 * `requests`, and the achieved rate shows it.
 */
export async function fixedRateLoad(options: FixedRateOptions): Promise<FixedRateResult> {
  const lanes = Math.max(1, Math.min(options.lanes ?? DEFAULT_LANES, options.rate));
  const warmupSeconds = options.warmupSeconds ?? DEFAULT_WARMUP_SECONDS;
  const duration = warmupSeconds + options.seconds + (options.drainSeconds ?? DEFAULT_DRAIN_SECONDS);
  const measured: number[] = [];
  const warm: number[] = [];
  let measuredNon2xx = 0;
  let warmNon2xx = 0;
  let errors = 0;
  const started = performance.now();
  const windowStart = started + warmupSeconds * 1000;
  const windowEnd = windowStart + options.seconds * 1000;
  const marks = Promise.all([
    sleep(windowStart - started).then(() => options.onWindowStart?.()),
    sleep(windowEnd - started).then(() => options.onWindowEnd?.()),
  ]);
  // Awaited after the load; a failure is reported then, not as an unhandled rejection meanwhile.
  marks.catch(() => undefined);
  const runs: Promise<autocannon.Result>[] = [];
  for (let lane = 0; lane < lanes; lane++) {
    // Lane i carries requests i, i + lanes, … of each second's quota, and starts i/lanes s after the first. Each start
    // is aimed at that offset from the load's start, not at a pause after the previous lane: starting an instance
    // takes a few milliseconds, and fifty pauses of 20 ms had spread the lanes over 1.2 s, not 1 s, so the first fifth
    // of every second carried twice the load of the rest.
    const perLane = Math.floor(options.rate / lanes) + (lane < options.rate % lanes ? 1 : 0);
    const wait = started + (lane * 1000) / lanes - performance.now();
    if (wait > 0) await sleep(wait);
    runs.push(
      new Promise((resolve, reject) => {
        const instance = autocannon(
          {
            url: options.url,
            connections: perLane,
            overallRate: perLane,
            duration,
            requests: [options.request],
          },
          (err: unknown, result) =>
            err ? reject(err instanceof Error ? err : new Error('autocannon failed', { cause: err })) : resolve(result),
        );
        instance.on('response', (_client, statusCode: number, _bytes: number, responseTime: number) => {
          const sentAt = performance.now() - responseTime;
          const ok = statusCode >= 200 && statusCode < 300;
          if (sentAt >= windowStart && sentAt < windowEnd) {
            if (ok) measured.push(responseTime);
            else measuredNon2xx++;
          } else if (sentAt < windowStart) {
            if (ok) warm.push(responseTime);
            else warmNon2xx++;
          }
        });
        // autocannon reports a timeout as an error too, once.
        instance.on('reqError', () => errors++);
      }),
    );
  }
  await Promise.all(runs);
  await marks;
  return {
    ...summarise(measured, measuredNon2xx, options.seconds),
    errors,
    warmup: summarise(warm, warmNon2xx, warmupSeconds),
  };
}
