import { setTimeout as sleep } from 'node:timers/promises';

import type { Admin, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { Pool } from 'pg';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

import type { PaystreamError } from '../../../../services/platform/src/errors';
import { toPaystreamError } from '../../../../services/platform/src/errors';
import { DeadLetterPublisher } from '../../../../services/platform/src/events/dead-letter';
import { headerString } from '../../../../services/platform/src/events/event-headers';
import type { EventSchemas } from '../../../../services/platform/src/events/event-schemas';
import type { Logger } from '../../../../services/platform/src/logger';
import { backoffMs } from '../../../../services/platform/src/retry-policy';
import { CopyWriter } from '../adapters/copy-writer';
import type { TableRows } from '../adapters/copy-writer';
import type { Cell, CompiledMapping, RecordMeta, TableMapping } from '../domain/table-mapping';
import { compiledMapping } from '../domain/table-mapping';

export interface CopySinkOptions {
  kafka: Kafka;
  schemas: EventSchemas;
  /** From `databasePool`: its connections never throw when the server drops them. */
  pool: Pool;
  logger: Logger;
  metrics: Registry;
  mappings: readonly TableMapping[];
  groupId: string;
  /** Most rows in one database transaction (default 20,000). */
  maxRows?: number;
  /** Most bytes fetched per partition per batch (default 8 MiB). */
  maxBytes?: number;
  /** Longest the fetch waits to fill a batch (default 200 ms). */
  maxWaitMs?: number;
  /**
   * Bytes a fetch waits for, up to `maxWaitMs`, before it returns (default 1 MiB). Under a trickle (the platform at
   * 1,000 charges/s writes about 2.4 MB/s to the sink's topics) a small value returned a fetch every few tens of ms,
   * each partition's few records a transaction of its own: 64 KiB made ~200 transactions/s and cost Postgres and the
   * sink ~35% of a core each, 1 MiB ~106 transactions/s and ~24% each. A record waits at most `maxWaitMs` longer.
   */
  minBytes?: number;
  /**
   * Partitions taken concurrently, each written in its own transactions (default 2, measured best on 2 cores: one
   * partition's chunk is decoded while another's is written). The pool needs at least this many connections.
   */
  concurrency?: number;
  /**
   * How long the group waits for a member that stopped heartbeating (died, or hung) before its partitions go to another
   * (default 30 s). The sink heartbeats between fetches and during writes and their retries.
   */
  sessionTimeoutMs?: number;
  random?: () => number;
}

interface Pending {
  message: KafkaMessage;
  rows: { mapping: TableMapping; row: Cell[] }[];
}

/**
 * The Postgres COPY sink: topics → read-model tables through declarative mappings.
 *
 * Guarantees:
 * - reads `read_committed`; each fetched batch (per partition; bounded by `maxBytes`, `maxRows` and the fetch wait)
 *   is written in one database transaction: COPY into staging tables and an idempotent INSERT … SELECT, except that
 *   an insert mapping's rows first try a COPY straight into the table, which succeeds when none of them is there yet
 *   (the normal case) and otherwise is undone by a savepoint before the staging path runs (see `CopyWriter`);
 * - the partition's Kafka offset is committed only after the database commit, so a crash anywhere re-delivers, and
 *   re-delivered rows change nothing (ON CONFLICT on the event's key; upserts only move versions forward); commits
 *   of one partition happen in offset order;
 * - pipelining with backpressure: a partition has at most one chunk being written; the next chunk is decoded while
 *   it is written and then waits for it, and the next fetch waits for that (kafkajs fetches again only when every
 *   batch of the last fetch has been taken). So Node decodes while Postgres writes, and memory stays bounded by two
 *   chunks per partition however slow the database is;
 * - a chunk that cannot be written even after retries (say, its dead letter cannot be published) rewinds its
 *   partition to the chunk's first offset, so it and everything fetched after it are delivered again;
 * - a database that is down or restarting is retried with backoff until it is back (nothing lost or doubled); so is
 *   a statement the database refuses for a reason that is not the rows' (a table missing, a privilege revoked): the
 *   partition waits for an operator instead of dead-lettering rows that are fine. While its write is retried the
 *   partition is paused, so partitions whose writes succeed (other tables, say) go on;
 * - a row the database refuses for its data (a constraint, a bad value) is isolated by bisecting the batch and
 *   sent to `<topic>.dlq` with the reason; an undecodable record goes there too; the rest of the batch is written.
 */
export class CopySink {
  private readonly consumer: Consumer;
  private readonly dlq: DeadLetterPublisher;
  private readonly writer: CopyWriter;
  /** Per physical topic: its mappings, compiled, and the headers they read. */
  private readonly byTopic = new Map<string, { mappings: CompiledMapping[]; headers: string[] }>();
  private readonly m: {
    rows: Counter<'table'>;
    latency: Histogram;
    size: Histogram;
    lag: Gauge<'topic' | 'partition'>;
    retries: Counter<'reason'>;
    dead: Counter<'topic' | 'code'>;
    fallbacks: Counter<'table'>;
  };
  private running = false;
  private stopping = false;
  /** Aborted by `stop()`: ends the waits between retries and before a rewind at once. */
  private readonly stopped = new AbortController();
  /** Per partition, the write in flight (at most one), settling to whether it was committed. */
  private readonly lanes = new Map<string, Promise<boolean>>();
  /** Per partition, settles to 'retrying' once its write in flight failed and is being retried. */
  private readonly retrying = new Map<string, Promise<'retrying'>>();
  /** Reads topics' end offsets for the lag of partitions whose write is retried; connected on first use. */
  private admin: Promise<Admin> | undefined;

  constructor(private readonly options: CopySinkOptions) {
    const { kafka, schemas, metrics } = options;
    for (const m of options.mappings) {
      const physical = schemas.physicalTopic(m.topic);
      const mappings = [...(this.byTopic.get(physical)?.mappings ?? []), compiledMapping(m)];
      this.byTopic.set(physical, { mappings, headers: [...new Set(mappings.flatMap((c) => c.headers))] });
    }
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: options.maxBytes ?? 8 * 1024 * 1024,
      // A fetch holds about as many full partitions as are taken concurrently (measured: 2× beat 4×).
      maxBytes: 2 * (options.maxBytes ?? 8 * 1024 * 1024),
      maxWaitTimeInMs: options.maxWaitMs ?? 200,
      minBytes: options.minBytes ?? 1024 * 1024,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      // kafkajs' 3 s, or a fifth of a shorter session.
      heartbeatInterval: Math.min(3_000, Math.max(500, Math.floor((options.sessionTimeoutMs ?? 30_000) / 5))),
    });
    this.dlq = new DeadLetterPublisher(kafka);
    this.writer = new CopyWriter(options.pool, { onFallback: (table) => this.m.fallbacks.inc({ table }) });
    const registers = [metrics];
    const get = <T>(name: string, make: () => T): T => (metrics.getSingleMetric(name) as T | undefined) ?? make();
    this.m = {
      rows: get(
        'paystream_sink_rows_total',
        () =>
          new Counter({
            name: 'paystream_sink_rows_total',
            help: 'Rows inserted or updated by the COPY sink',
            labelNames: ['table'],
            registers,
          }),
      ),
      latency: get(
        'paystream_sink_batch_seconds',
        () =>
          new Histogram({
            name: 'paystream_sink_batch_seconds',
            help: 'Time to write one batch (COPY, insert, commit, offset commit)',
            buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
            registers,
          }),
      ),
      size: get(
        'paystream_sink_batch_rows',
        () =>
          new Histogram({
            name: 'paystream_sink_batch_rows',
            help: 'Rows per database transaction',
            buckets: [1, 10, 100, 1000, 5000, 20000, 50000],
            registers,
          }),
      ),
      lag: get(
        'paystream_sink_lag',
        () =>
          new Gauge({
            name: 'paystream_sink_lag',
            help: 'Records behind the high watermark',
            labelNames: ['topic', 'partition'],
            registers,
          }),
      ),
      retries: get(
        'paystream_sink_retries_total',
        () =>
          new Counter({
            name: 'paystream_sink_retries_total',
            help: 'Batch writes retried',
            labelNames: ['reason'],
            registers,
          }),
      ),
      fallbacks: get(
        'paystream_sink_copy_fallbacks_total',
        () =>
          new Counter({
            name: 'paystream_sink_copy_fallbacks_total',
            help: 'Batches whose direct COPY met rows already written (re-deliveries) and went through staging',
            labelNames: ['table'],
            registers,
          }),
      ),
      dead: get(
        'paystream_sink_dead_letters_total',
        () =>
          new Counter({
            name: 'paystream_sink_dead_letters_total',
            help: 'Records sent to a dead-letter topic by the sink',
            labelNames: ['topic', 'code'],
            registers,
          }),
      ),
    };
  }

  async start(): Promise<void> {
    // kafkajs resolves batches that hold only aborted records or transaction markers without calling eachBatch;
    // committing past them keeps the group's lag exact (0 once caught up, even after a producer crashed). The commit
    // queues behind the partition's write in flight, so committed offsets only move forward.
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize !== 0 || this.stopping) return;
      const next = BigInt(payload.lastOffset) + 1n;
      const lane = laneKey(payload.topic, payload.partition);
      const prior = this.lanes.get(lane) ?? Promise.resolve(true);
      this.lanes.set(
        lane,
        prior.then(async (ok) => {
          if (!ok) return false;
          try {
            await this.consumer.commitOffsets([
              { topic: payload.topic, partition: payload.partition, offset: next.toString() },
            ]);
          } catch (err) {
            this.options.logger.warn('committing past transaction markers failed', {
              error: toPaystreamError(err).message,
            });
          }
          return true;
        }),
      );
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [...this.byTopic.keys()], fromBeginning: true });
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.concurrency ?? 2,
      eachBatch: async (payload) => {
        const { batch } = payload;
        const lane = laneKey(batch.topic, batch.partition);
        const route = this.byTopic.get(batch.topic) ?? { mappings: [], headers: [] };
        const max = this.options.maxRows ?? 20_000;
        const heartbeat = () => payload.heartbeat();
        for (let i = 0; i < batch.messages.length; i += max) {
          if (this.stopping || !payload.isRunning() || payload.isStale()) return;
          const chunk = batch.messages.slice(i, i + max);
          const first = chunk[0]?.offset;
          // Node decodes this chunk while Postgres writes the previous one.
          const pending = await this.toPending(batch.topic, batch.partition, chunk, route);
          // Backpressure: at most one write in flight per partition; this batch (and the next fetch) waits for it.
          const previous = this.lanes.get(lane);
          const outcome = previous ? await Promise.race([previous, this.retrying.get(lane) ?? NEVER]) : true;
          if (outcome === 'retrying' && previous) {
            // That write is being retried (the database is down, or refuses the statement): waiting for it here would
            // hold up every other partition, since kafkajs fetches again only once every batch of the last fetch was
            // taken. The partition is paused until the write settles instead; this chunk stays unresolved and is
            // fetched again then.
            const resume = payload.pause();
            void previous.then(resume, resume);
            return;
          }
          if (!outcome) {
            // The write before failed and rewound the partition (or the partition moved): this chunk was fetched past
            // that point, so drop it unresolved; the lane is cleared so the records fetched again go through.
            if (this.lanes.get(lane) === previous) this.lanes.delete(lane);
            return;
          }
          if (this.stopping || !payload.isRunning() || payload.isStale()) return;
          // The last chunk also covers the batch's trailing transaction markers, so a caught-up group has lag 0.
          const isLast = i + max >= batch.messages.length;
          const lastOffset = isLast ? batch.lastOffset() : chunk[chunk.length - 1]?.offset;
          if (first === undefined || lastOffset === undefined) continue;
          let retrying: () => void = () => undefined;
          this.retrying.set(lane, new Promise<'retrying'>((resolve) => (retrying = () => resolve('retrying'))));
          this.lanes.set(
            lane,
            this.writeThenCommit(batch.topic, batch.partition, pending, {
              first,
              next: BigInt(lastOffset) + 1n,
              highWatermark: BigInt(batch.highWatermark),
              heartbeat,
              retrying,
            }),
          );
          // The fetch position moves past the chunk now; the group's committed offset only after the write.
          payload.resolveOffset(lastOffset);
        }
        await payload.heartbeat();
      },
    });
  }

  /**
   * Writes one chunk and then commits the partition's offset past it. Never rejects: it settles to whether the chunk
   * was committed. On a failure that retries cannot fix, the partition is rewound to the chunk's first offset (the
   * group's committed position), so the chunk and everything fetched after it are delivered again.
   */
  private async writeThenCommit(
    topic: string,
    partition: number,
    pending: Pending[],
    at: { first: string; next: bigint; highWatermark: bigint; heartbeat: () => Promise<void>; retrying: () => void },
  ): Promise<boolean> {
    try {
      const end = await this.writeWithRetries(topic, partition, pending, at);
      // Offsets only after the database commit.
      await this.consumer.commitOffsets([{ topic, partition, offset: at.next.toString() }]);
      this.m.lag.set({ topic, partition: String(partition) }, Math.max(0, Number(end - at.next)));
      return true;
    } catch (thrown) {
      const err = toPaystreamError(thrown);
      if (!this.running) return false;
      // The group rebalanced while the chunk was written: its rows are in (idempotently), its offset is not; whoever
      // owns the partition now reads it again from the committed offset and writes nothing twice.
      if (REBALANCE_ERRORS.has((thrown as { type?: string }).type ?? '')) {
        this.options.logger.info('partition moved while its chunk was written; its new owner re-reads it', {
          topic,
          partition,
          offset: at.first,
        });
        return false;
      }
      this.options.logger.error('sink batch failed; the partition is rewound to its last committed offset', {
        topic,
        partition,
        offset: at.first,
        code: err.code,
        error: err.message,
      });
      // A pause against a failure that repeats at once; a sink stopped meanwhile leaves the rewind to the next owner,
      // who reads from the committed offset anyway.
      if (!(await this.pause(1_000))) return false;
      this.consumer.seek({ topic, partition, offset: at.first });
      return false;
    } finally {
      // The partition's next write is set only after this one settled, so the signal here is this write's own.
      this.retrying.delete(laneKey(topic, partition));
    }
  }

  /** Decodes and maps a chunk; undecodable records go to the DLQ. Synchronous per record once schemas are known. */
  private async toPending(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    route: { mappings: CompiledMapping[]; headers: string[] },
  ): Promise<Pending[]> {
    const out: Pending[] = [];
    const logical = this.options.schemas.logicalTopic(topic) ?? topic;
    for (const message of messages) {
      let value: unknown;
      try {
        value = (this.options.schemas.decodeKnown(message.value) ?? (await this.options.schemas.decode(message.value)))
          .value;
      } catch (thrown) {
        const err = toPaystreamError(thrown);
        if (err.retryable) throw err;
        await this.deadLetter(topic, partition, message, err);
        continue;
      }
      let headers: Record<string, string> = NO_HEADERS;
      if (route.headers.length > 0) {
        headers = {};
        for (const name of route.headers) {
          const h = headerString(message.headers, name);
          if (h !== undefined) headers[name] = h;
        }
      }
      const meta = new Meta(logical, partition, message.offset, message.timestamp, headers);
      const rows: Pending['rows'] = [];
      for (const mapping of route.mappings) {
        for (const row of mapping.rows(value, meta)) rows.push({ mapping: mapping.mapping, row });
      }
      out.push({ message, rows });
    }
    return out;
  }

  /**
   * Writes a chunk, retrying what can pass (an outage, a refused statement) until it is written or the sink stops.
   * While it retries, the partition's lag counts the records from the chunk's first on: the partition is paused, so no
   * commit sets it, and a backlog growing behind a database outage shows (the end offset is read again at each
   * attempt; a read that fails leaves the last one known). Settles to the partition's end offset as last known.
   */
  private async writeWithRetries(
    topic: string,
    partition: number,
    pending: Pending[],
    at: { first: string; highWatermark: bigint; heartbeat: () => Promise<void>; retrying: () => void },
  ): Promise<bigint> {
    const random = this.options.random ?? Math.random;
    const labels = { topic, partition: String(partition) };
    let end = at.highWatermark;
    let reading = false;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.writeOrBisect(topic, partition, pending);
        return end;
      } catch (thrown) {
        const err = toPaystreamError(thrown);
        if (!err.retryable || !this.running) throw err;
        at.retrying();
        this.m.lag.set(labels, Math.max(0, Number(end - BigInt(at.first))));
        if (!reading) {
          reading = true;
          void this.endOffset(topic, partition).then((known) => {
            reading = false;
            if (known !== undefined && known > end) end = known;
          });
        }
        this.m.retries.inc({ reason: err.code });
        const wait = backoffMs(attempt, { initialMs: 200, maxMs: 5_000 }, random());
        const fields = { topic, partition, attempt, waitMs: wait, code: err.code, error: err.message };
        // A refusal (missing table, revoked privilege) needs an operator; an outage usually passes by itself.
        if (err.code === 'DATABASE_REFUSED') this.options.logger.error('database refused the batch, retrying', fields);
        else this.options.logger.warn('database unavailable, retrying batch', fields);
        if (!(await this.pause(wait))) throw err;
        await at.heartbeat();
      }
    }
  }

  /** The partition's end offset (high watermark) as the broker has it now; undefined when it cannot be read. */
  private async endOffset(topic: string, partition: number): Promise<bigint | undefined> {
    if (this.stopping) return undefined;
    try {
      this.admin ??= (async () => {
        const admin = this.options.kafka.admin();
        await admin.connect();
        return admin;
      })();
      const offsets = await (await this.admin).fetchTopicOffsets(topic);
      const high = offsets.find((o) => o.partition === partition)?.high;
      return high === undefined ? undefined : BigInt(high);
    } catch (thrown) {
      // Kafka is unreachable too: connect again at the next read; the lag stays at what was last known.
      this.admin = undefined;
      this.options.logger.warn('reading the end offset for the sink lag failed', {
        topic,
        partition,
        error: toPaystreamError(thrown).message,
      });
      return undefined;
    }
  }

  /** Writes the batch; when the database refuses its data, halves it until the refused records are alone. */
  private async writeOrBisect(topic: string, partition: number, pending: Pending[]): Promise<void> {
    if (pending.length === 0) return;
    const started = process.hrtime.bigint();
    try {
      const tables = new Map<TableMapping, TableRows>();
      for (const p of pending) {
        for (const { mapping, row } of p.rows) {
          const t = tables.get(mapping) ?? { mapping, rows: [] };
          t.rows.push(row);
          tables.set(mapping, t);
        }
      }
      await this.writer.write([...tables.values()], (table, rows) => this.m.rows.inc({ table }, rows));
      this.m.size.observe([...tables.values()].reduce((n, t) => n + t.rows.length, 0));
      this.m.latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    } catch (thrown) {
      const err = toPaystreamError(thrown);
      if (err.retryable) throw err;
      if (pending.length === 1 && pending[0]) {
        await this.deadLetter(topic, partition, pending[0].message, err);
        return;
      }
      const half = Math.ceil(pending.length / 2);
      await this.writeOrBisect(topic, partition, pending.slice(0, half));
      await this.writeOrBisect(topic, partition, pending.slice(half));
    }
  }

  private async deadLetter(
    topic: string,
    partition: number,
    message: KafkaMessage,
    err: PaystreamError,
  ): Promise<void> {
    this.m.dead.inc({ topic, code: err.code });
    this.options.logger.warn('record dead-lettered by the sink', {
      topic,
      partition,
      offset: message.offset,
      code: err.code,
      reason: err.message,
    });
    await this.dlq.publish({
      sourceTopic: topic,
      partition,
      offset: message.offset,
      key: message.key,
      value: message.value,
      headers: message.headers,
      error: err,
    });
  }

  /** Waits `ms` unless the sink stops first; whether the wait ran out (false: the sink is stopping). */
  private pause(ms: number): Promise<boolean> {
    return sleep(ms, undefined, { signal: this.stopped.signal }).then(
      () => true,
      () => false,
    );
  }

  /**
   * Stops taking batches, lets the writes in flight finish, leaves. A write waiting out a database outage or refusal
   * gives up at once, uncommitted: its records are read again by whoever takes the partition.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.running = false;
    this.stopped.abort();
    await Promise.all(this.lanes.values());
    await this.consumer.disconnect();
    await this.dlq.disconnect();
    await this.admin?.then(
      (admin) => admin.disconnect(),
      () => undefined,
    );
  }
}

const laneKey = (topic: string, partition: number) => `${topic}|${partition}`;
const NEVER = new Promise<never>(() => undefined);

/** kafkajs error types of an offset commit refused because the group has moved on. */
const REBALANCE_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

const NO_HEADERS: Record<string, string> = Object.freeze({});

/** A record's coordinates for the mappings; the timestamp becomes a Date only for a mapping that reads it. */
class Meta implements RecordMeta {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: string,
    private readonly rawTimestamp: string,
    readonly headers: Record<string, string>,
  ) {}

  get timestamp(): Date {
    return new Date(Number(this.rawTimestamp));
  }
}
