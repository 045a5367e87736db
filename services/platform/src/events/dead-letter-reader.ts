import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Admin, IHeaders, Kafka } from 'kafkajs';

import { PaystreamError, toPaystreamError } from '../errors';
import { dlqTopic } from './dead-letter';
import { DLQ_HEADER, headerString } from './event-headers';
import type { EventSchemas } from './event-schemas';
import { highWatermarks } from './kafkajs-high-watermarks';

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
  /** Whether `paystream dlq redrive` has written it back to its topic. */
  redriven: boolean;
}

export interface DeadLetters {
  /** The physical dead-letter topic read. */
  topic: string;
  /** How many dead letters it holds (up to where each partition's committed records ended when the read began). */
  total: number;
  /** How many of them have been redriven. */
  redriven: number;
  /** The last `keep` of them by timestamp, oldest first. */
  records: DeadLetterRecord[];
  /**
   * Partitions not read to the end they had when the read began, within the time allowed: a broker too slow or
   * unavailable (that end is the last stable offset, so no open transaction holds the read back). Their records read
   * so far are in `records`.
   */
  unfinished: number[];
  /**
   * Partitions holding records past their committed end when the read began (`from`, the last stable offset, up to
   * `to`, the high watermark): a transaction still open there — a processor that died in it keeps it open until
   * another takes its partition over or the broker times it out — or letters written as the read began. Not read:
   * its letters, and those after it, are listed once it ends (or dropped, when it aborts).
   */
  pending: PastCommittedEnd[];
}

/** A partition's records past its committed end: offsets `from` (its last stable offset) up to `to` (exclusive). */
export interface PastCommittedEnd {
  partition: number;
  from: bigint;
  to: bigint;
}

/**
 * The consumer group whose committed offsets on a dead-letter topic mark how far its letters were redriven (see
 * `redriveDeadLetters`): a letter below a partition's committed offset has been written back to its topic.
 */
export function redriveGroup(dlq: string): string {
  return `paystream.dlq-redrive.${dlq}`;
}

/** Where a dead-letter topic's letters stand as a read or a redrive begins. */
export interface DeadLetterPositions {
  /**
   * Each partition's last stable offset, for those holding any committed letter: kafkajs' admin lists offsets
   * read_committed, so a transaction still open, and whatever was written after it, lies beyond.
   */
  ends: Map<number, bigint>;
  /** Each partition's first offset still held. */
  lows: Map<number, bigint>;
  /** The offset the redrive group has committed, per partition (absent where nothing was redriven). */
  redriven: Map<number, bigint>;
  /** The partitions whose records run on past their committed end: see `DeadLetters.pending`. */
  pending: PastCommittedEnd[];
}

/**
 * Where `dlq`'s letters stand (see {@link DeadLetterPositions}). The high watermarks are read before the last stable
 * offsets: a transaction that commits between the two reads then counts as committed (its letters lie below the end
 * read second, and are read), never as pending. Read the other way round, its letters were reported as an open
 * transaction's although they were committed, and left out of the read.
 */
export async function deadLetterPositions(kafka: Kafka, admin: Admin, dlq: string): Promise<DeadLetterPositions> {
  const highs = await highWatermarks(kafka, dlq);
  try {
    const offsets = await admin.fetchTopicOffsets(dlq);
    const committed = await admin.fetchOffsets({ groupId: redriveGroup(dlq), topics: [dlq] });
    const ends = new Map(
      offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)] as const),
    );
    const lows = new Map(offsets.map((o) => [o.partition, BigInt(o.low)] as const));
    return {
      ends,
      lows,
      redriven: new Map(
        (committed[0]?.partitions ?? [])
          .filter((p) => /^\d+$/.test(p.offset))
          .map((p) => [p.partition, BigInt(p.offset)] as const),
      ),
      pending: pastCommittedEnds(highs, { ends, lows }),
    };
  } catch (err) {
    throw toPaystreamError(err);
  }
}

/**
 * The partitions whose records run on past where their committed ones end: from that end (`positions.ends`, or the
 * first offset held where none is committed) up to the high watermark in `highs`, read before `positions`. A
 * partition whose end read second lies at or beyond its high watermark has nothing pending. Sorted by partition.
 */
export function pastCommittedEnds(
  highs: ReadonlyMap<number, bigint>,
  positions: { ends: ReadonlyMap<number, bigint>; lows: ReadonlyMap<number, bigint> },
): PastCommittedEnd[] {
  return [...highs]
    .map(([partition, to]) => ({
      partition,
      from: positions.ends.get(partition) ?? positions.lows.get(partition) ?? to,
      to,
    }))
    .filter((p) => p.to > p.from)
    .sort((a, b) => a.partition - b.partition);
}

