/**
 * A faster decoder for kafkajs 2.2.4's record batches (magic v2), installed in place of
 * `src/protocol/recordBatch/v0/decoder.js` before kafkajs is first loaded.
 *
 * kafkajs' decoder copies each record into a Buffer of its own with a protocol Decoder around it, builds each
 * record's headers with an object spread per header (quadratic, and the largest single cost of consuming paystream
 * events, which carry four headers), and parses the batch's first offset and timestamp from decimal strings into
 * `Long`s again for every record. This one reads the records in place, with plain number arithmetic where it is exact
 * and BigInt where it would not be, and parses a record's headers only when `headers` is first read (the COPY sink
 * reads none of most topics' headers).
 *
 * Guarantee: for every batch kafkajs' decoder accepts, the output is deep-equal to kafkajs' — same batch fields, same
 * record fields, same string offsets and timestamps, same header values (a Buffer, or an array of Buffers for a
 * repeated key) once read — checked against kafkajs' own in `test/unit/platform/events/kafkajs-record-decoder.test.ts`.
 * A record's `headers` is an accessor on its prototype rather than an own property: read it, never spread a record.
 */

import { replaceKafkajsModule } from './kafkajs-module-patch';

/** A cursor over a record's bytes (kafkajs' protocol Decoder has these two fields). */
export interface RecordBytes {
  buffer: Buffer;
  offset: number;
}

export interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

export type RecordHeaders = Record<string, Buffer | null | (Buffer | null)[]>;

/** A record's headers, parsed from its bytes on first read. */
class DecodedRecord {
  #headers: RecordHeaders | undefined;
  readonly #buffer: Buffer;
  readonly #at: number;
  readonly #count: number;

  constructor(
    readonly magicByte: number | undefined,
    readonly attributes: number,
    readonly timestamp: string,
    readonly offset: string,
    readonly key: Buffer | null,
    readonly value: Buffer | null,
    buffer: Buffer,
    headersAt: number,
    headerCount: number,
    readonly isControlRecord: boolean,
    readonly batchContext: BatchContext,
  ) {
    this.#buffer = buffer;
    this.#at = headersAt;
    this.#count = headerCount;
  }

  get headers(): RecordHeaders {
    this.#headers ??= readHeaders(this.#buffer, this.#at, this.#count);
    return this.#headers;
  }

  set headers(headers: RecordHeaders) {
    this.#headers = headers;
  }
}

export type { DecodedRecord };

const LOG_APPEND_TIME = 1;

/** A zigzag varlong as a number when exact (|v| < 2^53), else as a bigint. */
function readVarLong(d: RecordBytes): number | bigint {
  let result = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = d.buffer[d.offset++] ?? 0;
    if (shift >= 49) return readVarLongBig(d, BigInt(result), shift, byte);
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte >= 0x80);
  return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
}

function readVarLongBig(d: RecordBytes, low: bigint, shift: number, first: number): bigint {
  let result = low;
  let s = BigInt(shift);
  let byte = first;
  for (;;) {
    if (s > 63n) throw new Error('Invalid Long, must contain 9 bytes or less');
    result |= BigInt(byte & 0x7f) << s;
    s += 7n;
    if (byte < 0x80) break;
    byte = d.buffer[d.offset++] ?? 0;
  }
  result = BigInt.asUintN(64, result);
  return (result >> 1n) ^ -(result & 1n);
}

/** `base + delta` as kafkajs writes it: a decimal string, exact at any size. */
function add(base: string, delta: number | bigint): string {
  if (typeof delta === 'number') {
    const b = Number(base);
    const sum = b + delta;
    if (Number.isSafeInteger(b) && Number.isSafeInteger(sum)) return String(sum);
  }
  return (BigInt(base) + BigInt(delta)).toString();
}

/** A zigzag varint (32-bit), as kafkajs reads it. */
function readVarInt(d: RecordBytes): number {
  let result = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = d.buffer[d.offset++] ?? 0;
    result += (byte & 0x7f) << shift;
    shift += 7;
  } while (byte >= 0x80);
  return (result >>> 1) ^ -(result & 1);
}

function readBytes(d: RecordBytes): Buffer | null {
  const length = readVarInt(d);
  if (length === -1) return null;
  const bytes = d.buffer.subarray(d.offset, d.offset + length);
  d.offset += length;
  return bytes;
}

function readHeaders(buffer: Buffer, at: number, count: number): RecordHeaders {
  const d: RecordBytes = { buffer, offset: at };
  const headers: RecordHeaders = {};
  for (let i = 0; i < count; i++) {
    const nameLength = readVarInt(d);
    // kafkajs reads a null name (-1) as null and keys the header "null".
    const name = nameLength === -1 ? 'null' : buffer.toString('utf8', d.offset, (d.offset += nameLength));
    const v = readBytes(d);
    const prev = headers[name];
    if (prev === undefined) headers[name] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else headers[name] = [prev, v];
  }
  return headers;
}

