import type { IHeaders, Message } from 'kafkajs';

/** Below the broker's default message.max.bytes (1 MiB), with room for record and batch overheads. */
export const MAX_PRODUCE_REQUEST_BYTES = 512 * 1024;

/** What a record to produce looks like for sizing. */
export interface SizedRecord {
  key: string | Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

/**
 * Consecutive runs of `records` whose estimated encoded size stays under `maxBytes` (a record larger than that on
 * its own makes a run of one). Sent one request after another, they keep each partition's order while no partition's
 * record batch in a request can exceed the broker's message.max.bytes — which one request for a large batch of
 * records to one partition would, failing with MESSAGE_TOO_LARGE however often it is retried.
 */
export function slicesByBytes<R extends SizedRecord>(
  records: readonly R[],
  maxBytes = MAX_PRODUCE_REQUEST_BYTES,
): R[][] {
  const slices: R[][] = [];
  let current: R[] = [];
  let bytes = 0;
  for (const r of records) {
    let size = 32 + (r.key === null ? 0 : Buffer.byteLength(r.key)) + (r.value?.length ?? 0);
    const headers = r.headers;
    // A loop without Object.entries or per-header arrays: this runs for every record the ledger writes.
    for (const name in headers) {
      const v = headers[name];
      if (Array.isArray(v)) {
        for (const part of v) size += 8 + Buffer.byteLength(name) + Buffer.byteLength(part);
      } else if (v !== undefined) {
        size += 8 + Buffer.byteLength(name) + Buffer.byteLength(v);
      }
    }
    if (current.length > 0 && bytes + size > maxBytes) {
      slices.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += size;
  }
  if (current.length > 0) slices.push(current);
  return slices;
}

/** A record bound for a topic, as the producers stage it. */
export interface OutgoingRecord extends SizedRecord {
  topic: string;
  key: string | Buffer | null;
  partition?: number;
  /** The record's timestamp, epoch ms as a string (Kafka's CreateTime); the producer's clock when absent. */
  timestamp?: string;
}

/**
 * `records` as the `topicMessages` of successive produce requests (`slicesByBytes`, then grouped by topic in order).
 * Send them one after another to keep each partition's order.
 */
export function produceRequests(records: readonly OutgoingRecord[]): { topic: string; messages: Message[] }[][] {
  return slicesByBytes(records).map((slice) => {
    const byTopic = new Map<string, Message[]>();
    for (const r of slice) {
      const message: Message = {
        key: r.key,
        value: r.value,
        headers: r.headers,
        partition: r.partition,
        timestamp: r.timestamp,
      };
      const list = byTopic.get(r.topic);
      if (list) list.push(message);
      else byTopic.set(r.topic, [message]);
    }
    return [...byTopic.entries()].map(([topic, messages]) => ({ topic, messages }));
  });
}
