import { randomUUID } from 'node:crypto';

import type { IHeaders, Kafka } from 'kafkajs';

import { PaystreamError, toPaystreamError } from '../errors';
import { dlqTopic } from './dead-letter';
import { DLQ_HEADER, headerString } from './event-headers';
import type { EventSchemas } from './event-schemas';

/** One dead letter as an operator reads it: why, from where, and the record itself (decoded when it can be). */
export interface DeadLetterRecord {
  partition: number;
  offset: string;
  timestamp: Date;
  errorCode: string | null;
  errorMessage: string | null;
  source: { topic: string; partition: number; offset: string } | null;
  key: string | null;
  value: { decoded: unknown } | { undecodable: string; bytes: number } | null;
}

export interface DeadLetters {
  /** The physical dead-letter topic read. */
  topic: string;
  /** How many dead letters it holds (up to where each partition ended when the read began). */
  total: number;
  /** The last `keep` of them by timestamp, oldest first. */
  records: DeadLetterRecord[];
  /**
   * Partitions not read to the end they had when the read began, within the time allowed: a transaction still open
   * there (read_committed stops before it) or a broker too slow. Their records read so far are in `records`.
   */
  unfinished: number[];
}

/**
 * Reads a topic's dead letters, `<physical topic>.dlq`, from the beginning to the end each partition had when the read
 * began. Read-only: the consumer group it joins has a name of its own, commits nothing and is deleted afterwards, so
 * reading changes nothing for anyone. read_committed, like every consumer of the platform: a dead letter written in a
 * processor's transaction that aborted is not one.
 */
export async function readDeadLetters(
  kafka: Kafka,
  schemas: EventSchemas,
  topic: string,
  options: { clientId: string; keep: number; timeoutMs?: number },
): Promise<DeadLetters> {
  const spec = schemas.catalogue.topic(topic);
  if (!spec.dlq) throw new PaystreamError('VALIDATION_FAILED', `topic ${topic} has no dead-letter topic`);
  const dlq = dlqTopic(schemas.physicalTopic(topic));
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(dlq);
    ends = new Map(
      offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)] as const),
    );
  } catch (err) {
    await admin.disconnect();
    throw toPaystreamError(err);
  }
  if (ends.size === 0) {
    await admin.disconnect();
    return { topic: dlq, total: 0, records: [], unfinished: [] };
  }
  // Memory stays bounded however many there are: per partition only the last `keep` (the newest overall are among
  // them), decoded once the read is over.
  const kept = new Map<number, RawLetter[]>();
  let total = 0;
  const groupId = `${options.clientId}-dlq-reader-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100 });
  const open = new Set(ends.keys());
  // Batches of transaction markers only are never handed to eachBatch; this event still tells where they end.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const end = ends.get(payload.partition);
    if (end !== undefined && BigInt(payload.lastOffset) + 1n >= end) open.delete(payload.partition);
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: dlq, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        const end = ends.get(batch.partition) ?? 0n;
        const last = kept.get(batch.partition) ?? [];
        kept.set(batch.partition, last);
        for (const m of batch.messages) {
          if (BigInt(m.offset) >= end) break;
          total++;
          // Fields one by one: the record decoder gives some of them as getters, which a spread would drop.
          last.push({
            partition: batch.partition,
            offset: m.offset,
            timestamp: m.timestamp,
            key: m.key,
            value: m.value,
            headers: m.headers,
          });
          // Trimmed in halves rather than one at a time: a shift per record would copy `keep` entries each.
          if (last.length >= 2 * options.keep) last.splice(0, last.length - options.keep);
        }
        return Promise.resolve();
      },
    });
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (open.size > 0 && Date.now() < deadline) await sleep(100);
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
  const newest = [...kept.values()]
    .flatMap((letters) => letters.slice(-options.keep))
    .sort((a, b) => Number(a.timestamp) - Number(b.timestamp) || a.partition - b.partition)
    .slice(-options.keep);
  const records: DeadLetterRecord[] = [];
  for (const m of newest) records.push(await deadLetterOf(schemas, m));
  return { topic: dlq, total, records, unfinished: [...open].sort((a, b) => a - b) };
}

interface RawLetter {
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

async function deadLetterOf(schemas: EventSchemas, m: RawLetter): Promise<DeadLetterRecord> {
  const header = (name: string) => headerString(m.headers, name) ?? null;
  const sourceTopic = header(DLQ_HEADER.sourceTopic);
  const sourcePartition = header(DLQ_HEADER.sourcePartition);
  const sourceOffset = header(DLQ_HEADER.sourceOffset);
  let value: DeadLetterRecord['value'] = null;
  if (m.value !== null) {
    try {
      value = { decoded: (await schemas.decode(m.value)).value };
    } catch (err) {
      const e = toPaystreamError(err);
      // The registry being unreachable is not the record's fault: the listing fails rather than call it undecodable.
      if (e.retryable) throw e;
      value = { undecodable: e.message, bytes: m.value.length };
    }
  }
  return {
    partition: m.partition,
    offset: m.offset,
    timestamp: new Date(Number(m.timestamp)),
    errorCode: header(DLQ_HEADER.errorCode),
    errorMessage: header(DLQ_HEADER.errorMessage),
    source:
      sourceTopic !== null && sourcePartition !== null && sourceOffset !== null
        ? { topic: sourceTopic, partition: Number(sourcePartition), offset: sourceOffset }
        : null,
    key: m.key?.toString('utf8') ?? null,
    value,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
