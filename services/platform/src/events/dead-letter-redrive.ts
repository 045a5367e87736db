import type { IHeaders, Kafka, Message, Producer, Transaction } from 'kafkajs';

import { PaystreamError, toPaystreamError } from '../errors';
import { dlqTopic } from './dead-letter';
import {
  deadLetterPositions,
  type PastCommittedEnd,
  type RawRecord,
  redriveGroup,
  scanCommitted,
} from './dead-letter-reader';
import { DLQ_HEADER, HEADER, headerString } from './event-headers';
import type { EventSchemas } from './event-schemas';
import { sendOffsetsWhenFree } from './transaction-offsets';

/** What one run of `redriveDeadLetters` did (or, dry, would do), per dead-letter partition. */
export interface Redrive {
  /** The dead-letter topic read. */
  topic: string;
  /** The topic its letters were written back to. */
  target: string;
  dryRun: boolean;
  /** Per dead-letter partition with letters taken: their first and last offset and how many. */
  partitions: { partition: number; first: string; last: string; count: number }[];
  total: number;
  /** Whether letters remain past `limit` (run it again for them). */
  more: boolean;
  /** Partitions not read to their end within the time allowed; what was read of them is redriven. */
  unfinished: number[];
  /**
   * Partitions whose records ran on past their committed end when the run began: a transaction still open on the
   * dead-letter topic, whose letters (and those after it) a later run takes once it ends. See `DeadLetters.pending`.
   */
  pending: PastCommittedEnd[];
}

/** Headers that describe a letter's dead-lettering (or its first life's transaction), not the record. */
const DROPPED_HEADERS = new Set<string>([
  DLQ_HEADER.errorCode,
  DLQ_HEADER.errorMessage,
  DLQ_HEADER.sourceTopic,
  DLQ_HEADER.sourcePartition,
  DLQ_HEADER.sourceOffset,
  DLQ_HEADER.redrivenFrom,
  HEADER.inputOffset,
]);

/**
 * The record a dead letter was, to write back to `target`: its key, value and own headers byte for byte (so its
 * `event-id` lets every consumer that did take it the first time recognise it), without the dead-lettering headers,
 * with `dlq-redriven-from` naming the letter. It goes to the partition it was read from, so it joins the records of
 * its key (where the partition is unknown or gone, the key chooses).
 */
export function redrivenRecord(dlq: string, letter: RawRecord, target: string, targetPartitions: number): Message {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(letter.headers ?? {}))
    if (!DROPPED_HEADERS.has(name) && value !== undefined) headers[name] = value;
  headers[DLQ_HEADER.redrivenFrom] = `${dlq}/${letter.partition}/${letter.offset}`;
  const sourceTopic = headerString(letter.headers, DLQ_HEADER.sourceTopic);
  const sourcePartition = headerString(letter.headers, DLQ_HEADER.sourcePartition);
  const partition =
    sourceTopic === target && sourcePartition !== undefined && /^\d+$/.test(sourcePartition)
      ? Number(sourcePartition)
      : undefined;
  return {
    key: letter.key,
    value: letter.value,
    headers,
    ...(partition !== undefined && partition < targetPartitions ? { partition } : {}),
  };
}

/** Errors that say a newer producer of the same transactional id (another run) has fenced this one. */
const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);

/** Why a run stopped, with what it had redriven by then (which stays redriven). */
function stopped(err: unknown, dlq: string, redriven: number): PaystreamError {
  const e = toPaystreamError(err);
  const done = `${redriven} letter${redriven === 1 ? ' was' : 's were'} redriven before it`;
  if (FENCED.has(String(e.details.kafkaError)))
    return new PaystreamError('CONFLICT', `another dlq redrive of ${dlq} started and took over; ${done}`, {
      cause: err,
    });
  return new PaystreamError(e.code, `${e.message}; ${done}, the rest stay for the next run`, {
    retryable: e.retryable,
    cause: err,
    details: e.details,
  });
}

/**
 * Writes a topic's dead letters back to the topic (`paystream dlq redrive`), once the reason they were set aside is
 * fixed; what still cannot be processed is dead-lettered again, as a new letter.
 *
 * - **Each letter once.** Letters are taken from where the last redrive ended (the committed offsets of the group
 *   `paystream.dlq-redrive.<dlq>`) up to where each partition ended when this one began — so a letter that comes back
 *   during the run waits for the next — and written in one Kafka transaction per fetched batch together with that
 *   group's new offset: a crash leaves a batch either written and marked, or neither. Each run's producer fences any
 *   earlier run of the same topic still going (one transactional id per dead-letter topic) before reading the offsets.
 *   One gap remains: right after a transaction completes, Kafka may still answer its offsets' previous value for a
 *   moment (kafkajs cannot ask for stable offsets, KIP-447), so a run started within that moment of an earlier run's
 *   last commit could write that batch again — a re-delivery, which consumers deduplicate (below).
 * - **Consumers see a re-delivery.** A record written back reaches every consumer of the topic, including those that
 *   had taken it; they deduplicate it as they do any re-delivery (the sink by row key, the ledger by command id
 *   within its dedup window).
 * - **Never into state.** A compacted topic is refused: its latest record per key is the state its readers restore
 *   (`ledger.balances` is the ledger's changelog), and an old record written back would replace newer state. Its
 *   consumer is replayed instead (`paystream replay`).
 * - `dryRun` reads and counts, writing and committing nothing; `limit` bounds how many letters one run takes.
 * - `partition` takes the letters of that dead-letter partition only, and `through` only those up to that offset (in
 *   `partition`, which may be left out when the dead-letter topic has one, as the platform creates them): a prefix of
 *   the letters not yet redriven, which keeps "each letter once" (the group's offset marks how far each partition was
 *   redriven, so letters are redriven in order; one cannot be skipped and a later one taken).
 */
