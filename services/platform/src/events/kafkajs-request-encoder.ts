/**
 * Produce requests and request framing written once, installed in place of kafkajs 2.2.4's
 * `src/protocol/requests/produce/v3/request.js` (which kafkajs also uses for Produce v4–v7) and
 * `src/protocol/request.js` before kafkajs is first loaded.
 *
 * kafkajs copies every message into a new object to add its offset delta before encoding it, awaits each partition's
 * batch, builds the request in an Encoder that grows by doubling, and then copies the whole request twice more to
 * put the header and then the size in front. A 1,000-command ledger transaction sends about 5,000 records in one
 * request, so those copies were a visible part of the ledger's CPU. Here each partition's records are encoded by
 * `kafkajs-record-encoder` straight from the messages, and a request is written into one buffer of its exact size.
 *
 * Guarantee: the bytes are identical to kafkajs' own (checked against them in
 * `test/unit/platform/events/kafkajs-request-encoder.test.ts`). Produce requests kafkajs would compress, and those
 * with a message that carries its own timestamp, are built by kafkajs' original encoder.
 */

import { replaceKafkajsModule } from './kafkajs-module-patch';
import { crc32c } from './crc32c';
import { EncodedBytes, encodeRecordBatch, record } from './kafkajs-record-encoder';
import type { HeaderValue, LongLike } from './kafkajs-record-encoder';

export interface ProduceMessage {
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: Record<string, HeaderValue | HeaderValue[] | undefined>;
  timestamp?: number | string | null;
}

export interface ProduceRequestInput {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: LongLike;
  producerEpoch?: number;
  compression?: number;
  topicData: {
    topic: string;
    partitions: { partition: number; firstSequence?: number; messages: ProduceMessage[] }[];
  }[];
}

/** A request as kafkajs' connection takes it. */
export interface KafkajsRequest {
  apiKey: number;
  apiVersion: number;
  apiName: string;
  expectResponse: () => boolean;
  encode: () => Promise<{ buffer: Buffer }>;
}

const PRODUCE = 0;
const INT16_MAX = 32_767;

let kafkajsProduceV3: ((input: ProduceRequestInput) => KafkajsRequest) | undefined;
let kafkajsFraming: ((input: FramingInput) => Promise<{ buffer: Buffer }>) | undefined;

const stringSize = (s: string | null): number => (s === null ? 2 : 2 + Buffer.byteLength(s, 'utf8'));

function writeString(buf: Buffer, at: number, s: string | null): number {
  if (s === null) {
    buf.writeInt16BE(-1, at);
    return at + 2;
  }
  const length = buf.write(s, at + 2, 'utf8');
  buf.writeInt16BE(length, at);
  return at + 2 + length;
}

/** Produce v3: transactional_id acks timeout [topic [partition record_set]]. */
function encodeProduce(input: ProduceRequestInput): EncodedBytes {
  const now = Date.now();
  const transactionalId = input.transactionalId ?? null;
  let size = stringSize(transactionalId) + 2 + 4 + 4;
  const topics = input.topicData.map(({ topic, partitions }) => {
    size += stringSize(topic) + 4;
    return {
      topic,
      partitions: partitions.map(({ partition, firstSequence, messages }) => {
        const records = messages.map((m, i) =>
          record({ key: m.key, value: m.value, headers: m.headers, offsetDelta: i, timestampDelta: 0 }),
        );
        const batch = encodeRecordBatch(
          {
            records,
            firstTimestamp: now,
            maxTimestamp: now,
            producerId: input.producerId,
            producerEpoch: input.producerEpoch,
            firstSequence,
            transactional: !!transactionalId,
            lastOffsetDelta: messages.length - 1,
          },
          crc32c,
        ).buffer;
        size += 4 + 4 + batch.length;
        return { partition, batch };
      }),
    };
  });
  const buf = Buffer.allocUnsafe(size);
  let at = writeString(buf, 0, transactionalId);
  at = buf.writeInt16BE(input.acks, at);
  at = buf.writeInt32BE(input.timeout, at);
  at = buf.writeInt32BE(topics.length, at);
  for (const { topic, partitions } of topics) {
    at = writeString(buf, at, topic);
    at = buf.writeInt32BE(partitions.length, at);
    for (const { partition, batch } of partitions) {
      at = buf.writeInt32BE(partition, at);
      at = buf.writeInt32BE(batch.length, at);
      at += batch.copy(buf, at);
    }
  }
  return new EncodedBytes(buf);
}

