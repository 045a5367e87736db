import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

import type { Consumer, Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import { Counter, Histogram } from 'prom-client';

import { PaystreamError } from '../../../platform/src/errors';
import { HEADER } from '../../../platform/src/events/event-headers';
import { EventProducer } from '../../../platform/src/events/event-producer';
import type { EventSchemas } from '../../../platform/src/events/event-schemas';
import type { Logger } from '../../../platform/src/logger';
import type { LedgerCommand, LedgerResult } from '../../../platform/src/sdk/event-types.generated';

const COMMANDS = 'ledger.commands';
const RESULTS = 'ledger.results';
const RESULT_EVENT_ID = /:result(?::duplicate:\d+)?$/;
/** Seconds; fine between 50 and 500 ms, where a ledger hop's p50 and p99 sit under load. */
const REPLY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 1, 2.5, 5];

const LATE = Symbol('late');

/** What `promise` settles to, or LATE when `deadline` (epoch ms) comes first; the timer ends with the race. */
async function byDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | typeof LATE> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(() => resolve(LATE), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface LedgerClientOptions {
  kafka: Kafka;
  schemas: EventSchemas;
  logger: Logger;
  metrics: Registry;
  topicPrefix: string;
  /**
   * Longest `start()` waits for the reply consumer's first fetch (default 120 s). Past it, or when the consumer
   * crashes for good before fetching, `start()` fails with KAFKA_UNAVAILABLE instead of waiting forever.
   */
  positionTimeoutMs?: number;
}

interface Waiter {
  resolve: (result: LedgerResult) => void;
  promise: Promise<LedgerResult>;
}

/**
 * Request/reply over the ledger's topics for the HTTP edge.
 *
 * `request` publishes a command keyed by the account it debits (acks=all, idempotent producer) and the reply is the
 * command's result on ledger.results, matched by command id. Every gateway process reads all result partitions in a
 * consumer group of its own, positioned before it reports ready at the end of each partition as it was when the
 * process started, so no result of a command sent after start-up can be missed; `start` fails (KAFKA_UNAVAILABLE)
 * rather than wait forever when that consumer crashes for good or has not fetched within `positionTimeoutMs`. Waiting
 * for a reply is bounded too: `wait` resolves `undefined` on timeout, and the command stays in Kafka and is processed
 * exactly once regardless (the caller answers 202 with the command id as the operation to poll).
 *
 * Sending the same command id twice is safe: the ledger applies it once and answers the second with the first
 * result (`duplicate: true`).
 */
export class LedgerClient {
  private readonly producer: EventProducer;
  private readonly consumer: Consumer;
  private readonly groupId: string;
  private readonly waiters = new Map<string, Waiter>();
  private isReady = false;
  private readonly queue: { command: LedgerCommand; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private flushing = false;
  private readonly batchSize: Histogram;
  private readonly replyLatency: Histogram;
  private readonly followUpLatency: Histogram;
  private readonly timeouts: Counter;
  private readonly sendTimeouts: Counter<'outcome'>;
  /** When each result reached this process (performance.now()), by the promise `expect` returned for it. */
  private readonly arrivals = new WeakMap<Promise<LedgerResult>, number>();

  constructor(private readonly options: LedgerClientOptions) {
    this.producer = new EventProducer({ kafka: options.kafka, schemas: options.schemas, logger: options.logger });
    this.groupId = `${options.topicPrefix}paystream.gateway.${hostname()}.${process.pid}.${randomBytes(4).toString('hex')}`;
    this.consumer = options.kafka.consumer({
      groupId: this.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    this.replyLatency = new Histogram({
      name: 'paystream_gateway_ledger_reply_seconds',
      help: 'Time from publishing a ledger command to receiving its result',
      buckets: REPLY_BUCKETS,
      registers: [options.metrics],
    });
    this.followUpLatency = new Histogram({
      name: 'paystream_gateway_ledger_follow_up_seconds',
      help: "Time from a command's result to the result of the follow-up it caused (a charge's credit to the merchant)",
      buckets: REPLY_BUCKETS,
      registers: [options.metrics],
    });
    this.batchSize = new Histogram({
      name: 'paystream_gateway_ledger_publish_batch_size',
      help: 'Ledger commands per produce request (group commit)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500],
      registers: [options.metrics],
    });
    this.timeouts = new Counter({
      name: 'paystream_gateway_ledger_reply_timeouts_total',
      help: 'Requests answered 202 because the ledger result did not arrive in time',
      registers: [options.metrics],
    });
    this.sendTimeouts = new Counter({
      name: 'paystream_gateway_ledger_send_timeouts_total',
      help:
        'Requests answered 503 because Kafka did not acknowledge their ledger command in time, by whether the ' +
        'command was withdrawn unsent or had left in a produce request (and may still be applied, once)',
      labelNames: ['outcome'],
      registers: [options.metrics],
    });
  }

  ready(): boolean {
    return this.isReady;
  }

  async start(): Promise<void> {
    const { kafka, schemas, logger } = this.options;
    await this.producer.connect();
    const topic = schemas.physicalTopic(RESULTS);
    const admin = kafka.admin();
    await admin.connect();
    let ends: { partition: number; offset: string }[];
    try {
      ends = (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, offset: o.high }));
    } finally {
      await admin.disconnect();
    }
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [topic], fromBeginning: false });
    const timeoutMs = this.options.positionTimeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    const listeners: (() => void)[] = [];
    const positioned = new Promise<void>((resolve, reject) => {
      // The first fetch happens after the seeks below were applied.
      listeners.push(this.consumer.on(this.consumer.events.FETCH, () => resolve()));
      // A crash kafkajs will not restart from would otherwise leave start() waiting for a fetch that never comes.
      listeners.push(
        this.consumer.on(this.consumer.events.CRASH, (event) => {
          if (!event.payload.restart)
            reject(
              PaystreamError.retryable(
                'KAFKA_UNAVAILABLE',
                `ledger reply consumer crashed before its first fetch: ${event.payload.error.message}`,
                { cause: event.payload.error },
              ),
            );
        }),
      );
      timer = setTimeout(
        () =>
          reject(
            PaystreamError.retryable(
              'KAFKA_UNAVAILABLE',
              `ledger reply consumer did not fetch within ${timeoutMs} ms of starting (group ${this.groupId})`,
            ),
          ),
        timeoutMs,
      );
    });
    positioned.catch(() => undefined);
    await this.consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          const eventId = message.headers?.[HEADER.eventId]?.toString() ?? '';
          const commandId = eventId.replace(RESULT_EVENT_ID, '');
          const waiter = this.waiters.get(commandId);
          if (!waiter || commandId === eventId) continue;
          try {
            const { value } = await schemas.decode(message.value);
            this.waiters.delete(commandId);
            this.arrivals.set(waiter.promise, performance.now());
            waiter.resolve(value as LedgerResult);
          } catch (err) {
            logger.warn('undecodable ledger result skipped', { offset: message.offset, error: (err as Error).message });
          }
        }
      },
    });
    for (const e of ends) this.consumer.seek({ topic, partition: e.partition, offset: e.offset });
    try {
      await positioned;
    } catch (err) {
      await this.consumer.disconnect().catch(() => undefined);
      await this.producer.disconnect().catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
      for (const remove of listeners) remove();
    }
    this.isReady = true;
    logger.info('ledger replies positioned', { groupId: this.groupId, partitions: ends.length });
  }

  /**
   * Registers interest in a command's result. Call before sending (a result can arrive before the send is acknowledged); the
   * registration lives until the result arrives or `forget` is called.
   */
  expect(commandId: string): Promise<LedgerResult> {
    const existing = this.waiters.get(commandId);
    if (existing) return existing.promise;
    let resolve!: (r: LedgerResult) => void;
    const promise = new Promise<LedgerResult>((r) => (resolve = r));
    this.waiters.set(commandId, { resolve, promise });
    return promise;
  }

  forget(commandId: string): void {
    this.waiters.delete(commandId);
  }

  /**
   * Queues a command for publishing: `sent` resolves once Kafka acknowledged it (it will be processed exactly once
   * from here on). `withdraw` takes it back while it still waits in the queue: it returns true when it did (the
   * command will never be published, and `sent` rejects), false once it has left with a produce request.
   *
   * Group commit: the producer keeps one request in flight (per-key order across retries), so commands that arrive
   * while a request is out are queued and leave together in the next one. Under load a produce request carries many
   * commands; an idle client sends each at once.
   */
  private enqueue(command: LedgerCommand): { sent: Promise<void>; withdraw: () => boolean } {
    if (!this.isReady)
      return {
        sent: Promise.reject(PaystreamError.retryable('SHUTTING_DOWN', 'ledger client is not ready')),
        withdraw: () => false,
      };
    let entry!: (typeof this.queue)[number];
    const sent = new Promise<void>((resolve, reject) => {
      entry = { command, resolve, reject };
      this.queue.push(entry);
      if (!this.flushing) void this.flush();
    });
    const withdraw = () => {
      const at = this.queue.indexOf(entry);
      if (at < 0) return false;
      this.queue.splice(at, 1);
      entry.reject(PaystreamError.retryable('KAFKA_UNAVAILABLE', `command ${command.commandId} withdrawn unsent`));
      return true;
    };
    return { sent, withdraw };
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, 500);
        try {
          await this.producer.publishAll(
            batch.map(({ command }) => ({
              topic: COMMANDS,
              key: command.accountId,
              value: command,
              eventId: command.commandId,
            })),
          );
          this.batchSize.observe(batch.length);
          for (const item of batch) item.resolve();
        } catch (err) {
          for (const item of batch) item.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Sends the command and waits for its result until `deadline` (epoch ms). Resolves undefined when the result is
   * late: the command is in Kafka and will be processed exactly once. Rejects with KAFKA_UNAVAILABLE (retryable) when
   * Kafka has not acknowledged the command by `deadline`. A command still queued then is withdrawn and never
   * published; one already in a produce request is still retried by the producer and may be applied, once. Either
   * way a retry with the same command id is applied at most once, and answered with the outcome.
   */
  async request(command: LedgerCommand, deadline: number): Promise<LedgerResult | undefined> {
    const started = performance.now();
    const reply = this.expect(command.commandId);
    try {
      await this.sendBy(command, deadline);
    } catch (err) {
      this.forget(command.commandId);
      throw err;
    }
    const result = await this.waitFor(command.commandId, reply, deadline);
    if (result) this.replyLatency.observe((performance.now() - started) / 1000);
    return result;
  }

  /**
   * `enqueue`'s send, given up at `deadline`: a command still queued then (behind a produce request Kafka has not answered) is
   * withdrawn and never published, so the caller's 503 means nothing was applied; one already in a produce request
   * may still land, once (see `request`).
   */
  private async sendBy(command: LedgerCommand, deadline: number): Promise<void> {
    const { sent, withdraw } = this.enqueue(command);
    if ((await byDeadline(sent, deadline)) !== LATE) return;
    // The send settles later, on its own; its failure was already reported to this caller as the timeout.
    sent.catch(() => undefined);
    const withdrawn = withdraw();
    this.sendTimeouts.inc({ outcome: withdrawn ? 'withdrawn' : 'in_flight' });
    throw PaystreamError.retryable(
      'KAFKA_UNAVAILABLE',
      withdrawn
        ? `Kafka did not answer in time; command ${command.commandId} was withdrawn unsent`
        : `Kafka did not acknowledge command ${command.commandId} in time; it may still be applied, once`,
      { details: { commandId: command.commandId, delivery: withdrawn ? 'withdrawn' : 'in_flight' } },
    );
  }

  /**
   * Waits until `deadline` for a result registered earlier with `expect` (pass the promise `expect` returned: the
   * registration ends when the result arrives, so a later `expect` would wait for a second one). Forgets it on
   * timeout.
   */
  async waitFor(commandId: string, reply: Promise<LedgerResult>, deadline: number): Promise<LedgerResult | undefined> {
    const result = await byDeadline(reply, deadline);
    if (result !== LATE) return result;
    this.forget(commandId);
    this.timeouts.inc();
    return undefined;
  }

  /**
   * `waitFor` for the result of a follow-up command — one the ledger issues itself when it processes another, like a
   * charge's credit to the merchant — recording the time from `causeAnsweredAt` (`performance.now()` when the causing
   * command's result was handled) to the follow-up's result reaching this process: the second ledger hop a charge
   * waits for.
   */
  async waitForFollowUp(
    commandId: string,
    reply: Promise<LedgerResult>,
    deadline: number,
    causeAnsweredAt: number,
  ): Promise<LedgerResult | undefined> {
    const result = await this.waitFor(commandId, reply, deadline);
    if (result) {
      const arrived = this.arrivals.get(reply) ?? performance.now();
      this.followUpLatency.observe(Math.max(0, arrived - causeAnsweredAt) / 1000);
    }
    return result;
  }

  async stop(): Promise<void> {
    this.isReady = false;
    await this.consumer.disconnect().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
    const admin = this.options.kafka.admin();
    await admin.connect();
    await admin.deleteGroups([this.groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}

/**
 * True when `err` is `request`'s timeout for a command that had left in a produce request: Kafka may still append it,
 * and the ledger apply it, once. False for a withdrawn command (never published) and for every other failure.
 */
export function mayStillBeApplied(err: unknown): boolean {
  return err instanceof PaystreamError && err.code === 'KAFKA_UNAVAILABLE' && err.details.delivery === 'in_flight';
}