export async function redriveDeadLetters(
  kafka: Kafka,
  schemas: EventSchemas,
  topic: string,
  options: {
    clientId: string;
    limit?: number;
    dryRun?: boolean;
    timeoutMs?: number;
    partition?: number;
    through?: bigint;
  },
): Promise<Redrive> {
  const spec = schemas.catalogue.topic(topic);
  if (!spec.dlq) throw new PaystreamError('VALIDATION_FAILED', `topic ${topic} has no dead-letter topic`);
  if (spec.cleanupPolicy === 'compact')
    throw new PaystreamError(
      'VALIDATION_FAILED',
      `topic ${topic} is compacted: its latest record per key is state its readers restore, and a dead letter written ` +
        'back would replace newer state; replay the consumer that set it aside instead (paystream replay)',
    );
  const target = schemas.physicalTopic(topic);
  const dlq = dlqTopic(target);
  const group = redriveGroup(dlq);
  const dryRun = options.dryRun ?? false;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const outcome: Redrive = {
    topic: dlq,
    target,
    dryRun,
    partitions: [],
    total: 0,
    more: false,
    unfinished: [],
    pending: [],
  };

  let producer: Producer | undefined;
  const admin = kafka.admin();
  try {
    if (!dryRun) {
      producer = kafka.producer({
        transactionalId: group,
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
      });
      await producer.connect();
      // kafkajs initialises the transactional producer id with the first transaction (connecting does not): that
      // fences an earlier run and ends its open transaction. Only then are the group's offsets read, so no earlier
      // run can move them under this one.
      await (await producer.transaction()).abort();
    }
    await admin.connect();
    const positions = await deadLetterPositions(kafka, admin, dlq);
    const { lows, redriven } = positions;
    const through = options.through;
    // Dead-letter topics are created with one partition (see `planTopics`): an offset names a letter there alone.
    const only = options.partition ?? (through !== undefined && lows.size === 1 ? [...lows.keys()][0] : undefined);
    if (through !== undefined && only === undefined)
      throw new PaystreamError(
        'VALIDATION_FAILED',
        `${dlq} has ${lows.size} partitions: an offset to redrive through needs the partition it is in`,
      );
    if (only !== undefined && !lows.has(only))
      throw new PaystreamError(
        'VALIDATION_FAILED',
        `partition ${only}: ${dlq} has ${lows.size === 1 ? 'only partition 0' : `partitions 0 to ${lows.size - 1}`}`,
      );
    const ends =
      only === undefined
        ? positions.ends
        : new Map(
            [...positions.ends]
              .filter(([p]) => p === only)
              .map(([p, end]) => [p, through !== undefined && through + 1n < end ? through + 1n : end] as const),
          );
    outcome.pending = positions.pending.filter(
      (p) => only === undefined || (p.partition === only && (through === undefined || through >= p.from)),
    );
    const targetPartitions = (await admin.fetchTopicMetadata({ topics: [target] })).topics[0]?.partitions.length ?? 0;
    const starts = new Map(
      [...ends.keys()].map((p) => {
        const low = lows.get(p) ?? 0n;
        const mark = redriven.get(p) ?? 0n;
        return [p, mark > low ? mark : low] as const;
      }),
    );
    outcome.unfinished = await scanCommitted(
      kafka,
      admin,
      dlq,
      { starts, ends },
      { clientId: options.clientId, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) },
      async (partition, records) => {
        const taken = records.slice(0, Math.max(0, limit - outcome.total));
        if (taken.length < records.length) outcome.more = true;
        if (taken.length === 0) return false;
        const last = taken[taken.length - 1]!;
        if (producer) {
          let transaction: Transaction | undefined;
          try {
            transaction = await producer.transaction();
            const open = transaction;
            await open.send({
              topic: target,
              acks: -1,
              messages: taken.map((r) => redrivenRecord(dlq, r, target, targetPartitions)),
            });
            await sendOffsetsWhenFree(
              () =>
                open.sendOffsets({
                  consumerGroupId: group,
                  topics: [{ topic: dlq, partitions: [{ partition, offset: (BigInt(last.offset) + 1n).toString() }] }],
                }),
              Math.random,
            );
            await open.commit();
          } catch (err) {
            await transaction?.abort().catch(() => undefined);
            throw stopped(err, dlq, outcome.total);
          }
        }
        outcome.total += taken.length;
        const seen = outcome.partitions.find((p) => p.partition === partition);
        if (seen) {
          seen.last = last.offset;
          seen.count += taken.length;
        } else outcome.partitions.push({ partition, first: taken[0]!.offset, last: last.offset, count: taken.length });
        return !outcome.more && outcome.total < limit;
      },
    );
    // Reaching the limit ends the read: partitions not read to their end then still hold letters for the next run.
    if (outcome.total >= limit && outcome.unfinished.length > 0) {
      outcome.more = true;
      outcome.unfinished = [];
    }
  } finally {
    await producer?.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  outcome.partitions.sort((a, b) => a.partition - b.partition);
  return outcome;
}
