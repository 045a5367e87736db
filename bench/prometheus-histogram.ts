/**
 * Reading Prometheus histograms (and single samples) out of a service's `/metrics` text, for benchmarks that report
 * where the time went as the services themselves measured it. Buckets are cumulative counts keyed by their upper bound (`le`), +Inf as
 * `Infinity`. Quantiles are estimated the way PromQL's histogram_quantile does: linear interpolation inside the
 * bucket the rank falls in, so they are only as fine as the buckets.
 */

export type Buckets = Map<number, number>;

const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescape(value: string): string {
  return value.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/**
 * The cumulative buckets of histogram `name` in the exposition `text`, summed over every series whose labels include
 * `labels` (so a histogram with a label not named here is aggregated over it). Empty when there is no such series.
 */
export function histogramBuckets(text: string, name: string, labels: Record<string, string> = {}): Buckets {
  const buckets: Buckets = new Map();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const close = line.lastIndexOf('}');
    const found = new Map<string, string>();
    for (const m of line.slice(prefix.length, close).matchAll(LABEL)) found.set(m[1] ?? '', unescape(m[2] ?? ''));
    if (Object.entries(labels).some(([k, v]) => found.get(k) !== v)) continue;
    const le = found.get('le');
    const count = sampleNumber(line.slice(close + 1));
    if (le === undefined || !Number.isFinite(count)) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + count);
  }
  return buckets;
}

/** A sample's value from what follows its name and labels (` value [timestamp]`); NaN when it is not a number. */
function sampleNumber(afterLabels: string): number {
  return Number(afterLabels.trim().split(' ')[0]);
}

/** The observations made between two scrapes of the same histogram: `after` minus `before`, bucket by bucket. */
export function bucketDelta(before: Buckets, after: Buckets): Buckets {
  const delta: Buckets = new Map();
  for (const [bound, count] of after) delta.set(bound, count - (before.get(bound) ?? 0));
  return delta;
}

/** Observations in the histogram (its +Inf bucket). */
export function bucketCount(buckets: Buckets): number {
  return buckets.get(Infinity) ?? 0;
}

/**
 * The q-quantile (0 < q ≤ 1) estimated from cumulative buckets; `undefined` with no observations. A rank in the +Inf
 * bucket gives the highest finite bound (the estimate can say no more than "above it"), as histogram_quantile does.
 */
export function bucketQuantile(buckets: Buckets, q: number): number | undefined {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = bucketCount(buckets);
  if (total <= 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bound of bounds) {
    const count = buckets.get(bound) ?? 0;
    if (count >= rank) {
      if (bound === Infinity) return lowerBound;
      if (count === lowerCount) return bound;
      return lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / (count - lowerCount);
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}

/** The value of the first sample named exactly `name` (a gauge, say), whatever its labels; undefined if there is none. */
export function sampleValue(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!rest.startsWith(' ') && !rest.startsWith('{')) continue;
    const value = sampleNumber(rest.slice(rest.lastIndexOf('}') + 1));
    if (Number.isFinite(value)) return value;
  }
  return undefined;
}
