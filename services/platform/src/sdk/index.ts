/**
 * paystream's producer SDK: what an outside backend imports to publish commands and requests onto paystream's topics
 * (seed 000's "the backend places an order as a Celery task" becomes one `publish` call).
 *
 * @example
 * import { createPublisher } from 'paystream/sdk';
 * const publisher = await createPublisher({ brokers: ['localhost:9092'], schemaRegistryUrl: 'http://localhost:8081/apis/ccompat/v7' });
 * await publisher.publish('spei.order-requests', order.claveRastreo, order);
 * await publisher.close();
 *
 * Guarantees: values are checked against the registered schema before anything is sent (ENCODE_FAILED names the
 * field); a publish resolves once every in-sync replica has the record; `eventId` defaults to the command id for
 * ledger commands, so a retried publish is recognised as the same command downstream.
 */
import { EventProducer } from '../events/event-producer';
import type { Published } from '../events/event-producer';
import { EventSchemas } from '../events/event-schemas';
import { createKafka } from '../events/kafka-client';
import { silentLogger } from '../logger';
import type { Logger } from '../logger';
import { SchemaCatalogue } from '../schemas/schema-catalogue';
import type { LedgerCommand, TopicName, TopicValues } from './event-types.generated';

export type * from './event-types.generated';
export type { Published } from '../events/event-producer';
export { PaystreamError } from '../errors';
export { creditCommandId, entryId, isReversalEntry, reversalCommandId } from './ledger-ids';
export { answersRequest, commandFingerprint, describeCommand, requestFingerprint } from './ledger-requests';

export interface PublisherOptions {
  brokers: readonly string[];
  schemaRegistryUrl: string;
  clientId?: string;
  /** Prefix of every physical topic and subject (for isolated environments and tests). */
  topicPrefix?: string;
  logger?: Logger;
}

export interface PublishMeta {
  eventId?: string;
  correlationId?: string;
  causationId?: string;
}

export interface Publisher {
  publish<T extends TopicName>(topic: T, key: string, value: TopicValues[T], meta?: PublishMeta): Promise<Published>;
  /** A ledger command, keyed by its account and identified by its command id. */
  sendLedgerCommand(command: LedgerCommand, meta?: Omit<PublishMeta, 'eventId'>): Promise<Published>;
  close(): Promise<void>;
}

export async function createPublisher(options: PublisherOptions): Promise<Publisher> {
  const logger = options.logger ?? silentLogger;
  const kafka = createKafka({ brokers: options.brokers, clientId: options.clientId ?? 'paystream-sdk', logger });
  const schemas = EventSchemas.connect(options.schemaRegistryUrl, SchemaCatalogue.load(), options.topicPrefix ?? '');
  const producer = new EventProducer({ kafka, schemas, logger });
  await producer.connect();
  return {
    publish: (topic, key, value, meta = {}) => producer.publish({ topic, key, value, ...meta }),
    sendLedgerCommand: (command, meta = {}) =>
      producer.publish({
        topic: 'ledger.commands',
        key: command.accountId,
        value: command,
        eventId: command.commandId,
        ...meta,
      }),
    close: () => producer.disconnect(),
  };
}
