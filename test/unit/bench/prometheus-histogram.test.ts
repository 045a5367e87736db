import {
  bucketCount,
  bucketDelta,
  bucketQuantile,
  histogramBuckets,
  sampleValue,
} from '../../../bench/prometheus-histogram';

const scrape = (charge: number[], deposit: number[]) => {
  const bounds = ['0.01', '0.05', '0.1', '+Inf'];
  const series = (route: string, counts: number[]) =>
    bounds.map((le, i) => `req_seconds_bucket{le="${le}",method="POST",route="${route}"} ${counts[i] ?? 0}`);
  return [
    '# HELP req_seconds HTTP request latency by route',
    '# TYPE req_seconds histogram',
    ...series('/wallet/charge', charge),
    `req_seconds_sum{method="POST",route="/wallet/charge"} 1.5`,
    `req_seconds_count{method="POST",route="/wallet/charge"} ${charge[3] ?? 0}`,
    ...series('/wallet/deposit', deposit),
    'other_seconds_bucket{le="+Inf"} 99',
  ].join('\n');
};

describe('bench: Prometheus histograms from /metrics text', () => {
  it('reads one series by its labels, or sums every series of the histogram', () => {
    const text = scrape([1, 5, 9, 10], [2, 2, 2, 2]);
    expect([...histogramBuckets(text, 'req_seconds', { route: '/wallet/charge' })]).toEqual([
      [0.01, 1],
      [0.05, 5],
      [0.1, 9],
      [Infinity, 10],
    ]);
    expect(bucketCount(histogramBuckets(text, 'req_seconds'))).toBe(12);
    expect(histogramBuckets(text, 'req_seconds', { route: '/nowhere' }).size).toBe(0);
    expect(histogramBuckets(text, 'missing_seconds').size).toBe(0);
  });

  it('unescapes label values before matching them', () => {
    const text = 'x_bucket{le="+Inf",path="a\\"b\\\\c"} 3';
    expect(bucketCount(histogramBuckets(text, 'x', { path: 'a"b\\c' }))).toBe(3);
  });

  it('takes the observations between two scrapes', () => {
    const before = histogramBuckets(scrape([1, 5, 9, 10], []), 'req_seconds', { route: '/wallet/charge' });
    const after = histogramBuckets(scrape([1, 15, 109, 110], []), 'req_seconds', { route: '/wallet/charge' });
    expect([...bucketDelta(before, after)]).toEqual([
      [0.01, 0],
      [0.05, 10],
      [0.1, 100],
      [Infinity, 100],
    ]);
  });

  it('interpolates quantiles inside the bucket the rank falls in, as histogram_quantile does', () => {
    // 100 observations: 10 in (0.01, 0.05], 90 in (0.05, 0.1].
    const b = new Map([
      [0.01, 0],
      [0.05, 10],
      [0.1, 100],
      [Infinity, 100],
    ]);
    expect(bucketQuantile(b, 0.05)).toBeCloseTo(0.03, 10);
    expect(bucketQuantile(b, 0.5)).toBeCloseTo(0.05 + 0.05 * (40 / 90), 10);
    expect(bucketQuantile(b, 0.99)).toBeCloseTo(0.05 + 0.05 * (89 / 90), 10);
    expect(bucketQuantile(b, 1)).toBeCloseTo(0.1, 10);
  });

  it('says only "above the highest bound" for ranks in +Inf, and nothing without observations', () => {
    const b = new Map([
      [0.1, 50],
      [Infinity, 100],
    ]);
    expect(bucketQuantile(b, 0.5)).toBeCloseTo(0.1, 10);
    expect(bucketQuantile(b, 0.99)).toBe(0.1);
    expect(bucketQuantile(new Map([[Infinity, 0]]), 0.5)).toBeUndefined();
    expect(bucketQuantile(new Map(), 0.5)).toBeUndefined();
  });

  it('reads a single sample by its exact name', () => {
    const text = [
      '# TYPE nodejs_eventloop_lag_p99_seconds gauge',
      'nodejs_eventloop_lag_p99_seconds_total 7',
      'nodejs_eventloop_lag_p99_seconds{service="gateway"} 0.0213',
      'nodejs_eventloop_lag_max_seconds 0.5',
    ].join('\n');
    expect(sampleValue(text, 'nodejs_eventloop_lag_p99_seconds')).toBe(0.0213);
    expect(sampleValue(text, 'nodejs_eventloop_lag_max_seconds')).toBe(0.5);
    expect(sampleValue(text, 'nodejs_eventloop_lag_min_seconds')).toBeUndefined();
  });
});
