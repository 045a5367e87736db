import { setTimeout as sleep } from 'node:timers/promises';

import type { Batch, Consumer, IHeaders, Kafka, Producer } from 'kafkajs';
import type { Registry } from 'prom-client';

import { PaystreamError, toPaystreamError } from '../../platform/src/errors';
import { deadLetterHeaders, dlqTopic } from '../../platform/src/events/dead-letter';
import { HEADER, readHeaders } from '../../platform/src/events/event-headers';
import type { EventSchemas } from '../../platform/src/events/event-schemas';
import type { Logger } from '../../platform/src/logger';
import { backoffMs } from '../../platform/src/retry-policy';
import type { BackoffPolicy } from '../../platform/src/retry-policy';
import { restorePartitions } from './changelog-restore';
import { evictExpired } from './partition-state';
import type { PartitionState } from './partition-state';
import type { InputEvent, Output, OutputBackedStore, ProcessorDefinition, StateChange } from './processor';
import { runtimeMetrics } from './runtime-metrics';
import type { RuntimeMetrics } from './runtime-metrics';
import { produceRequests } from '../../platform/src/events/produce-slices';
import { sendOffsetsWhenFree } from '../../platform/src/events/transaction-offsets';

export interface ProcessorRuntimeOptions<E> {
  kafka: Kafka;
  schemas: EventSchemas;
  logger: Logger;
  metrics: Registry;
  definition: ProcessorDefinition<E>;
  /** Consumer group; also the prefix of every transactional id. Default `<topic prefix>paystream.<name>`. */
  groupId?: string;
  /** Most input records in one transaction (default 1000). */
  maxBatchMessages?: number;
  /**
   * Longest a fetch waits for `minBytes` (default 250 ms). With the default minimum of one byte the broker answers as
   * soon as a record is committed, so the wait only sets how often an idle consumer asks again; it must stay well
   * under the session timeout, since kafkajs heartbeats between fetches.
   */
  maxWaitMs?: number;
  /**
   * Bytes a fetch waits for, up to `maxWaitMs` (default 1: records are processed as soon as they are committed).
   * Every batch of a partition is one Kafka transaction, so a larger value trades latency for fewer transactions:
   * each transaction costs the broker about seven requests whatever its size (README, "Processors and the ledger").
   */
  minBytes?: number;
  /** Group session timeout: how long a crashed process keeps its partitions (default 10 s, broker minimum 6 s). */
  sessionTimeoutMs?: number;
  /** Attempts for a batch that fails with a retryable error before the partition is re-initialised (default 5). */
  maxAttempts?: number;
  /** Backoff between those attempts, with full jitter (default 100 ms doubling up to 5 s). */
  retryBackoff?: BackoffPolicy;
  random?: () => number;
  /**
   * Told each transaction's outputs (in the order they were produced) once the transaction has committed, for
   * observability such as business counters. Guarantee: outputs of aborted transactions are never told, and a
   * committed transaction is told at most once. One whose commit's outcome was unknown is told when the partition's
   * re-initialisation finds its input committed — not at all if the group rebalanced meanwhile (then whether it or a
   * later owner committed that input cannot be told apart). It runs on the partition's path: it must be quick, and
   * what it throws is logged and otherwise ignored.
   */
  committed?: (outputs: readonly Output[]) => void;
}

interface PartitionTask {
  partition: number;
  generation: number;
  producer: Producer;
  state: PartitionState;
  /** Offset of the next input record to process; null until the first batch when the group has no commit yet. */
  nextOffset: bigint | null;
  /** Transactions that failed in a row starting at `nextOffset` (retryable failures; 0 after a commit). */
  failedAttempts: number;
  /**
   * The outputs of a transaction whose commit's outcome is unknown, and the input offset it would have committed: the
   * re-initialisation's committed offset tells whether it did, and the `committed` listener hears of it if so.
   */
  unsettled?: Unsettled;
}

interface Unsettled {
  generation: number;
  next: bigint;
  outputs: readonly Output[];
}

/** A preparation of partitions, and where it stands; `done` settles with it and never rejects. */
interface Preparation {
  state: 'pending' | 'ready' | 'failed';
  done: Promise<void>;
}

function tracked(work: Promise<void>): Preparation {
  const preparation: Preparation = { state: 'pending', done: Promise.resolve() };
  preparation.done = work.then(
    () => {
      preparation.state = 'ready';
    },
    () => {
      preparation.state = 'failed';
    },
  );
  return preparation;
}