/** Whether this encoder writes the request (else kafkajs' own does). */
function supported(input: ProduceRequestInput): boolean {
  if ((input.compression ?? 0) !== 0) return false;
  if (input.transactionalId != null && Buffer.byteLength(input.transactionalId, 'utf8') > INT16_MAX) return false;
  for (const t of input.topicData) {
    if (Buffer.byteLength(t.topic, 'utf8') > INT16_MAX) return false;
    for (const p of t.partitions) {
      if (p.messages.length === 0) return false;
      for (const m of p.messages) if (m.timestamp != null) return false;
    }
  }
  return true;
}

/** The module kafkajs loads as produce/v3/request. */
export function produceRequestV3(input: ProduceRequestInput): KafkajsRequest {
  if (!supported(input)) {
    if (!kafkajsProduceV3) throw new Error("kafkajs' produce request encoder is missing");
    return kafkajsProduceV3(input);
  }
  return {
    apiKey: PRODUCE,
    apiVersion: 3,
    apiName: 'Produce',
    expectResponse: () => input.acks !== 0,
    encode: () => Promise.resolve(encodeProduce(input)),
  };
}

interface FramingInput {
  correlationId: number;
  clientId: string | null;
  request: { apiKey: number; apiVersion: number; encode: () => Promise<{ buffer: Buffer }> };
}

/** The module kafkajs loads as protocol/request: size, api key, version, correlation id, client id, then the body. */
export async function frameRequest({ correlationId, clientId, request }: FramingInput): Promise<EncodedBytes> {
  const body = (await request.encode()).buffer;
  const id = clientId ?? null;
  if (id !== null && Buffer.byteLength(id, 'utf8') > INT16_MAX) {
    if (!kafkajsFraming) throw new Error("kafkajs' request framing is missing");
    return new EncodedBytes((await kafkajsFraming({ correlationId, clientId, request })).buffer);
  }
  const size = 2 + 2 + 4 + stringSize(id) + body.length;
  const buf = Buffer.allocUnsafe(4 + size);
  let at = buf.writeInt32BE(size, 0);
  at = buf.writeInt16BE(request.apiKey, at);
  at = buf.writeInt16BE(request.apiVersion, at);
  at = buf.writeInt32BE(correlationId, at);
  at = writeString(buf, at, id);
  body.copy(buf, at);
  return new EncodedBytes(buf);
}

/** kafkajs' own encoders, as replaced (for comparing bytes in tests); undefined before installation. */
export function kafkajsRequestEncoders() {
  return { produceV3: kafkajsProduceV3, framing: kafkajsFraming };
}

/**
 * Puts both in place of kafkajs' own (which remain the fallback) before kafkajs loads them. Idempotent; fails loudly
 * if kafkajs was loaded first. The record encoder must be installed first (kafkajs' produce request loads it).
 */
export function installRequestEncoder(): void {
  const produce = replaceKafkajsModule(
    'kafkajs/src/protocol/requests/produce/v3/request',
    'kafkajs/src/protocol/requests/produce/v4/request',
    produceRequestV3,
  );
  if (produce) kafkajsProduceV3 = produce as typeof kafkajsProduceV3;
  const framing = replaceKafkajsModule('kafkajs/src/protocol/request', 'kafkajs/src/network/connection', frameRequest);
  if (framing) kafkajsFraming = framing as typeof kafkajsFraming;
}

installRequestEncoder();
