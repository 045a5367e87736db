import { setTimeout as sleep } from 'node:timers/promises';

import autocannon from 'autocannon';

/** How many autocannon instances share the rate unless told otherwise. */
export const DEFAULT_LANES = 50;

export interface FixedRateResult {
  p50: number;
  p99: number;
  max: number;
  requests: number;
  rps: number;
  errors: number;
  non2xx: number;
}

export interface FixedRateOptions {
  url: string;
  rate: number;
  seconds: number;
  request: autocannon.Request;
  /**
   * Autocannon instances the rate is split across, started 1/lanes s apart (default {@link DEFAULT_LANES}).
   * autocannon rate-limits each connection by sending its whole per-second quota at one tick a second, and every
   * connection of an instance ticks together: one instance at 1,000 requests/s sends all 1,000 in one burst at the
   * top of each second (against a server that answers at once, p99 263 ms). Fifty staggered instances send 20 every
   * 20 ms (p99 8 ms).
   */
  lanes?: number;
}

/**
 * Offers `rate` requests per second for `seconds`, spread evenly over each second, and reports the latency of every
 * answered request (raw response times; each connection sends one request a second, so a request only waits for
 * its connection when the previous one took more than a second — the achieved rate shows it).
 */
export async function fixedRateLoad(options: FixedRateOptions): Promise<FixedRateResult> {
  const lanes = Math.max(1, Math.min(options.lanes ?? DEFAULT_LANES, options.rate));
  const latencies: number[] = [];
  let non2xx = 0;
  let answered = 0;
  const runs: Promise<autocannon.Result>[] = [];
  for (let lane = 0; lane < lanes; lane++) {
    // Lane i carries requests i, i + lanes, … of each second's quota.
    const perLane = Math.floor(options.rate / lanes) + (lane < options.rate % lanes ? 1 : 0);
    if (lane > 0) await sleep(1000 / lanes);
    runs.push(
      new Promise((resolve, reject) => {
        const instance = autocannon(
          {
            url: options.url,
            connections: perLane,
            overallRate: perLane,
            duration: options.seconds,
            requests: [options.request],
          },
          (err: unknown, result) =>
            err ? reject(err instanceof Error ? err : new Error('autocannon failed', { cause: err })) : resolve(result),
        );
        instance.on('response', (_client, statusCode: number, _bytes: number, responseTime: number) => {
          answered++;
          if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
          else non2xx++;
        });
      }),
    );
  }
  const results = await Promise.all(runs);
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return {
    p50: at(0.5),
    p99: at(0.99),
    max: at(1),
    requests: answered,
    // Each instance runs `seconds`, so this is the rate actually answered over the run.
    rps: Math.round((answered / options.seconds) * 10) / 10,
    errors: results.reduce((n, r) => n + r.errors + r.timeouts, 0),
    non2xx,
  };
}
