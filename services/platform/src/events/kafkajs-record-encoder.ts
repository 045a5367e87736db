/**
 * A faster encoder for the records and record batches (magic v2) kafkajs 2.2.4 produces, installed in place of
 * `src/protocol/recordBatch/record/v0/index.js` and `src/protocol/recordBatch/v0/index.js` before kafkajs is first
 * loaded.
 *
 * kafkajs builds every record in a zero-filled 512-byte buffer, every header in another, every varint in a Buffer of
 * its own (through 64-bit `Long` arithmetic for the timestamp), and then copies the records into a batch that grows by
 * doubling. For the ledger, whose every command writes about five records with two to four headers each, that was the
 * largest part of its CPU after the socket writes. Here a record is sized first and written once into a buffer of
 * exactly its size, and an uncompressed batch is written once into a buffer of exactly its size.
 *
 * Guarantee: for every input kafkajs' encoders accept in these shapes — keys, values and header values that are
 * Buffers, strings or null (keys and values), header values given singly or as arrays, timestamp deltas of magnitude
 * below 2^52 and 32-bit offset deltas — the bytes are identical to kafkajs' own (checked against them in
 * `test/unit/platform/events/kafkajs-record-encoder.test.ts`). Anything else, and every compressed batch, is handed to
 * kafkajs' original encoder.
 */

import { crc32c } from './crc32c';
import { replaceKafkajsModule } from './kafkajs-module-patch';

/** What kafkajs' encoders return and read back: a buffer and the number of bytes written to it. */
export class EncodedBytes {
  constructor(readonly buf: Buffer) {}
  get offset(): number {
    return this.buf.length;
  }
  get buffer(): Buffer {
    return this.buf;
  }
  size(): number {
    return this.buf.length;
  }
}

export type HeaderValue = Buffer | string;

export interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: Record<string, HeaderValue | HeaderValue[] | undefined>;
}

type Bytes = Buffer | string | null | undefined;

const zigzag32 = (n: number): number => ((n << 1) ^ (n >> 31)) >>> 0;

function uvarintSize(u: number): number {
  let size = 1;
  while (u >= 128) {
    u = Math.floor(u / 128);
    size++;
  }
  return size;
}

function writeUVarint(buf: Buffer, at: number, u: number): number {
  while (u >= 128) {
    buf[at++] = (u % 128) | 128;
    u = Math.floor(u / 128);
  }
  buf[at++] = u;
  return at;
}

/** Zig-zag of an integer of magnitude below 2^52, as a (possibly > 2^32) non-negative number below 2^53: exact. */
const zigzag64 = (n: number): number => (n >= 0 ? n * 2 : -n * 2 - 1);

const byteLength = (b: Bytes): number =>
  b === null || b === undefined ? -1 : typeof b === 'string' ? Buffer.byteLength(b, 'utf8') : b.length;

const isBytes = (b: unknown): b is Bytes =>
  b === null || b === undefined || typeof b === 'string' || Buffer.isBuffer(b);

/** Writes a varint length and the bytes (or -1 for null). */
function writeBytes(buf: Buffer, at: number, b: Bytes, length: number): number {
  at = writeUVarint(buf, at, zigzag32(length));
  if (b === null || b === undefined) return at;
  if (typeof b === 'string') return at + buf.write(b, at, length, 'utf8');
  b.copy(buf, at);
  return at + length;
}

/** The headers as kafkajs flattens them (an array value is one header per element), or undefined if unsupported. */
function flattenHeaders(headers: RecordInput['headers']): [string, HeaderValue][] | undefined {
  const out: [string, HeaderValue][] = [];
  for (const key of Object.keys(headers ?? {})) {
    const v = headers?.[key];
    const values = Array.isArray(v) ? v : [v];
    for (const value of values) {
      if (typeof value !== 'string' && !Buffer.isBuffer(value)) return undefined;
      out.push([key, value]);
    }
  }
  return out;
}

/** One record, byte for byte as kafkajs writes it; undefined when the input is outside the supported shapes. */
export function encodeRecord(input: RecordInput): EncodedBytes | undefined {
  const { offsetDelta = 0, timestampDelta = 0, key, value } = input;
  if (!Number.isInteger(timestampDelta) || Math.abs(timestampDelta) >= 2 ** 52) return undefined;
  if (!Number.isInteger(offsetDelta) || Math.abs(offsetDelta) >= 2 ** 31) return undefined;
  if (!isBytes(key) || !isBytes(value)) return undefined;
  const headers = flattenHeaders(input.headers);
  if (!headers) return undefined;

  const keyLength = byteLength(key);
  const valueLength = byteLength(value);
  const headerLengths: number[] = [];
  let body =
    1 +
    uvarintSize(zigzag64(timestampDelta)) +
    uvarintSize(zigzag32(offsetDelta)) +
    uvarintSize(zigzag32(keyLength)) +
    Math.max(0, keyLength) +
    uvarintSize(zigzag32(valueLength)) +
    Math.max(0, valueLength) +
    uvarintSize(zigzag32(headers.length));
  for (const [k, v] of headers) {
    const kl = Buffer.byteLength(k, 'utf8');
    const vl = byteLength(v);
    headerLengths.push(kl, vl);
    body += uvarintSize(zigzag32(kl)) + kl + uvarintSize(zigzag32(vl)) + vl;
  }

  const buf = Buffer.allocUnsafe(uvarintSize(zigzag32(body)) + body);
  let at = writeUVarint(buf, 0, zigzag32(body));
  buf[at++] = 0; // attributes: none used by records
  at = writeUVarint(buf, at, zigzag64(timestampDelta));
  at = writeUVarint(buf, at, zigzag32(offsetDelta));
  at = writeBytes(buf, at, key, keyLength);
  at = writeBytes(buf, at, value, valueLength);
  at = writeUVarint(buf, at, zigzag32(headers.length));
  headers.forEach(([k, v], i) => {
    at = writeBytes(buf, at, k, headerLengths[2 * i] ?? 0);
    at = writeBytes(buf, at, v, headerLengths[2 * i + 1] ?? 0);
  });
  if (at !== buf.length) throw new Error(`record encoder wrote ${at} of ${buf.length} bytes`);
  return new EncodedBytes(buf);
}

