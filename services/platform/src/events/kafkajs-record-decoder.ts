/**
 * A faster decoder for one record of a Kafka record batch (magic v2), installed in place of kafkajs 2.2.4's own
 * (`src/protocol/recordBatch/record/v0/decoder.js`) before kafkajs is first loaded.
 *
 * kafkajs' decoder builds each record's headers with an object spread per header (quadratic, and the largest single
 * cost of consuming paystream events, which carry four headers), and parses the batch's first offset and timestamp
 * from decimal strings into `Long`s again for every record. This one produces the identical record object — same
 * fields, same string offsets and timestamps, same header values (a Buffer, or an array of Buffers for a repeated
 * key) — with plain number arithmetic where it is exact and BigInt where it would not be.
 *
 * Guarantee: for every record kafkajs' decoder accepts, the output is deep-equal to kafkajs' (checked against it in
 * `test/unit/platform/events/kafkajs-record-decoder.test.ts`).
 */

import { replaceKafkajsModule } from './kafkajs-module-patch';

/** The part of kafkajs' protocol Decoder this module uses. */
export interface RecordBytes {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarIntBytes(): Buffer | null;
  readVarIntString(): string | null;
}

export interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

export interface DecodedRecord {
  magicByte: number | undefined;
  attributes: number;
  timestamp: string;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | null | (Buffer | null)[]>;
  isControlRecord: boolean;
  batchContext: BatchContext;
}

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

export function decodeRecord(decoder: RecordBytes, batchContext: BatchContext): DecodedRecord {
  const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
  const attributes = decoder.readInt8();
  const timestampDelta = readVarLong(decoder);
  const timestamp =
    timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : add(firstTimestamp, timestampDelta);
  const offset = add(firstOffset, decoder.readVarInt());
  const key = decoder.readVarIntBytes();
  const value = decoder.readVarIntBytes();
  const headers: DecodedRecord['headers'] = {};
  const count = decoder.readVarInt();
  for (let i = 0; i < count; i++) {
    const name = String(decoder.readVarIntString());
    const v = decoder.readVarIntBytes();
    const prev = headers[name];
    headers[name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return {
    magicByte,
    attributes,
    timestamp,
    offset,
    key,
    value,
    headers,
    isControlRecord: isControlBatch,
    batchContext,
  };
}

/** kafkajs' own record decoder, kept for comparison in tests. */
export let kafkajsRecordDecoder: (decoder: RecordBytes, batchContext?: BatchContext) => unknown = () => {
  throw new Error('kafkajs record decoder not captured');
};

/**
 * Puts `decodeRecord` in place of kafkajs' record decoder in the module cache, so kafkajs' record-batch decoder picks
 * it up when it is loaded. Fails loudly if that decoder was loaded already (the replacement could not take effect).
 */
export function installRecordDecoder(): void {
  const original = replaceKafkajsModule(
    'kafkajs/src/protocol/recordBatch/record/v0/decoder',
    'kafkajs/src/protocol/recordBatch/v0/decoder',
    decodeRecord,
  );
  if (original) kafkajsRecordDecoder = original as typeof kafkajsRecordDecoder;
}

installRecordDecoder();
