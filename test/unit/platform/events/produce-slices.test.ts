import type { SizedRecord } from '../../../../services/platform/src/events/produce-slices';
import { slicesByBytes } from '../../../../services/platform/src/events/produce-slices';

type Staged = SizedRecord & { topic: string; partition?: number };

const record = (i: number, bytes: number, partition?: number): Staged => ({
  topic: i % 2 ? 'a' : 'b',
  key: `k-${i}`,
  value: Buffer.alloc(bytes, 1),
  headers: { 'event-id': `e-${i}`, dup: ['x', 'y'] },
  ...(partition === undefined ? {} : { partition }),
});

describe('produce requests sliced by size', () => {
  it('keeps every record once, in order, each slice under the limit', () => {
    const staged = Array.from({ length: 5_000 }, (_, i) => record(i, 150 + (i % 7) * 40, i % 3));
    const slices = slicesByBytes(staged, 64 * 1024);
    expect(slices.length).toBeGreaterThan(10);
    expect(slices.flat()).toEqual(staged);
    for (const slice of slices) {
      const payload = slice.reduce((n, s) => n + (s.value?.length ?? 0), 0);
      expect(payload).toBeLessThanOrEqual(64 * 1024);
    }
  });

  it('leaves a small chunk in one request, and puts a record larger than the limit alone', () => {
    const small = Array.from({ length: 10 }, (_, i) => record(i, 100));
    expect(slicesByBytes(small, 64 * 1024)).toEqual([small]);
    const big = record(99, 100 * 1024);
    expect(slicesByBytes([small[0] as Staged, big, small[1] as Staged], 64 * 1024)).toEqual([
      [small[0]],
      [big],
      [small[1]],
    ]);
    expect(slicesByBytes([], 64 * 1024)).toEqual([]);
  });
});
