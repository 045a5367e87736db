import type { IntegrationEnv } from './integration-env';

/** A record to write: its value is encoded with the topic's schema, and it carries the timestamp given. */
export interface TimedRecord {
  key: string;
  value: unknown;
  /** Epoch ms: the record's timestamp (Kafka's CreateTime), the clock processors and retentions go by. */
  at: number;
  partition?: number;
  headers?: Record<string, string>;
}

/**
 * Writes `records` to catalogue topic `topic` in one produce request (idempotent, acks=all), each with the timestamp
 * it names — for tests that need records stamped hours or days apart without waiting for them.
 */
export async function writeTimed(env: IntegrationEnv, topic: string, records: readonly TimedRecord[]): Promise<void> {
  const messages = [];
  for (const r of records) {
    messages.push({
      key: r.key,
      value: await env.schemas.encode(topic, r.value),
      timestamp: String(r.at),
      partition: r.partition,
      headers: r.headers,
    });
  }
  const producer = env.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic: env.schemas.physicalTopic(topic), acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}
