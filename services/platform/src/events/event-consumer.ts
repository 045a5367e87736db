import { setTimeout as sleep } from 'node:timers/promises';

import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';

import type { PaystreamError } from '../errors';
import { toPaystreamError } from '../errors';
import type { Logger } from '../logger';
import { backoffMs } from '../retry-policy';
import { DeadLetterPublisher } from './dead-letter';
import type { EventSchemas } from './event-schemas';
import { readHeaders } from './event-headers';
import type { EventHeaders } from './event-headers';

export interface ConsumedEvent<V = unknown> {
  /** Catalogue topic name (prefix removed). */
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: V;
  schemaId: number;
  headers: EventHeaders;
  timestamp: Date;
}

export interface EventConsumerOptions {
  kafka: Kafka;
  schemas: EventSchemas;
  logger: Logger;
  groupId: string;
  /** Catalogue topic names. */
  topics: readonly string[];
  fromBeginning?: boolean;
  /** Attempts for a retryable failure before the consumer stops and the record is redelivered (default 5). */
  maxAttempts?: number;
  /** Called when a record was dead-lettered (for metrics). */
  onDeadLetter?: (topic: string, error: PaystreamError) => void;
  random?: () => number;
}

/**
 * A typed Avro consumer with at-least-once delivery.
 *
 * Guarantees:
 * - reads only committed records (`read_committed`), in order per partition;
 * - an offset is committed only after the handler resolved for that record (or after its dead-letter record was
 *   acknowledged), so a crash redelivers, never skips; handlers must be idempotent on `headers.eventId`;
 * - poison records (undecodable bytes, a schema id the registry does not know, a non-retryable handler error) go to
 *   `<topic>.dlq` with error and source headers and the partition moves on;
 * - retryable failures are retried in place with jittered exponential backoff up to `maxAttempts`; after that the
 *   error propagates, kafkajs restarts the consumer and the record is delivered again;
 * - `stop()` lets the record in progress finish, commits, and leaves the group.
 *
 * The exactly-once consume→produce path is the processor runtime's, not this class's.
 */
export class EventConsumer<V = unknown> {
  private readonly consumer: Consumer;
  private readonly dlq: DeadLetterPublisher;
  private running = false;

  constructor(private readonly options: EventConsumerOptions) {
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
    });
    this.dlq = new DeadLetterPublisher(options.kafka);
  }

  async run(handler: (event: ConsumedEvent<V>) => Promise<void>): Promise<void> {
    const { schemas, logger } = this.options;
    await this.consumer.connect();
    await this.consumer.subscribe({
      topics: this.options.topics.map((t) => schemas.physicalTopic(t)),
      fromBeginning: this.options.fromBeginning ?? false,
    });
    this.running = true;
    await this.consumer.run({
      autoCommit: true,
      eachMessage: async (payload) => {
        await this.handle(payload.topic, payload.partition, payload.message, handler, () => payload.heartbeat());
      },
    });
    logger.info('consumer running', { groupId: this.options.groupId, topics: this.options.topics });
  }

  private async handle(
    physicalTopic: string,
    partition: number,
    message: KafkaMessage,
    handler: (event: ConsumedEvent<V>) => Promise<void>,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    const { schemas, logger } = this.options;
    const maxAttempts = this.options.maxAttempts ?? 5;
    const random = this.options.random ?? Math.random;
    for (let attempt = 1; ; attempt++) {
      try {
        const { value, schemaId } = await schemas.decode(message.value);
        await handler({
          topic: schemas.logicalTopic(physicalTopic) ?? physicalTopic,
          partition,
          offset: message.offset,
          key: message.key ? message.key.toString('utf8') : null,
          value: value as V,
          schemaId,
          headers: readHeaders(message.headers),
          timestamp: new Date(Number(message.timestamp)),
        });
        return;
      } catch (thrown) {
        const err = toPaystreamError(thrown);
        if (!err.retryable) {
          await this.dlq.publish({
            sourceTopic: physicalTopic,
            partition,
            offset: message.offset,
            key: message.key,
            value: message.value,
            headers: message.headers,
            error: err,
          });
          logger.warn('record dead-lettered', {
            topic: physicalTopic,
            partition,
            offset: message.offset,
            code: err.code,
          });
          this.options.onDeadLetter?.(physicalTopic, err);
          return;
        }
        if (attempt >= maxAttempts || !this.running) throw err;
        const wait = backoffMs(attempt, { initialMs: 200, maxMs: 10_000 }, random());
        logger.warn('retryable failure, retrying', {
          topic: physicalTopic,
          partition,
          attempt,
          waitMs: wait,
          code: err.code,
        });
        await sleep(wait);
        await heartbeat();
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.disconnect();
    await this.dlq.disconnect();
  }
}
