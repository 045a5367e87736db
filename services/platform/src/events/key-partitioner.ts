import type { ICustomPartitioner, PartitionerArgs } from 'kafkajs';

/* eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs' murmur2, the Java client's hash */
const murmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: Buffer | string) => number;

/** Most string keys whose hash is remembered; past it, the memo starts over. */
const MEMO_LIMIT = 100_000;

const toPositive = (x: number) => x & 0x7fffffff;

/**
 * Kafka's default partitioner, as kafkajs' `Partitioners.DefaultPartitioner` (and the Java client before KIP-480)
 * choose: an explicit partition wins; a keyed record goes to `toPositive(murmur2(key)) % partitions`, so a key always
 * lands on the partition the Java client and Kafka's own tools would pick; an unkeyed record goes round-robin over the
 * partitions that have a leader, from a random start per topic.
 *
 * The same choices, cheaper: kafkajs filtered the partition list for every record (explicit partitions included) and
 * computed murmur2 in 64-bit `Long` arithmetic for every keyed record; here the hash of a string key is remembered, and
 * a record with its own partition costs nothing. Checked against kafkajs' own in
 * `test/unit/platform/events/key-partitioner.test.ts`.
 */
export const KeyPartitioner: ICustomPartitioner = () => {
  const hashes = new Map<string, number>();
  const counters = new Map<string, number>();
  const hashOf = (key: Buffer | string): number => {
    if (typeof key !== 'string') return murmur2(key);
    let h = hashes.get(key);
    if (h === undefined) {
      if (hashes.size >= MEMO_LIMIT) hashes.clear();
      h = murmur2(key);
      hashes.set(key, h);
    }
    return h;
  };
  return ({ topic, partitionMetadata, message }: PartitionerArgs): number => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    const key = message.key;
    if (key !== null && key !== undefined) return toPositive(hashOf(key)) % partitionMetadata.length;
    const counter = (counters.get(topic) ?? Math.floor(Math.random() * 2 ** 32)) + 1;
    counters.set(topic, counter);
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    if (available.length > 0)
      return (available[toPositive(counter) % available.length] as { partitionId: number }).partitionId;
    return toPositive(counter) % partitionMetadata.length;
  };
};
