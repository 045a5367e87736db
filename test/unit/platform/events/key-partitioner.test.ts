import { Partitioners } from 'kafkajs';
import type { PartitionerArgs, PartitionMetadata } from 'kafkajs';

import { KeyPartitioner } from '../../../../services/platform/src/events/key-partitioner';

const metadata = (n: number, leaderless: number[] = []): PartitionMetadata[] =>
  Array.from({ length: n }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: leaderless.includes(partitionId) ? -1 : 0,
    replicas: [0],
    isr: [0],
  }));

const args = (topic: string, n: number, message: PartitionerArgs['message'], leaderless?: number[]) => ({
  topic,
  partitionMetadata: metadata(n, leaderless),
  message,
});

describe("KeyPartitioner: kafkajs' default partitioner's choices", () => {
  it('puts every key on the partition kafkajs (and the Java client) would, remembered or not', () => {
    const ours = KeyPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const keys = [
      ...Array.from({ length: 3_000 }, (_, i) => `c-${i}`),
      'ünïcødé 💶',
      '',
      'system:transit:EUR',
      Buffer.from([0, 255, 7]),
      Buffer.alloc(0),
    ];
    for (const n of [1, 3, 6, 7, 12]) {
      // Twice: the second pass reads remembered hashes.
      for (let pass = 0; pass < 2; pass++) {
        for (const key of keys) {
          expect([n, key, ours(args('t', n, { key, value: null }))]).toEqual([
            n,
            key,
            theirs(args('t', n, { key, value: null })),
          ]);
        }
      }
    }
  });

  it('takes an explicit partition as given, even with a key', () => {
    const ours = KeyPartitioner();
    expect(ours(args('t', 6, { key: 'c-1', value: null, partition: 4 }))).toBe(4);
    expect(ours(args('t', 6, { key: null, value: null, partition: 0 }))).toBe(0);
  });

  it('spreads unkeyed records round-robin over the partitions that have a leader', () => {
    const ours = KeyPartitioner();
    const chosen = Array.from({ length: 8 }, () => ours(args('t', 6, { key: null, value: null }, [1, 4])));
    expect(new Set(chosen)).toEqual(new Set([0, 2, 3, 5]));
    const start = [0, 2, 3, 5].indexOf(chosen[0] as number);
    expect(chosen).toEqual(Array.from({ length: 8 }, (_, i) => [0, 2, 3, 5][(start + i) % 4]));
    // With no leader anywhere, still a partition of the topic.
    expect(ours(args('u', 3, { key: null, value: null }, [0, 1, 2]))).toBeLessThan(3);
  });
});