/** What became of one attempt at a chunk (see `processChunk`). */
type ChunkOutcome = 'ok' | 'fenced' | 'failed' | { retryAfterMs: number };

interface Staged {
  topic: string;
  partition?: number;
  key: string;
  value: Buffer | null;
  headers: IHeaders;
  /** The timestamp of the input record it came from (event time travels with the records the runtime writes). */
  timestamp: string;
}

/**
 * Runs a {@link ProcessorDefinition} with exactly-once effects on Kafka.
 *
 * What it guarantees:
 * - **Exactly-once effects per input record.** For each batch of an input partition, the outputs, the state changes
 *   (appended to the store changelogs, partition = input partition; a key changed several times in one batch is
 *   written once, with its last value; an output-backed store's changes travel only in the output records it is
 *   rebuilt from, which go to the input's partition of their topic) and the input offset are written in one Kafka
 *   transaction; consumers use `read_committed`. A crash before the commit aborts everything and the batch is
 *   processed again from the same state; after the commit, it is never processed again.
 * - **Zombie fencing without KIP-447.** Each input partition has its own transactional id
 *   (`<group>.<topic>.<partition>`). When a partition is assigned, its producer is initialised first — which fences the
 *   previous owner and aborts its open transaction — then state is restored from the changelogs (and the topics that
 *   back stores) and the committed offset is read; processing starts exactly there (the runtime seeks if kafkajs
 *   fetched from a stale offset).
 * - **Per-partition order.** Records of one input partition are processed one at a time, in offset order, against
 *   the state of that partition only; partitions run concurrently.
 * - **Poison records never stop a partition.** An undecodable record, or one whose processing throws a
 *   non-retryable error, is written byte for byte to `<topic>.dlq` with error code, message, source topic, partition
 *   and offset headers — inside the same transaction, so it is dead-lettered exactly once — and processing moves on.
 * - **Bounded retries.** A retryable failure aborts the transaction, rolls the in-memory state back and retries the
 *   batch with jittered backoff; after `maxAttempts` the partition is re-initialised (fence, restore, seek).
 * - **A waiting partition holds up no other.** During its backoff, and while it is re-initialised, a partition is
 *   paused in the consumer; the process's other partitions are fetched and processed meanwhile.
 * - **Event time travels.** Every record the runtime writes (outputs, changelog records, dead letters) carries the
 *   timestamp of the input record it came from, so a follow-up keeps the time of what caused it, and a partition's
 *   record times do not jump to the wall clock when a backlog is processed late. Retention clocks rely on this.
 * - **Graceful stop.** `stop()` lets the batch in flight finish or abort, closes the producers and leaves the group.
 *
 * What it does not guarantee: effects outside Kafka (HTTP calls, database writes) are not part of the transaction;
 * processors must not have any (they are pure).
 */
export class ProcessorRuntime<E> {
  private readonly consumer: Consumer;
  private readonly metrics: RuntimeMetrics;
  private readonly groupId: string;
  private readonly physicalInput: string;
  private readonly tasks = new Map<number, PartitionTask>();
  private generation = 0;
  /** The latest preparation: a new assignment's, or one partition's re-initialisation chained after it. */
  private preparation: Preparation = tracked(Promise.resolve());
  private running = false;
  private assigned = false;
  private readonly log: Logger;
  /** Output-backed stores (no changelog records) and the output topics they are rebuilt from. */
  private readonly backedStores: ReadonlySet<string>;
  private readonly backingTopics: ReadonlySet<string>;
  /** Output-backed stores with a retention: what `applyRetention` and the entry gauge look at. */
  private readonly retainedStores: readonly OutputBackedStore[];

  constructor(private readonly options: ProcessorRuntimeOptions<E>) {
    const { kafka, schemas, definition } = options;
    this.backedStores = new Set((definition.outputBackedStores ?? []).map((b) => b.store));
    this.backingTopics = new Set((definition.outputBackedStores ?? []).map((b) => b.topic));
    this.retainedStores = (definition.outputBackedStores ?? []).filter((b) => b.retention);
    this.groupId = options.groupId ?? `${schemas.topicPrefix}paystream.${definition.name}`;
    this.physicalInput = schemas.physicalTopic(definition.inputTopic);
    this.metrics = runtimeMetrics(options.metrics);
    this.log = options.logger.child({ processor: definition.name });
    this.consumer = kafka.consumer({
      groupId: this.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      // A crashed member holds its partitions until the session times out, so keep it short; batches heartbeat.
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      rebalanceTimeout: 30_000,
      heartbeatInterval: Math.max(500, Math.floor((options.sessionTimeoutMs ?? 10_000) / 5)),
      maxWaitTimeInMs: options.maxWaitMs ?? 250,
      minBytes: options.minBytes ?? 1,
      maxBytesPerPartition: 4 * 1024 * 1024,
    });
  }