/**
 * Reads a topic's dead letters, `<physical topic>.dlq`, from the beginning to where each partition's committed records
 * ended when the read began (its last stable offset: a transaction still open there, and what follows it, is left for
 * a later read rather than waited for). Read-only: the consumer group it joins has a name of its own, commits nothing and is deleted afterwards, so
 * reading changes nothing for anyone. read_committed, like every consumer of the platform: a dead letter written in a
 * processor's transaction that aborted is not one. Each letter says whether `paystream dlq redrive` has written it
 * back to its topic.
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
  try {
    const { ends, redriven, pending } = await deadLetterPositions(kafka, admin, dlq);
    if (ends.size === 0) return { topic: dlq, total: 0, redriven: 0, records: [], unfinished: [], pending };
    // Memory stays bounded however many there are: per partition only the last `keep` (the newest overall are among
    // them), decoded once the read is over.
    const kept = new Map<number, RawRecord[]>();
    let total = 0;
    let redrivenCount = 0;
    const unfinished = await scanCommitted(kafka, admin, dlq, { ends }, options, (partition, records) => {
      const last = kept.get(partition) ?? [];
      kept.set(partition, last);
      const mark = redriven.get(partition) ?? 0n;
      for (const r of records) {
        total++;
        if (BigInt(r.offset) < mark) redrivenCount++;
        last.push(r);
        // Trimmed in halves rather than one at a time: a shift per record would copy `keep` entries each.
        if (last.length >= 2 * options.keep) last.splice(0, last.length - options.keep);
      }
      return true;
    });
    const newest = [...kept.values()]
      .flatMap((letters) => letters.slice(-options.keep))
      .sort((a, b) => Number(a.timestamp) - Number(b.timestamp) || a.partition - b.partition)
      .slice(-options.keep);
    const records: DeadLetterRecord[] = [];
    for (const m of newest)
      records.push(await deadLetterOf(schemas, m, BigInt(m.offset) < (redriven.get(m.partition) ?? 0n)));
    return { topic: dlq, total, redriven: redrivenCount, records, unfinished, pending };
  } finally {
    await admin.disconnect();
  }
}

/** A record as read, before anything is made of it. */
export interface RawRecord {
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

/**
 * Reads `topic` read_committed from `starts` (each partition's beginning where absent) up to `ends` (exclusive; only
 * the partitions named there), handing each fetched batch's records in that range to `onRecords` — one call at a
 * time, in offset order per partition, never a record twice. `onRecords` returning false ends the read. A consumer
 * group of its own, which commits nothing and is deleted afterwards (through the caller's `admin`). Resolves with the partitions not read to their
 * end within `timeoutMs` (30 s): a transaction still open there (read_committed stops before it) or a broker too slow.
 * An error thrown by `onRecords` ends the read and is thrown once the consumer is closed.
 */
export async function scanCommitted(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  range: { starts?: ReadonlyMap<number, bigint>; ends: ReadonlyMap<number, bigint> },
  options: { clientId: string; timeoutMs?: number },
  onRecords: (partition: number, records: RawRecord[]) => boolean | Promise<boolean>,
): Promise<number[]> {
  const { ends } = range;
  const next = new Map([...ends.keys()].map((p) => [p, range.starts?.get(p) ?? 0n] as const));
  const open = new Set([...ends.keys()].filter((p) => (next.get(p) ?? 0n) < (ends.get(p) ?? 0n)));
  if (open.size === 0) return [];
  let failure: { error: unknown } | undefined;
  let stopped = false;
  let inFlight: Promise<unknown> = Promise.resolve();
  const groupId = `${options.clientId}-dlq-reader-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100 });
  // Batches of transaction markers only are never handed to eachBatch; this event still tells where they end.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const end = ends.get(payload.partition);
    if (payload.topic === topic && end !== undefined && BigInt(payload.lastOffset) + 1n >= end)
      open.delete(payload.partition);
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (stopped) return;
        const end = ends.get(batch.partition);
        const from = next.get(batch.partition);
        if (end === undefined || from === undefined) return;
        const records: RawRecord[] = [];
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          if (offset >= end) break;
          if (offset < from) continue;
          // Fields one by one: the record decoder gives some of them as getters, which a spread would drop.
          records.push({
            partition: batch.partition,
            offset: m.offset,
            timestamp: m.timestamp,
            key: m.key,
            value: m.value,
            headers: m.headers,
          });
        }
        if (records.length === 0) return;
        const handled = (async () => onRecords(batch.partition, records))();
        inFlight = handled.catch(() => undefined);
        try {
          const more = await handled;
          next.set(batch.partition, BigInt(records[records.length - 1]!.offset) + 1n);
          if (!more) stopped = true;
        } catch (err) {
          failure = { error: err };
          stopped = true;
        }
      },
    });
    // Applied by the next fetch; records fetched before it from lower offsets are skipped above.
    for (const [partition, offset] of next)
      if (offset > 0n) consumer.seek({ topic, partition, offset: String(offset) });
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (open.size > 0 && !stopped && Date.now() < deadline) await sleep(100);
    stopped = true;
    await inFlight;
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  if (failure) throw failure.error;
  return [...open].sort((a, b) => a - b);
}

async function deadLetterOf(schemas: EventSchemas, m: RawRecord, redriven: boolean): Promise<DeadLetterRecord> {
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
    redriven,
  };
}
