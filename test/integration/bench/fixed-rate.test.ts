import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { fixedRateLoad } from '../../../bench/fixed-rate';

/**
 * The fixed-rate load against a local HTTP server whose answer time depends on when a request arrives: the result
 * must hold exactly the requests sent inside the measured window, wherever their answers land.
 */
describe('fixedRateLoad', () => {
  let server: http.Server;
  let url: string;
  let startedAt = 0;
  /**
   * Answer delay (ms) for a request arriving `t` ms after the test started the load. The window is 2,000–4,000 ms of
   * the load's own clock, which starts a little later than the test's: each change of delay keeps a band clear of the
   * window's edges (the slow answers of the drain begin 100 ms after it ends), so that skew never moves a request
   * across an edge.
   */
  const delayAt = (t: number) => (t < 1_500 ? 400 : t >= 4_100 ? 1_000 : t >= 3_600 ? 300 : 0);

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const delay = delayAt(performance.now() - startedAt);
      req.resume();
      req.on('end', () => setTimeout(() => res.end('{}'), delay));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('measures the requests sent in the window, not the warm-up, and counts answers that land after it', async () => {
    const marks: number[] = [];
    startedAt = performance.now();
    const result = await fixedRateLoad({
      url,
      rate: 100,
      lanes: 10,
      warmupSeconds: 2,
      seconds: 2,
      drainSeconds: 1,
      request: { method: 'POST', path: '/', body: '{}' },
      onWindowStart: () => Promise.resolve(void marks.push(performance.now() - startedAt)),
      onWindowEnd: () => Promise.resolve(void marks.push(performance.now() - startedAt)),
    });

    // The warm-up's slow answers (400 ms) are reported apart and left out of the result.
    expect(result.warmup.max).toBeGreaterThanOrEqual(400);
    expect(result.warmup.requests).toBeGreaterThan(50);
    // Sent in the window's last 0.4 s, answered 300 ms later, after the window closed: counted. Sent during the drain
    // (after its first 100 ms, answered after 1 s): not counted.
    expect(result.max).toBeGreaterThanOrEqual(300);
    expect(result.max).toBeLessThan(1_000);
    expect(result.p50).toBeLessThan(100);
    // 100 requests/s for 2 s.
    expect(result.requests).toBeGreaterThanOrEqual(180);
    expect(result.requests).toBeLessThanOrEqual(220);
    expect(result.rps).toBeCloseTo(result.requests / 2, 5);
    expect(result.errors).toBe(0);
    expect(result.non2xx).toBe(0);
    // The window's marks fire when it opens and when it closes.
    expect(marks).toHaveLength(2);
    expect(marks[0]).toBeGreaterThanOrEqual(1_990);
    expect(marks[0]).toBeLessThan(2_300);
    expect(marks[1]).toBeGreaterThanOrEqual(3_990);
    expect(marks[1]).toBeLessThan(4_300);
  });
});