  /** True once the process owns partitions and their state is restored (or owns none after a completed join). */
  ready(): boolean {
    return this.running && this.assigned;
  }

  async start(): Promise<void> {
    const { definition } = this.options;
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      const partitions = event.payload.memberAssignment[this.physicalInput] ?? [];
      const generation = ++this.generation;
      this.assigned = false;
      this.preparation = tracked(
        this.prepare(generation, [...partitions]).catch((err: unknown) => {
          this.log.error('preparing partitions failed', { error: toPaystreamError(err) });
          throw err;
        }),
      );
    });
    await this.checkBackingTopics();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.physicalInput, fromBeginning: true });
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 64,
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.log.info('processor started', { groupId: this.groupId, input: this.physicalInput, stores: definition.stores });
  }

  /**
   * An output-backed store is written to, and restored from, partition p of its topic for input partition p: a topic
   * with fewer partitions than the input would lose state, so the runtime refuses to start (CONFIG_INVALID).
   */
  private async checkBackingTopics(): Promise<void> {
    const { kafka, schemas, definition } = this.options;
    const backing = [...this.backingTopics].map((t) => schemas.physicalTopic(t));
    if (backing.length === 0) return;
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [this.physicalInput, ...backing] });
      const count = (name: string) => topics.find((t) => t.name === name)?.partitions.length ?? 0;
      for (const topic of backing) {
        if (count(topic) < count(this.physicalInput))
          throw new PaystreamError(
            'CONFIG_INVALID',
            `${definition.name}: ${topic} backs a store of ${this.physicalInput} and needs at least its ` +
              `${count(this.physicalInput)} partitions; it has ${count(topic)}`,
          );
      }
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * New assignment (kafkajs rebalances eagerly: every join revokes everything): drop every task, then for each
   * assigned partition fence (initialise its transactional producer), restore state, and read the committed offset.
   */
  private async prepare(generation: number, partitions: number[]): Promise<void> {
    const started = process.hrtime.bigint();
    await this.dropAllTasks();
    if (!this.running) return;
    const { definition } = this.options;
    const init = await this.initPartitions(partitions);
    if (generation !== this.generation || !this.running) {
      await init.close();
      return;
    }
    for (const p of partitions) {
      const producer = init.producers.get(p);
      const state = init.states.get(p);
      if (!producer || !state) continue;
      this.tasks.set(p, {
        partition: p,
        generation,
        producer,
        state,
        nextOffset: this.startOffset(p, init.committed.get(p), state),
        failedAttempts: 0,
      });
    }
    this.assigned = true;
    for (const task of this.tasks.values()) this.reportStoreSizes(task);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics.restoreTime.observe({ processor: definition.name }, seconds);
    this.log.info('partitions ready', {
      generation,
      partitions,
      restoreSeconds: seconds,
      restoredRecords: [...init.states.values()].reduce((n, st) => n + st.restoredRecords, 0),
      stateSizes: Object.fromEntries(
        [...definition.stores, ...this.backedStores].map((s) => [
          s,
          [...init.states.values()].reduce((n, st) => n + st.size(s), 0),
        ]),
      ),
    });
  }

  /**
   * For each partition, in this order: initialise its transactional producer (the broker bumps the epoch for the
   * partition's transactional id, aborts the previous owner's open transaction and fences it from ever committing),
   * restore its state from the changelogs, and read the group's committed offset — which can no longer move.
   */
  private async initPartitions(partitions: number[]) {
    const { kafka, schemas, definition } = this.options;
    const producers = new Map<number, Producer>();
    const close = () => Promise.all([...producers.values()].map((pr) => pr.disconnect().catch(() => undefined)));
    try {
      for (const p of partitions) {
        const producer = kafka.producer({
          transactionalId: `${this.groupId}.${this.physicalInput}.${p}`,
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
          transactionTimeout: 60_000,
          // When a partition's next transaction starts right after the previous commit returned, the coordinator may
          // still be writing that commit's markers and answers CONCURRENT_TRANSACTIONS for a moment. kafkajs' default
          // first backoff (300 ms) turned that moment into a 200–300 ms stall; Kafka's Java producer retries this case
          // after 20 ms. Measured: API p50/p99 at 100 req/s 37–59/246–302 ms → 24/90 ms.
          retry: { initialRetryTime: 10, maxRetryTime: 2_000, retries: 10 },
        });
        producers.set(p, producer);
        await producer.connect();
        // The first transaction() initialises the producer id, which is what fences.
        const fence = await producer.transaction();
        await fence.abort();
      }
      const states = await restorePartitions({
        kafka,
        schemas,
        stores: definition.stores,
        outputBackedStores: definition.outputBackedStores,
        partitions,
        groupPrefix: this.groupId,
      });
      const committed = new Map<number, bigint | null>();
      const admin = kafka.admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchOffsets({ groupId: this.groupId, topics: [this.physicalInput] });
        for (const o of offsets[0]?.partitions ?? []) {
          committed.set(o.partition, o.offset === '-1' ? null : BigInt(o.offset));
        }
      } finally {
        await admin.disconnect();
      }
      return { producers, states, committed, close };
    } catch (err) {
      await close();
      throw err;
    }
  }

  /** Sets the entry gauge of the partition's stores with a retention (or removes it, for a partition given up). */
  private reportStoreSizes(task: PartitionTask, gone = false): void {
    const { definition } = this.options;
    for (const b of this.retainedStores) {
      const labels = { processor: definition.name, store: b.store, partition: String(task.partition) };
      if (gone) this.metrics.storeEntries.remove(labels);
      else this.metrics.storeEntries.set(labels, task.state.size(b.store));
    }
  }

  /** A partition given up (revoked or fenced): its per-partition gauges go, so they show only what this process owns. */
  private forget(task: PartitionTask): void {
    this.reportStoreSizes(task, true);
    this.metrics.lag.remove({ processor: this.options.definition.name, partition: String(task.partition) });
  }

  private async dropAllTasks(): Promise<void> {
    const tasks = [...this.tasks.values()];
    this.tasks.clear();
    for (const task of tasks) this.forget(task);
    await Promise.all(tasks.map((t) => t.producer.disconnect().catch(() => undefined)));
  }

  private async onBatch(payload: {
    batch: Batch;
    heartbeat(this: void): Promise<void>;
    isRunning(this: void): boolean;
    isStale(this: void): boolean;
    resolveOffset(this: void, offset: string): void;
    pause(this: void): () => void;
  }): Promise<void> {
    const { batch, heartbeat, isRunning, isStale, resolveOffset, pause } = payload;
    if (batch.topic !== this.physicalInput || batch.isEmpty()) return;
    const task = this.tasks.get(batch.partition);
    if (!task || task.generation !== this.generation) {
      const preparation = this.preparation;
      if (preparation.state === 'failed')
        throw PaystreamError.retryable('KAFKA_UNAVAILABLE', 'partition preparation failed');
      if (preparation.state === 'pending') {
        // Fencing, restore and offsets of this partition (a new assignment, or its own re-initialisation) are under
        // way: hold it until they are done, and let the partitions that are ready go on meanwhile.
        this.hold(batch.partition, pause, preparation.done);
        return;
      }
      // Not ours (fenced, or a rebalance is under way): the group's next join decides; do not spin on refetches.
      await sleep(100);
      return;
    }

    // Where this partition really stands is `task.nextOffset` (read after fencing). kafkajs may have fetched from an
    // older committed offset (no KIP-447): records below nextOffset were processed and committed, so skip them.
    // kafkajs may also be ahead of nextOffset when it skipped batches holding only transaction markers or aborted
    // records (it resolves those without calling us); nothing to process was skipped then.
    const fetched = BigInt((batch as unknown as { fetchedOffset: string }).fetchedOffset);
    if (task.nextOffset === null || fetched > task.nextOffset) task.nextOffset = fetched;
    const from = task.nextOffset;
    // On every fetch, not only after a commit: a partition whose transactions keep failing shows its lag growing.
    this.metrics.lag.set(
      { processor: this.options.definition.name, partition: String(batch.partition) },
      Math.max(0, Number(BigInt(batch.highWatermark) - from)),
    );
    const messages = batch.messages.filter((m) => BigInt(m.offset) >= from);
    const alreadyDone = batch.messages.filter((m) => BigInt(m.offset) < from).pop();
    if (alreadyDone) resolveOffset(alreadyDone.offset);
    if (messages.length === 0) return;

    const max = this.options.maxBatchMessages ?? 1000;
    for (let start = 0; start < messages.length; start += max) {
      if (!isRunning() || isStale() || this.tasks.get(batch.partition) !== task) return;
      const chunk = messages.slice(start, start + max);
      const outcome = await this.processChunk(task, chunk, batch.highWatermark);
      if (outcome === 'fenced') {
        // Only this task: a newer generation may already have prepared the partition again.
        if (this.tasks.get(task.partition) === task) {
          this.tasks.delete(task.partition);
          this.forget(task);
          this.takeBackUnlessReassigned(task);
        }
        await task.producer.disconnect().catch(() => undefined);
        return;
      }
      if (outcome === 'failed') {
        await this.reinitialise(task);
        return;
      }
      if (typeof outcome === 'object') {
        // Nothing of this chunk was resolved, so the consumer fetches it again once the partition is resumed.
        this.hold(task.partition, pause, sleep(outcome.retryAfterMs, undefined, { ref: false }));
        return;
      }
      const last = chunk[chunk.length - 1];
      if (last) resolveOffset(last.offset);
      await heartbeat();
    }
  }

  /**
   * Processes one chunk in one transaction: one attempt. `fenced`: another process owns the partition; `failed`: it
   * must be re-initialised (the outcome is unknown, or the chunk failed `maxAttempts` times in a row);
   * `retryAfterMs`: it failed with a retryable error and certainly did not commit, so the partition tries again from
   * the same offset after that wait.
   */
  private async processChunk(
    task: PartitionTask,
    chunk: Batch['messages'],
    highWatermark: string,
  ): Promise<ChunkOutcome> {
    const { definition } = this.options;
    const maxAttempts = this.options.maxAttempts ?? 5;
    const random = this.options.random ?? Math.random;
    const started = process.hrtime.bigint();
    let transaction: Awaited<ReturnType<Producer['transaction']>> | undefined;
    let commitAttempted = false;
    let committing: Unsettled | undefined;
    try {
      const { records: staged, outputs } = await this.stage(task, chunk);
      const processed = process.hrtime.bigint();
      const last = chunk[chunk.length - 1];
      if (!last) return 'ok';
      const next = BigInt(last.offset) + 1n;
      transaction = await task.producer.transaction();
      const open = transaction;
      // The records and the input offset travel side by side: AddPartitionsToTxn and AddOffsetsToTxn go out
      // together, then Produce and TxnOffsetCommit, then EndTxn — three round trips instead of five. Each path
      // keeps its own order (a partition is added before it is written to, the group before its offset), which is
      // all the broker requires. Both paths are settled before anything else happens, so an abort never overtakes
      // a request still in flight.
      const settled = await Promise.allSettled([
        (async () => {
          // In requests of at most ~512 KiB, sent one after the other: a partition's record batch must stay under
          // the broker's message.max.bytes (1 MiB by default), whatever the chunk size; order per partition is kept.
          for (const topicMessages of produceRequests(staged)) {
            await open.sendBatch({ acks: -1, topicMessages });
          }
        })(),
        sendOffsetsWhenFree(
          () =>
            open.sendOffsets({
              consumerGroupId: this.groupId,
              topics: [
                { topic: this.physicalInput, partitions: [{ partition: task.partition, offset: next.toString() }] },
              ],
            }),
          random,
        ),
      ]);
      for (const s of settled) if (s.status === 'rejected') throw s.reason;
      commitAttempted = true;
      if (outputs) committing = { generation: task.generation, next, outputs };
      const sent = process.hrtime.bigint();
      await transaction.commit();
      task.state.commit();
      task.nextOffset = next;
      this.applyRetention(task, chunk);
      this.tellCommitted(outputs);
      const done = Date.now();
      const ended = process.hrtime.bigint();
      const labels = { processor: definition.name };
      this.metrics.commitTime.observe(labels, Number(ended - started) / 1e9);
      this.metrics.phaseTime.observe({ ...labels, phase: 'process' }, Number(processed - started) / 1e9);
      this.metrics.phaseTime.observe({ ...labels, phase: 'send' }, Number(sent - processed) / 1e9);
      this.metrics.phaseTime.observe({ ...labels, phase: 'commit' }, Number(ended - sent) / 1e9);
      this.metrics.batchSize.observe(labels, chunk.length);
      this.metrics.processed.inc({ ...labels, partition: String(task.partition) }, chunk.length);
      for (const m of chunk) this.metrics.latency.observe(labels, Math.max(0, done - Number(m.timestamp)) / 1000);
      task.failedAttempts = 0;
      this.metrics.lag.set(
        { ...labels, partition: String(task.partition) },
        Math.max(0, Number(BigInt(highWatermark) - next)),
      );
      return 'ok';
    } catch (thrown) {
      task.state.rollback();
      const err = toPaystreamError(thrown);
      const fenced =
        /fenced|epoch|INVALID_PRODUCER/i.test(String((thrown as { type?: string }).type ?? '')) ||
        /fenced/i.test(err.message);
      this.metrics.aborts.inc({ processor: definition.name, reason: fenced ? 'fenced' : err.code });
      // Retrying in place is only safe when the transaction certainly did not commit. A failed commit() may have
      // committed on the broker (kafkajs retries EndTxn and can report an error after success), and a failed abort
      // leaves the outcome open too: then only the changelog and the committed offset know the truth, so the
      // partition is re-initialised from them instead of processing the chunk a second time.
      let aborted = !transaction?.isActive();
      if (!aborted && transaction)
        aborted = await transaction.abort().then(
          () => true,
          () => false,
        );
      if (fenced) {
        this.log.warn('producer fenced: another process owns this partition now', { partition: task.partition });
        return 'fenced';
      }
      if (commitAttempted || !aborted) {
        this.log.warn('transaction outcome unknown, re-initialising partition', {
          partition: task.partition,
          error: err,
        });
        task.unsettled = committing;
        return 'failed';
      }
      const attempt = ++task.failedAttempts;
      if (attempt >= maxAttempts) {
        this.log.error('batch failed repeatedly, re-initialising partition', {
          partition: task.partition,
          error: err,
        });
        return 'failed';
      }
      const wait = backoffMs(attempt, this.options.retryBackoff ?? { initialMs: 100, maxMs: 5_000 }, random());
      this.log.warn('batch failed, retrying', { partition: task.partition, attempt, waitMs: wait, error: err });
      return { retryAfterMs: wait };
    }
  }

  /** Hands a committed transaction's outputs to the `committed` listener; its failure never touches the partition. */
  private tellCommitted(outputs: readonly Output[] | undefined): void {
    if (!outputs || !this.options.committed) return;
    try {
      this.options.committed(outputs);
    } catch (thrown) {
      this.log.warn('committed-outputs listener failed', { error: toPaystreamError(thrown) });
    }
  }

  /**
   * After a commit: the partition's input clock moves to the chunk's newest record timestamp, and each store with a
   * retention drops what is now too old (only committed entries; see StoreRetention for what is kept).
   */
  private applyRetention(task: PartitionTask, chunk: Batch['messages']): void {
    if (this.retainedStores.length === 0) return;
    let newest = Number.NEGATIVE_INFINITY;
    for (const m of chunk) {
      const t = Number(m.timestamp);
      if (t > newest) newest = t;
    }
    // A producer whose clock runs ahead must not age everything else out: the clock never passes this host's.
    task.state.advanceClock(Math.min(newest, Date.now()));
    const processor = this.options.definition.name;
    for (const b of this.retainedStores) {
      const dropped = evictExpired(task.state, b);
      if (dropped > 0) this.metrics.evicted.inc({ processor, store: b.store }, dropped);
    }
    this.reportStoreSizes(task);
  }

  /**
   * Runs the pure processor over a chunk, staging state changes and encoding every record the transaction writes.
   * A key changed several times in the chunk is written to its changelog once, with its last value (and the event id
   * of the change that set it): a restore keeps only the last value of a key, and the chunk commits or aborts whole,
   * so nothing a restore or a reader of the latest values can see changes, and a hot account costs one changelog
   * record per transaction instead of one per command.
   */
  private async stage(
    task: PartitionTask,
    chunk: Batch['messages'],
  ): Promise<{ records: Staged[]; outputs: Output[] | undefined }> {
    const { schemas, definition } = this.options;
    const out: Staged[] = [];
    // Kept only for a `committed` listener.
    const outputs: Output[] | undefined = this.options.committed ? [] : undefined;
    // The chunk's state changes, the last per store and key, in the order of their last change.
    const changelog = new Map<string, { change: StateChange; eventId: string; timestamp: string }>();

    for (const message of chunk) {
      const headers = readHeaders(message.headers);
      let decoded: unknown;
      try {
        decoded = (schemas.decodeKnown(message.value) ?? (await schemas.decode(message.value))).value;
      } catch (thrown) {
        const err = toPaystreamError(thrown);
        if (err.retryable) throw err;
        out.push(this.deadLetter(task.partition, message, err));
        continue;
      }
      const event: InputEvent<E> = {
        topic: definition.inputTopic,
        partition: task.partition,
        offset: message.offset,
        key: message.key ? message.key.toString('utf8') : null,
        value: decoded as E,
        eventId: headers.eventId || `${this.physicalInput}-${task.partition}-${message.offset}`,
        correlationId: headers.correlationId || headers.eventId,
        timestamp: new Date(Number(message.timestamp)),
      };
      let result;
      try {
        result = definition.process(task.state, event, { now: event.timestamp });
      } catch (thrown) {
        const err = toPaystreamError(thrown);
        if (err.retryable) throw err;
        out.push(this.deadLetter(task.partition, message, err));
        continue;
      }
      for (const change of result.state) {
        task.state.stage(change);
        // An output-backed store's change travels in the output record it is rebuilt from: no changelog record.
        if (this.backedStores.has(change.store)) continue;
        const id = `${change.store}\u0000${change.key}`;
        changelog.delete(id);
        changelog.set(id, { change, eventId: event.eventId, timestamp: message.timestamp });
      }
      for (const o of result.outputs) {
        outputs?.push(o);
        out.push({
          topic: schemas.physicalTopic(o.topic),
          // A topic that backs a store is written to the input's partition, where the restore reads it back.
          ...(this.backingTopics.has(o.topic) ? { partition: task.partition } : {}),
          key: o.key,
          value: schemas.encodeKnown(o.topic, o.value) ?? (await schemas.encode(o.topic, o.value)),
          timestamp: message.timestamp,
          headers: {
            [HEADER.eventId]: o.eventId,
            [HEADER.correlationId]: event.correlationId,
            [HEADER.causationId]: event.eventId,
            [HEADER.eventType]: schemas.catalogue.topic(o.topic).value,
          },
        });
      }
    }
    for (const { change, eventId, timestamp } of changelog.values()) {
      out.push({
        timestamp,
        topic: schemas.physicalTopic(change.store),
        partition: task.partition,
        key: change.key,
        value:
          change.value === null
            ? null
            : (schemas.encodeKnown(change.store, change.value) ?? (await schemas.encode(change.store, change.value))),
        headers: {
          [HEADER.eventId]: `${eventId}:${change.store}:${change.key}`,
          [HEADER.causationId]: eventId,
        },
      });
    }
    // The transaction's last record bound for partition p — of a changelog, or else of a topic backing a store — says
    // where its input ends. On a changelog it is the newest record of its key, so compaction never removes it before
    // a later transaction writes a newer checkpoint.
    const lastOffset = chunk[chunk.length - 1]?.offset;
    for (let i = out.length - 1; i >= 0 && lastOffset !== undefined; i--) {
      const staged = out[i];
      if (staged?.partition === undefined) continue;
      staged.headers = { ...staged.headers, [HEADER.inputOffset]: (BigInt(lastOffset) + 1n).toString() };
      break;
    }
    return { records: out, outputs };
  }

  private deadLetter(partition: number, message: Batch['messages'][number], err: PaystreamError): Staged {
    this.metrics.deadLettered.inc({
      processor: this.options.definition.name,
      topic: this.physicalInput,
      code: err.code,
    });
    this.log.warn('record dead-lettered', { partition, offset: message.offset, code: err.code, message: err.message });
    return {
      topic: dlqTopic(this.physicalInput),
      key: message.key?.toString('utf8') ?? '',
      value: message.value,
      timestamp: message.timestamp,
      headers: deadLetterHeaders({
        sourceTopic: this.physicalInput,
        partition,
        offset: message.offset,
        headers: message.headers,
        error: err,
      }),
    };
  }

  /**
   * Pauses fetching from a partition until `until` settles. kafkajs fetches the next round only when every batch of
   * the last round was handled, so a partition that has to wait (a backoff, its preparation) is paused and its handler
   * returns at once: waiting inside the handler would hold up every other partition of the process. A paused
   * partition receives no batches, so it is held once at a time.
   */
  private hold(partition: number, pause: () => () => void, until: Promise<unknown>): void {
    const resume = pause();
    this.log.debug('partition held', { partition });
    void until.then(resume, resume);
  }

  /**
   * After repeated failures, or a transaction whose outcome is unknown: a fresh producer (fencing again), restored
   * state, and the committed offset. Only this partition waits for it; the others go on.
   */
  private async reinitialise(task: PartitionTask): Promise<void> {
    if (this.tasks.get(task.partition) !== task) return;
    this.tasks.delete(task.partition);
    await task.producer.disconnect().catch(() => undefined);
    const generation = this.generation;
    this.preparation = tracked(
      this.preparation.done.then(() => this.prepareOne(generation, task.partition, task.unsettled)),
    );
  }

  /**
   * Another process initialised a fenced partition's transactional id. Usually the group gave it the partition: that
   * rebalance reaches this process too (within a heartbeat) and changes its generation, and nothing is done here, so
   * no fencing ping-pong starts. But a process that prepared the partition for an assignment already superseded fences
   * it just the same, and then leaves it in the next join without a rebalance to follow: nobody would process the
   * partition again. So after half a session, if this process's assignment is still the one that gave it the
   * partition, it initialises the partition again (fencing the stale producer) and goes on from the committed offset.
   */
  private takeBackUnlessReassigned(task: PartitionTask): void {
    const wait = Math.max(1_000, (this.options.sessionTimeoutMs ?? 10_000) / 2);
    void sleep(wait, undefined, { ref: false }).then(() => {
      if (task.generation !== this.generation || !this.running || this.tasks.has(task.partition)) return;
      this.log.warn('partition fenced by a process that does not own it; taking it back', {
        partition: task.partition,
        generation: task.generation,
      });
      this.preparation = tracked(this.preparation.done.then(() => this.prepareOne(task.generation, task.partition)));
    });
  }

  private async prepareOne(generation: number, partition: number, unsettled?: Unsettled): Promise<void> {
    if (generation !== this.generation || !this.running) return;
    const init = await this.initPartitions([partition]);
    const producer = init.producers.get(partition);
    const state = init.states.get(partition);
    const committed = state ? this.startOffset(partition, init.committed.get(partition), state) : null;
    if (generation !== this.generation || !this.running || !producer || !state) {
      await init.close();
      return;
    }
    // A transaction whose commit's outcome was unknown committed if the partition resumes past its input. Only within
    // the generation it ran in: then no other process could have committed that input since (another owner would
    // count its own commit), so its outputs are told once.
    if (unsettled && unsettled.generation === generation && committed !== null && committed >= unsettled.next)
      this.tellCommitted(unsettled.outputs);
    const task = { partition, generation, producer, state, nextOffset: committed, failedAttempts: 0 };
    this.tasks.set(partition, task);
    this.reportStoreSizes(task);
    if (committed !== null) this.consumer.seek({ topic: this.physicalInput, partition, offset: committed.toString() });
  }

  /**
   * Where a partition's processing resumes: the later of the group's committed offset and the offset the changelog
   * says the last committed transaction reached. Right after a transaction completes, an offset fetch can still
   * return the previous offset (the group coordinator applies transactional offsets asynchronously, and kafkajs
   * cannot ask for stable offsets); the changelog, read after fencing, cannot be stale, so records it covers are never
   * processed twice.
   */
  private startOffset(partition: number, committed: bigint | null | undefined, state: PartitionState): bigint | null {
    const fromChangelog = state.restoredInputOffset;
    if (committed === undefined || committed === null) return fromChangelog;
    if (fromChangelog === null || fromChangelog <= committed) return committed;
    this.log.warn('group offset behind the changelog (not yet stable); resuming from the changelog', {
      partition,
      committed: committed.toString(),
      changelog: fromChangelog.toString(),
    });
    return fromChangelog;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.consumer.disconnect();
    // A preparation still under way (a rebalance as another member left) would otherwise go on fencing and restoring
    // after the stop, and leave the producers it opened connected.
    await this.preparation.done;
    await this.dropAllTasks();
    this.log.info('processor stopped');
  }
}
