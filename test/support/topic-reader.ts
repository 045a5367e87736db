import type { IHeaders } from 'kafkajs';

import { headerString } from '../../services/platform/src/events/event-headers';
import type { IntegrationEnv } from './integration-env';

export interface ReadRecord<V> {
  partition: number;
  offset: string;
  key: string | null;
  value: V | null;
  raw: Buffer | null;
  timestamp: Date;
  headers: Record<string, string | undefined>;
}

/**
 * Reads a topic from the beginning with read_committed (what any downstream consumer sees) until `done` says so or
 * the time is up. Values are decoded through the registry unless `raw` is set.
 */
export async function readTopic<V>(
  env: IntegrationEnv,
  topic: string,
  done: (records: ReadRecord<V>[]) => boolean,
  options: { timeoutMs?: number; raw?: boolean; physical?: boolean; settleMs?: number } = {},
): Promise<ReadRecord<V>[]> {
  const physical = options.physical ? topic : env.schemas.physicalTopic(topic);
  const consumer = env.kafka.consumer({
    groupId: env.group(`reader-${physical}-${Math.random().toString(36).slice(2)}`),
    readUncommitted: false,
    maxWaitTimeInMs: 100,
  });
  const records: ReadRecord<V>[] = [];
  let failure: unknown;
  await consumer.connect();
  await consumer.subscribe({ topic: physical, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        try {
          const value = options.raw || m.value === null ? null : ((await env.schemas.decode(m.value)).value as V);
          records.push({
            partition: batch.partition,
            offset: m.offset,
            key: m.key?.toString('utf8') ?? null,
            value,
            raw: m.value,
            timestamp: new Date(Number(m.timestamp)),
            headers: headersOf(m.headers),
          });
        } catch (err) {
          failure = err;
        }
      }
    },
  });
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  try {
    while (!done(records)) {
      if (failure) throw failure instanceof Error ? failure : new Error(JSON.stringify(failure));
      if (Date.now() > deadline)
        throw new Error(`reading ${physical}: condition not met within the time (${records.length} records)`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // Keep reading a little longer, so records beyond the expected ones (duplicates) are seen too.
    if (options.settleMs) await new Promise((r) => setTimeout(r, options.settleMs));
    if (failure) throw failure instanceof Error ? failure : new Error(JSON.stringify(failure));
    return records;
  } finally {
    await consumer.disconnect();
  }
}

function headersOf(headers: IHeaders | undefined): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const k of Object.keys(headers ?? {})) out[k] = headerString(headers, k);
  return out;
}
