import { randomUUID } from 'node:crypto';

import type { Kafka } from 'kafkajs';

import { HEADER } from '../../platform/src/events/event-headers';
import type { EventSchemas } from '../../platform/src/events/event-schemas';
import { evictExpired, PartitionState } from './partition-state';
import type { OutputBackedStore } from './processor';

/**
 * A store with a retention starts reading its topic at the offset of this long before what its retention needs by
 * this host's clock, so that a partition active within this time is not read whole.
 */
export const SEEK_SLACK_MS = 24 * 3_600_000;
/**
 * How far a record's timestamp may trail the time of the entry it carries. This release stamps each record with its
 * input's time (0); records written before that carry the writing host's clock, which may lag the input's producer.
 */
export const RECORD_TIME_SKEW_MS = 3_600_000;

/**
 * Rebuilds the in-memory state of the given input partitions from partition p of every store's changelog, and of
 * every output topic an output-backed store is rebuilt from.
 *
 * Must be called after the partitions' transactional producers were initialised: that fences any zombie writer
 * (its open transaction is aborted), so the changelog partition is complete and stable, and reading it with
 * `read_committed` up to its high watermark yields exactly the committed state.
 *
 * kafkajs has no manual partition assignment, so the restore uses a throw-away consumer group of its own (deleted
 * afterwards) and pauses the partitions it does not need.
 *
 * A store with a retention (StoreRetention) learns its clock from the entry times it reads and drops what is too old
 * as it goes, so it holds the same entries as a process that never stopped, or more. Its topic is not read from the
 * beginning but from the first record stamped at most its retention plus SEEK_SLACK_MS before this host's clock;
 * what that skipped can only have been too old if the records read show the partition active since — otherwise the
 * partition is read again from its beginning. The partition's newest records, and so its checkpoint, are always read.
 *
 * Each restored state also learns the input offset its last committed transaction ended at (the `input-offset`
 * header the runtime stamps on the last record each transaction writes to partition p of a changelog or of an output
 * topic that backs a store): unlike the group's committed offset, which a fetch may return stale for a moment after
 * a transaction completes (kafkajs cannot ask for stable offsets, KIP-447), what is read back after fencing is exact.
 */
