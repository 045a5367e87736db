import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { fixedRateLoad } from '../../../bench/fixed-rate';

/**
 * The fixed-rate load against a local HTTP server whose answer time depends on when each request was sent: the result
 * must hold exactly the requests sent inside the measured window, wherever their answers land.
 *
 * Each request carries the moment autocannon built it, just before writing it (`x-sent-at`, ms on the test's clock),
 * so the server's choice of delay and the test's expectations follow the send time, the very time the load classifies
 * by, not the moment the request happened to reach the server. The load's clock starts a few microseconds after the
 * test's; the bands below keep clear of the window's edges by far more than that.
 */
describe('fixedRateLoad', () => {
  const WINDOW_START = 2_000;
  const WINDOW_END = 4_000;
  /** Answers to requests sent in the window's second half are held until 50 ms after the window closed. */
  const HELD_FROM = 3_000;
  const HELD_UNTIL = WINDOW_END - 50;
  const RELEASE_AT = WINDOW_END + 50;
  /** Answers to requests sent in the drain take 2 s, longer than any window answer. */
  const DRAIN_FROM = WINDOW_END + 50;
  const DRAIN_DELAY = 2_000;
  /** Answers to the warm-up's first 1.5 s take 400 ms. */
  const WARMUP_SLOW_UNTIL = 1_500;
  const WARMUP_DELAY = 400;

  let server: http.Server;
  let url: string;
  let startedAt = 0;
  const sentAt: number[] = [];
  const now = () => performance.now() - startedAt;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const sent = Number(req.headers['x-sent-at']);
      req.resume();
      req.on('end', () => {
        if (!Number.isFinite(sent)) {
          res.statusCode = 400;
          res.end('{}');
          return;
        }
        sentAt.push(sent);
        const delay =
          sent < WARMUP_SLOW_UNTIL
            ? WARMUP_DELAY
            : sent >= HELD_FROM && sent < HELD_UNTIL
              ? Math.max(0, RELEASE_AT - now())
              : sent >= DRAIN_FROM
                ? DRAIN_DELAY
                : 0;
        setTimeout(() => res.end('{}'), delay);
      });
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
      warmupSeconds: WINDOW_START / 1000,
      seconds: (WINDOW_END - WINDOW_START) / 1000,
      drainSeconds: 3,
      request: {
        method: 'POST',
        path: '/',
        body: '{}',
        setupRequest: (request) => ({ ...request, headers: { ...request.headers, 'x-sent-at': String(now()) } }),
      },
      onWindowStart: () => Promise.resolve(void marks.push(now())),
      onWindowEnd: () => Promise.resolve(void marks.push(now())),
    });

    // Requests sent in [from, to), with a 5 ms margin either way for the two clocks.
    const sentIn = (from: number, to: number) => ({
      atLeast: sentAt.filter((t) => t >= from + 5 && t < to - 5).length,
      atMost: sentAt.filter((t) => t >= from - 5 && t < to + 5).length,
    });
    const window = sentIn(WINDOW_START, WINDOW_END);
    const warmup = sentIn(-Infinity, WINDOW_START);
    const held = sentAt.filter((t) => t >= HELD_FROM && t < HELD_UNTIL);
    const drainAnsweredInTime = sentAt.filter((t) => t >= DRAIN_FROM && t < DRAIN_FROM + 500);

    // The run exercised each case: slow warm-up answers, window answers held past its end, drain answers that land
    // before the load stops.
    expect(sentAt.some((t) => t < WARMUP_SLOW_UNTIL)).toBe(true);
    expect(held.length).toBeGreaterThan(0);
    expect(drainAnsweredInTime.length).toBeGreaterThan(0);

    // The warm-up is reported apart, all of it (its answers all land within the run), with its slow answers.
    expect(result.warmup.requests).toBeGreaterThanOrEqual(warmup.atLeast);
    expect(result.warmup.requests).toBeLessThanOrEqual(warmup.atMost);
    expect(result.warmup.max).toBeGreaterThanOrEqual(WARMUP_DELAY);
    // The window holds exactly the requests sent in it: neither the warm-up's nor the drain's, and every one whose
    // answer was held until after the window closed.
    expect(result.requests).toBeGreaterThanOrEqual(window.atLeast);
    expect(result.requests).toBeLessThanOrEqual(window.atMost);
    // The earliest held request waited from its send until the release, after the window closed: counted.
    expect(result.max).toBeGreaterThanOrEqual(RELEASE_AT - Math.min(...held) - 5);
    // No drain answer (2 s) counted.
    expect(result.max).toBeLessThan(DRAIN_DELAY);
    // 100 requests/s for 2 s.
    expect(result.requests).toBeGreaterThanOrEqual(180);
    expect(result.requests).toBeLessThanOrEqual(220);
    expect(result.rps).toBeCloseTo(result.requests / 2, 5);
    expect(result.errors).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result.warmup.non2xx).toBe(0);
    // The window's marks fire when it opens and when it closes.
    expect(marks).toHaveLength(2);
    expect(marks[0]).toBeGreaterThanOrEqual(WINDOW_START - 10);
    expect(marks[0]).toBeLessThan(WINDOW_START + 300);
    expect(marks[1]).toBeGreaterThanOrEqual(WINDOW_END - 10);
    expect(marks[1]).toBeLessThan(WINDOW_END + 300);
  });
});
