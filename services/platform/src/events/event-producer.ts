import { randomUUID } from 'node:crypto';

import type { Kafka, Producer, RecordMetadata } from 'kafkajs';

import { PaystreamError, toPaystreamError } from '../errors';
import type { Logger } from '../logger';
import type { EventSchemas } from './event-schemas';
import { HEADER } from './event-headers';
import type { OutgoingRecord } from './produce-slices';
import { produceRequests } from './produce-slices';

export interface PublishRequest<V = unknown> {
  /** Catalogue topic name (the configured prefix is applied). */
  topic: string;
  /** Partitioning key: the account, MID, bulk id… the catalogue names for the topic. */
  key: string;
  value: V;
  /** Defaults to a random UUID; pass the command or event id to make retries of the same publish deduplicable. */
  eventId?: string;
  correlationId?: string;
  causationId?: string;
  headers?: Record<string, string>;
}

export interface Published {
  topic: string;
  partition: number;
  offset: string;
  eventId: string;
}

export interface EventProducerOptions {
  kafka: Kafka;
  schemas: EventSchemas;
  logger: Logger;
  newId?: () => string;
}

/**
 * Publishes schema-validated Avro events in the Confluent wire format.
 *
 * Guarantees: idempotent producer (no duplicates or reordering from the producer's own retries within a session),
 * `acks=all`, at most one in-flight request per broker so per-key order holds across retries. A `publish` resolves
 * only once the broker has acknowledged every message; a value that does not fit the topic's schema is refused with
 * ENCODE_FAILED before anything is sent. A failed send is KAFKA_UNAVAILABLE (retryable: the broker was unreachable or
 * busy) or KAFKA_REFUSED (not retryable: the broker refused the records, e.g. one over its size limit). Retrying a
 * failed publish may duplicate it: consumers deduplicate on the `event-id` header, which the caller controls.
 */
export class EventProducer {
  private readonly producer: Producer;
  private connected = false;
  private readonly newId: () => string;

  constructor(private readonly options: EventProducerOptions) {
    this.producer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    this.newId = options.newId ?? randomUUID;
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    try {
      await this.producer.connect();
      this.connected = true;
    } catch (err) {
      throw PaystreamError.retryable('KAFKA_UNAVAILABLE', `producer could not connect: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Publishes one event; resolves with the partition and offset the broker acknowledged. */
  async publish<V>(request: PublishRequest<V>): Promise<Published> {
    const { eventIds, metadata } = await this.publishAll([request]);
    const m = metadata[0];
    const eventId = eventIds[0];
    if (!m || eventId === undefined) throw new PaystreamError('INTERNAL', 'publish returned no metadata');
    return { topic: m.topicName, partition: m.partition, offset: m.baseOffset ?? m.offset ?? '-1', eventId };
  }

  /**
   * Publishes a batch, in as few requests as keep each under ~512 KiB; order is kept per topic-partition. Resolves
   * with each request's event id (in request order) and the broker's metadata per topic-partition.
   */
  async publishAll(requests: readonly PublishRequest[]): Promise<{ eventIds: string[]; metadata: RecordMetadata[] }> {
    if (!this.connected) await this.connect();
    const { schemas } = this.options;
    const records: OutgoingRecord[] = [];
    const eventIds: string[] = [];
    for (const r of requests) {
      const eventId = r.eventId ?? this.newId();
      const value = schemas.encodeKnown(r.topic, r.value) ?? (await schemas.encode(r.topic, r.value));
      const physical = schemas.physicalTopic(r.topic);
      const headers: Record<string, string> = {
        ...(r.headers ?? {}),
        [HEADER.eventId]: eventId,
        [HEADER.correlationId]: r.correlationId ?? eventId,
        [HEADER.eventType]: schemas.catalogue.topic(r.topic).value,
      };
      if (r.causationId) headers[HEADER.causationId] = r.causationId;
      records.push({ topic: physical, key: r.key, value, headers });
      eventIds.push(eventId);
    }
    try {
      // Large batches go out in requests of at most ~512 KiB, one after another.
      const metadata: RecordMetadata[] = [];
      for (const topicMessages of produceRequests(records)) {
        metadata.push(...(await this.producer.sendBatch({ acks: -1, topicMessages })));
      }
      return { eventIds, metadata };
    } catch (err) {
      // kafkajs' verdict decides: a broker that is unreachable or busy (retryable KAFKA_UNAVAILABLE) is worth another
      // try, a refusal (KAFKA_REFUSED: a record over the broker's size limit, a denied write) never is.
      const known = toPaystreamError(err);
      throw new PaystreamError(known.code, `publish failed: ${known.message}`, {
        retryable: known.retryable,
        cause: err,
        details: known.details,
      });
    }
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }
}