export async function restorePartitions(options: {
  kafka: Kafka;
  schemas: EventSchemas;
  stores: readonly string[];
  /** Stores rebuilt from an output topic instead of a changelog (see ProcessorDefinition.outputBackedStores). */
  outputBackedStores?: readonly OutputBackedStore[];
  partitions: readonly number[];
  groupPrefix: string;
  /** Whether a store with a retention may start reading at a time instead of the beginning (default true). */
  seekByTime?: boolean;
}): Promise<Map<number, PartitionState>> {
  const { kafka, schemas, stores, partitions } = options;
  const backed = options.outputBackedStores ?? [];
  const allStores = [...stores, ...backed.map((b) => b.store)];
  const states = new Map<number, PartitionState>(partitions.map((p) => [p, new PartitionState(allStores)]));
  // A retention clock never passes this host's (see ProcessorRuntime): an entry stamped ahead does not age the others.
  const restoredAt = Date.now();
  if (partitions.length === 0 || allStores.length === 0) return states;

  const admin = kafka.admin();
  await admin.connect();
  // physical topic → partition → end offset still to reach
  const pending = new Map<string, Map<number, bigint>>();
  // physical topic → partition → offset to start at (by time), for the topics of stores with a retention
  const starts = new Map<string, Map<number, string>>();
  const seekFrom = (b: OutputBackedStore) => restoredAt - (b.retention?.keepMs ?? 0) - SEEK_SLACK_MS;
  // physical topic → how a record of it restores its store
  const sourceOf = new Map<string, { store: string; backed?: OutputBackedStore }>();
  for (const store of stores) sourceOf.set(schemas.physicalTopic(store), { store });
  for (const b of backed) sourceOf.set(schemas.physicalTopic(b.topic), { store: b.store, backed: b });
  try {
    for (const physical of sourceOf.keys()) {
      const offsets = await admin.fetchTopicOffsets(physical);
      const needed = new Map<number, bigint>();
      for (const o of offsets) {
        if (partitions.includes(o.partition) && BigInt(o.high) > BigInt(o.low)) needed.set(o.partition, BigInt(o.high));
      }
      if (needed.size > 0) pending.set(physical, needed);
      const b = sourceOf.get(physical)?.backed;
      if (needed.size === 0 || !b?.retention || options.seekByTime === false) continue;
      const low = new Map(offsets.map((o) => [o.partition, BigInt(o.low)]));
      const byTime = new Map<number, string>();
      for (const o of await admin.fetchTopicOffsetsByTimestamp(physical, seekFrom(b))) {
        const end = needed.get(o.partition);
        const start = BigInt(o.offset);
        // Nothing stamped that late (start at the end): the partition is read whole, and the check below is moot.
        if (end !== undefined && start > (low.get(o.partition) ?? 0n) && start < end) byTime.set(o.partition, o.offset);
      }
      if (byTime.size > 0) starts.set(physical, byTime);
    }
  } finally {
    await admin.disconnect();
  }
  if (pending.size === 0) return states;

  const groupId = `${options.groupPrefix}.restore.${randomUUID()}`;
  const consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  let resolveDone: () => void = () => undefined;
  let rejectDone: (err: unknown) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  // Completion is read from kafkajs' end-of-batch event, which also fires for batches it never hands to eachBatch:
  // those holding only aborted records or transaction markers — exactly how a changelog ends after a crash.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const needed = pending.get(payload.topic);
    const end = needed?.get(payload.partition);
    if (end === undefined || BigInt(payload.lastOffset) + 1n < end) return;
    needed?.delete(payload.partition);
    if (needed?.size === 0) pending.delete(payload.topic);
    if (pending.size === 0) resolveDone();
  });
  try {
    await consumer.subscribe({ topics: [...pending.keys()], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async (payload) => {
        const { batch } = payload;
        const pause = () => payload.pause();
        const needed = pending.get(batch.topic);
        const end = needed?.get(batch.partition);
        if (end === undefined) {
          pause();
          return;
        }
        const state = states.get(batch.partition);
        const source = sourceOf.get(batch.topic);
        if (!state || !source) return;
        try {
          state.restoredRecords += batch.messages.length;
          for (const m of batch.messages) {
            const value =
              m.value === null ? null : (schemas.decodeKnown(m.value) ?? (await schemas.decode(m.value))).value;
            if (source.backed) {
              const entry = value === null ? undefined : source.backed.restore(value);
              if (entry) {
                state.restore(source.store, entry.key, entry.value);
                const retention = source.backed.retention;
                if (retention) state.advanceClock(Math.min(retention.timeOf(entry.value), restoredAt));
              }
            } else {
              const key = m.key?.toString('utf8');
              if (key !== undefined) state.restore(source.store, key, value);
            }
            const checkpoint = m.headers?.[HEADER.inputOffset]?.toString();
            if (checkpoint && /^\d+$/.test(checkpoint)) state.restoreInputOffset(BigInt(checkpoint));
          }
          // Batch by batch, so a store with a retention never holds more than its window (plus one batch) in memory.
          if (source.backed) evictExpired(state, source.backed);
        } catch (err) {
          rejectDone(err);
          return;
        }
        if (BigInt(batch.lastOffset()) + 1n >= end) pause();
      },
    });
    // Applied by the next fetch (as the gateway's reply consumer does). Records fetched before it are restored too:
    // reading more than needed is only slower.
    for (const [topic, byTime] of starts) {
      for (const [partition, offset] of byTime) consumer.seek({ topic, partition, offset });
    }
    await done;
  } finally {
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteGroups([groupId]).catch(() => undefined);
    await cleanup.disconnect();
  }
  // A partition read from a time is right only if what it skipped is too old for the retention by the clock the read
  // found: the records skipped are stamped before the seek time, their entries at most RECORD_TIME_SKEW_MS later. A
  // partition that saw nothing that recent (idle for longer than the slack, or a backlog) is read again, whole.
  const whole = new Set<number>();
  for (const byTime of starts.values()) {
    for (const p of byTime.keys()) {
      const state = states.get(p);
      if (state && state.inputClock < restoredAt - SEEK_SLACK_MS + RECORD_TIME_SKEW_MS) whole.add(p);
    }
  }
  if (whole.size > 0) {
    const again = await restorePartitions({ ...options, partitions: [...whole], seekByTime: false });
    for (const [p, state] of again) states.set(p, state);
  }
  return states;
}
