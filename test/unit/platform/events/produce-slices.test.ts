import type { OutgoingRecord } from '../../../../services/platform/src/events/produce-slices';
import { produceRequests, slicesByBytes } from '../../../../services/platform/src/events/produce-slices';

type Staged = OutgoingRecord;

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

  it('groups each request by topic, keeping record order and explicit partitions', () => {
    const staged = [record(1, 10, 2), record(2, 10), record(3, 10, 0), record(4, 10)];
    expect(produceRequests(staged)).toEqual([
      [
        {
          topic: 'a',
          messages: [
            { key: 'k-1', value: staged[0]?.value, headers: staged[0]?.headers, partition: 2 },
            { key: 'k-3', value: staged[2]?.value, headers: staged[2]?.headers, partition: 0 },
          ],
        },
        {
          topic: 'b',
          messages: [
            { key: 'k-2', value: staged[1]?.value, headers: staged[1]?.headers },
            { key: 'k-4', value: staged[3]?.value, headers: staged[3]?.headers },
          ],
        },
      ],
    ]);
    const many = Array.from({ length: 3_000 }, (_, i) => record(i, 400));
    const requests = produceRequests(many);
    expect(requests.length).toBeGreaterThan(1);
    expect(requests.flatMap((r) => r.flatMap((t) => t.messages.map((m) => m.key)))).toHaveLength(3_000);
  });
});