/** Decodes one record starting at `decoder.offset` (after its length prefix) and leaves the offset after it. */
export function decodeRecord(decoder: RecordBytes, batchContext: BatchContext): DecodedRecord {
  const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
  const attributes = decoder.buffer.readInt8(decoder.offset++);
  const timestampDelta = readVarLong(decoder);
  const timestamp =
    timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : add(firstTimestamp, timestampDelta);
  const offset = add(firstOffset, readVarInt(decoder));
  const key = readBytes(decoder);
  const value = readBytes(decoder);
  const count = readVarInt(decoder);
  const headersAt = decoder.offset;
  for (let i = 0; i < count; i++) {
    const nameLength = readVarInt(decoder);
    if (nameLength > 0) decoder.offset += nameLength;
    const valueLength = readVarInt(decoder);
    if (valueLength > 0) decoder.offset += valueLength;
  }
  return new DecodedRecord(
    magicByte,
    attributes,
    timestamp,
    offset,
    key,
    value,
    decoder.buffer,
    headersAt,
    count,
    isControlBatch,
    batchContext,
  );
}

/** The part of kafkajs' protocol Decoder the batch decoder uses. */
interface BatchBytes extends RecordBytes {
  readInt8(): number;
  readInt16(): number;
  readInt32(): number;
  readInt64(): { toString(): string };
  readAll(): Buffer;
  slice(size: number): BatchBytes;
  forward(size: number): void;
}

/* eslint-disable @typescript-eslint/no-require-imports */
const ProtocolDecoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => BatchBytes;
const { KafkaJSPartialMessageError } = require('kafkajs/src/errors') as {
  KafkaJSPartialMessageError: new (message: string) => Error;
};
const { lookupCodecByAttributes } = require('kafkajs/src/protocol/message/compression') as {
  lookupCodecByAttributes: (attributes: number) => { decompress(b: Buffer): Promise<Buffer> } | null;
};
/* eslint-enable @typescript-eslint/no-require-imports */

const TIMESTAMP_TYPE_FLAG_MASK = 0x8;
const TRANSACTIONAL_FLAG_MASK = 0x10;
const CONTROL_FLAG_MASK = 0x20;

/** One record batch (v2) from a fetch response, as kafkajs' `recordBatch/v0/decoder` returns it. */
export async function decodeRecordBatch(fetchDecoder: BatchBytes): Promise<Record<string, unknown>> {
  const firstOffset = fetchDecoder.readInt64().toString();
  const length = fetchDecoder.readInt32();
  const decoder = fetchDecoder.slice(length);
  fetchDecoder.forward(length);
  const remainingBytes = Buffer.byteLength(decoder.buffer);
  if (remainingBytes < length)
    throw new KafkaJSPartialMessageError(
      `Tried to decode a partial record batch: remainingBytes(${remainingBytes}) < recordBatchLength(${length})`,
    );
  const partitionLeaderEpoch = decoder.readInt32();
  const magicByte = decoder.readInt8();
  decoder.readInt32(); // CRC: kafkajs does not validate it either
  const attributes = decoder.readInt16();
  const lastOffsetDelta = decoder.readInt32();
  const firstTimestamp = decoder.readInt64().toString();
  const maxTimestamp = decoder.readInt64().toString();
  const producerId = decoder.readInt64().toString();
  const producerEpoch = decoder.readInt16();
  const firstSequence = decoder.readInt32();
  const recordContext = {
    firstOffset,
    firstTimestamp,
    partitionLeaderEpoch,
    inTransaction: (attributes & TRANSACTIONAL_FLAG_MASK) > 0,
    isControlBatch: (attributes & CONTROL_FLAG_MASK) > 0,
    lastOffsetDelta,
    producerId,
    producerEpoch,
    firstSequence,
    maxTimestamp,
    timestampType: (attributes & TIMESTAMP_TYPE_FLAG_MASK) > 0 ? LOG_APPEND_TIME : 0,
  };
  const context = { ...recordContext, magicByte };
  const codec = lookupCodecByAttributes(attributes);
  let records: DecodedRecord[];
  if (!codec) {
    records = readRecords(decoder, decoder.readInt32(), context);
  } else {
    const count = decoder.readInt32();
    records =
      count <= 0 ? [] : readRecords(new ProtocolDecoder(await codec.decompress(decoder.readAll())), count, context);
  }
  return { ...recordContext, records };
}

function readRecords(d: RecordBytes, count: number, context: BatchContext): DecodedRecord[] {
  if (count === -1) return [];
  const records = new Array<DecodedRecord>(count);
  for (let i = 0; i < count; i++) {
    const size = readVarInt(d);
    const end = d.offset + size;
    records[i] = decodeRecord(d, context);
    d.offset = end;
  }
  return records;
}

/** kafkajs' own record-batch decoder, kept for comparison in tests. */
export let kafkajsBatchDecoder: (decoder: unknown) => Promise<Record<string, unknown>> = () => {
  throw new Error('kafkajs record-batch decoder not captured');
};

/**
 * Puts `decodeRecordBatch` in place of kafkajs' record-batch decoder in the module cache, so kafkajs' fetch response
 * decoder picks it up when it is loaded. Fails loudly if that decoder was loaded already (the replacement could not
 * take effect).
 */
export function installRecordDecoder(): void {
  const original = replaceKafkajsModule(
    'kafkajs/src/protocol/recordBatch/v0/decoder',
    'kafkajs/src/protocol/requests/fetch/v4/decodeMessages',
    decodeRecordBatch,
  );
  if (original) kafkajsBatchDecoder = original as typeof kafkajsBatchDecoder;
}

installRecordDecoder();
