import type { IHeaders, Kafka, Producer } from 'kafkajs';

import type { PaystreamError } from '../errors';
import { DLQ_HEADER } from './event-headers';

export interface DeadLetter {
  sourceTopic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders | undefined;
  error: PaystreamError;
}

/** The dead-letter topic of a physical topic. */
export function dlqTopic(physicalTopic: string): string {
  return `${physicalTopic}.dlq`;
}

/** The record's own headers plus why it was dead-lettered and where it came from. */
export function deadLetterHeaders(letter: Omit<DeadLetter, 'key' | 'value'>): IHeaders {
  return {
    ...(letter.headers ?? {}),
    [DLQ_HEADER.errorCode]: letter.error.code,
    [DLQ_HEADER.errorMessage]: letter.error.message.slice(0, 2000),
    [DLQ_HEADER.sourceTopic]: letter.sourceTopic,
    [DLQ_HEADER.sourcePartition]: String(letter.partition),
    [DLQ_HEADER.sourceOffset]: letter.offset,
  };
}

/**
 * Writes poison records, byte for byte as they arrived, to `<topic>.dlq` with the error code and message and the
 * source topic, partition and offset as headers. Resolves once the broker has acknowledged (acks=all), so a caller
 * may commit the source offset afterwards without losing the record.
 */
export class DeadLetterPublisher {
  private readonly producer: Producer;
  private connected = false;

  constructor(kafka: Kafka) {
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  async publish(letter: DeadLetter): Promise<void> {
    if (!this.connected) {
      await this.producer.connect();
      this.connected = true;
    }
    await this.producer.send({
      topic: dlqTopic(letter.sourceTopic),
      acks: -1,
      messages: [
        {
          key: letter.key,
          value: letter.value,
          headers: deadLetterHeaders(letter),
        },
      ],
    });
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }
}