// --- record batch -------------------------------------------------------------------------------------------------

export type LongLike = number | string | bigint | { toString(): string };

export interface RecordBatchInput {
  compression?: number;
  firstOffset?: LongLike;
  firstTimestamp?: LongLike;
  maxTimestamp?: LongLike;
  partitionLeaderEpoch?: number;
  lastOffsetDelta?: number;
  transactional?: boolean;
  producerId?: LongLike;
  producerEpoch?: number;
  firstSequence?: number;
  records?: { buffer: Buffer; buf: Buffer }[];
}

const MAGIC_BYTE = 2;
const TRANSACTIONAL_MASK = 16;
/** attributes(2) lastOffsetDelta(4) firstTimestamp(8) maxTimestamp(8) producerId(8) producerEpoch(2) firstSequence(4) */
const BODY_HEADER = 36;
/** firstOffset(8) length(4) partitionLeaderEpoch(4) magic(1) crc(4) */
const BATCH_HEADER = 21;

const toInt64 = (v: LongLike): bigint =>
  BigInt.asIntN(64, typeof v === 'bigint' ? v : BigInt(typeof v === 'number' ? Math.trunc(v) : v.toString()));

/**
 * An uncompressed record batch, byte for byte as kafkajs writes it, in one buffer: first offset, length, leader
 * epoch, magic, CRC-32C of what follows it, attributes … first sequence, then the records.
 */
export function encodeRecordBatch(input: RecordBatchInput, crc32C: (b: Buffer) => number): EncodedBytes {
  const now = Date.now();
  const records = input.records ?? [];
  let recordBytes = 0;
  for (const r of records) recordBytes += r.buffer.length;
  const buf = Buffer.allocUnsafe(BATCH_HEADER + BODY_HEADER + 4 + recordBytes);
  buf.writeBigInt64BE(toInt64(input.firstOffset ?? 0), 0);
  buf.writeInt32BE(buf.length - 12, 8);
  buf.writeInt32BE(input.partitionLeaderEpoch ?? 0, 12);
  buf.writeInt8(MAGIC_BYTE, 16);
  let at = BATCH_HEADER;
  buf.writeInt16BE(input.transactional ? TRANSACTIONAL_MASK : 0, at);
  buf.writeInt32BE(input.lastOffsetDelta ?? 0, at + 2);
  buf.writeBigInt64BE(toInt64(input.firstTimestamp ?? now), at + 6);
  buf.writeBigInt64BE(toInt64(input.maxTimestamp ?? now), at + 14);
  buf.writeBigInt64BE(toInt64(input.producerId ?? -1), at + 22);
  buf.writeInt16BE(input.producerEpoch ?? 0, at + 30);
  buf.writeInt32BE(input.firstSequence ?? 0, at + 32);
  buf.writeInt32BE(records.length, at + 36);
  at += BODY_HEADER + 4;
  for (const r of records) at += r.buffer.copy(buf, at);
  buf.writeUInt32BE(crc32C(buf.subarray(BATCH_HEADER)), 17);
  return new EncodedBytes(buf);
}

let kafkajsRecord: ((input: RecordInput) => unknown) | undefined;
let kafkajsRecordBatch: ((input: RecordBatchInput) => Promise<unknown>) | undefined;

/** The record module kafkajs loads: this encoder, or kafkajs' own for inputs outside its shapes. */
export function record(input: RecordInput): { buffer: Buffer; buf: Buffer } {
  const encoded = encodeRecord(input);
  if (encoded) return encoded;
  if (!kafkajsRecord) throw new Error("kafkajs' record encoder is missing");
  return kafkajsRecord(input) as { buffer: Buffer; buf: Buffer };
}

/** The record-batch module kafkajs loads: uncompressed batches here, compressed ones by kafkajs. */
const recordBatchModule = {
  MAGIC_BYTE,
  RecordBatch(input: RecordBatchInput): Promise<unknown> {
    if ((input.compression ?? 0) === 0) return Promise.resolve(encodeRecordBatch(input, crc32c));
    if (!kafkajsRecordBatch) return Promise.reject(new Error("kafkajs' record-batch encoder is missing"));
    return kafkajsRecordBatch(input);
  },
};

/** kafkajs' own encoders, as replaced (for comparing bytes in tests); undefined before installation. */
export function kafkajsEncoders() {
  return { record: kafkajsRecord, recordBatch: kafkajsRecordBatch };
}

/**
 * Puts both encoders in place of kafkajs' own (which remain the fallback), before kafkajs' produce request is loaded.
 * Idempotent; fails loudly if kafkajs was loaded first (the replacement could not take effect).
 */
export function installRecordEncoder(): void {
  const loadedBy = 'kafkajs/src/protocol/requests/produce/v3/request';
  const originalRecord = replaceKafkajsModule('kafkajs/src/protocol/recordBatch/record/v0', loadedBy, record);
  if (originalRecord) kafkajsRecord = originalRecord as typeof kafkajsRecord;
  const originalBatch = replaceKafkajsModule('kafkajs/src/protocol/recordBatch/v0', loadedBy, recordBatchModule);
  if (originalBatch) kafkajsRecordBatch = (originalBatch as { RecordBatch: typeof kafkajsRecordBatch }).RecordBatch;
}

installRecordEncoder();
