import type { Kafka } from 'kafkajs';

import { PaystreamError, toPaystreamError } from '../errors';

/** kafkajs 2.2.4's Cluster, as far as this module uses it. */
interface UncommittedCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  findTopicPartitionMetadata(topic: string): { partitionId: number }[];
  fetchTopicsOffset(
    topics: { topic: string; fromBeginning: boolean; partitions: { partition: number }[] }[],
  ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

/** kafkajs' `isolation_level` 0, read_uncommitted: ListOffsets then answers the high watermark. */
const READ_UNCOMMITTED = 0;

/**
 * Each partition's high watermark: where its records end, transactions still open included. kafkajs' admin lists
 * offsets read_committed only (the last stable offset, which stops before an open transaction), so this asks the
 * brokers through a Cluster of kafkajs' own, read_uncommitted, made by the Kafka client's private factory (the one
 * its admin, producers and consumers use; `kafka-client` pins kafkajs 2.2.4). Read-only: one metadata and one
 * ListOffsets request per leader, on connections of its own that are closed before it returns.
 */
export async function highWatermarks(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const factory = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  const create = factory === undefined ? undefined : (kafka as unknown as Record<symbol, unknown>)[factory];
  if (typeof create !== 'function')
    throw new PaystreamError('INTERNAL', 'kafkajs has no private cluster factory: not kafkajs 2.2.4?');
  const cluster = (create as (options: { isolationLevel: number }) => UncommittedCluster).call(kafka, {
    isolationLevel: READ_UNCOMMITTED,
  });
  try {
    await cluster.connect();
    await cluster.addTargetTopic(topic);
    const partitions = cluster.findTopicPartitionMetadata(topic).map((p) => ({ partition: p.partitionId }));
    const [answer] = await cluster.fetchTopicsOffset([{ topic, fromBeginning: false, partitions }]);
    return new Map((answer?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)] as const));
  } catch (err) {
    throw toPaystreamError(err);
  } finally {
    await cluster.disconnect().catch(() => undefined);
  }
}
