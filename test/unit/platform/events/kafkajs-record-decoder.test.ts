import {
  decodeRecord,
  decodeRecordBatch,
  installRecordDecoder,
  kafkajsBatchDecoder,
} from '../../../../services/platform/src/events/kafkajs-record-decoder';
import type { BatchContext, RecordBytes } from '../../../../services/platform/src/events/kafkajs-record-decoder';

// kafkajs' own protocol encoder and decoders: the bytes are written exactly as a broker would send them.
/* eslint-disable @typescript-eslint/no-require-imports */
type ProtocolDecoder = RecordBytes & { readVarIntBytes(): Buffer | null };
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => ProtocolDecoder;
type RecordInput = {
  offsetDelta?: number;
  timestampDelta?: number | bigint | object;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string | (Buffer | string)[]>;
};
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: RecordInput) => { buffer: Buffer };
const { RecordBatch: encodeBatch } = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch: (b: {
    compression?: number;
    firstOffset?: object;
    firstTimestamp?: number;
    maxTimestamp?: number;
    lastOffsetDelta?: number;
    transactional?: boolean;
    producerId?: object;
    producerEpoch?: number;
    records: unknown[];
  }) => Promise<{ buffer: Buffer }>;
};
const kafkajsRecordDecoder = require('kafkajs/src/protocol/recordBatch/record/v0/decoder') as (
  d: RecordBytes,
  c: BatchContext,
) => unknown;
const Long = require('kafkajs/src/utils/long') as { fromString(s: string): object; fromValue(v: number): object };
/* eslint-enable @typescript-eslint/no-require-imports */

/** A record with its headers read: what a consumer sees (the decoder's `headers` is an accessor). */
const seen = (r: unknown): unknown => {
  if (r === null || typeof r !== 'object') return r;
  const rec = r as { headers?: unknown };
  return { ...rec, headers: rec.headers };
};

/** The record's bytes, as kafkajs' batch decoder hands them to its record decoder (length prefix stripped). */
function bytes(record: RecordInput): () => ProtocolDecoder {
  const framed = encodeRecord(record).buffer;
  return () => new Decoder(new Decoder(framed).readVarIntBytes() ?? Buffer.alloc(0));
}

const withLongDelta = (record: RecordInput): RecordInput =>
  typeof record.timestampDelta === 'bigint'
    ? { ...record, timestampDelta: Long.fromString(record.timestampDelta.toString()) }
    : record;

const batch = (over: Partial<BatchContext> = {}): BatchContext => ({
  firstOffset: '1000',
  firstTimestamp: '1764000000000',
  magicByte: 2,
  isControlBatch: false,
  timestampType: 0,
  maxTimestamp: '1764000009999',
  ...over,
});

describe('kafkajs record-batch decoder replacement', () => {
  beforeAll(() => installRecordDecoder());

  it('is what kafkajs loads, and the original is kept for comparison', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect(require('kafkajs/src/protocol/recordBatch/v0/decoder')).toBe(decodeRecordBatch);
    expect(kafkajsBatchDecoder).not.toBe(decodeRecordBatch);
  });

  it('decodes offsets, timestamps, key, value and repeated headers, the headers on first read', () => {
    const read = bytes({
      offsetDelta: 7,
      timestampDelta: 1234,
      key: Buffer.from('acct-1'),
      value: Buffer.from([0, 1, 2]),
      headers: { 'event-id': 'e-1', dup: ['a', 'b', 'c'] },
    });
    const d = read();
    const r = decodeRecord(d, batch());
    expect(d.offset).toBe(d.buffer.length); // the whole record, headers included, was stepped over
    expect(r.offset).toBe('1007');
    expect(r.timestamp).toBe('1764000001234');
    expect(r.key?.toString()).toBe('acct-1');
    expect([...(r.value ?? [])]).toEqual([0, 1, 2]);
    expect(String(r.headers['event-id'])).toBe('e-1');
    expect((r.headers.dup as Buffer[]).map(String)).toEqual(['a', 'b', 'c']);
    expect(r.headers).toBe(r.headers); // parsed once
    r.headers = { replaced: Buffer.from('x') };
    expect(Object.keys(r.headers)).toEqual(['replaced']);
  });

  const cases: [string, RecordInput, BatchContext][] = [
    ['plain', { offsetDelta: 3, timestampDelta: 5, key: Buffer.from('k'), value: Buffer.from('v') }, batch()],
    ['null key and value', { key: null, value: null }, batch()],
    ['negative timestamp delta', { timestampDelta: -86_400_000, key: null, value: Buffer.from('x') }, batch()],
    ['no timestamp (-1)', { timestampDelta: 0, key: null, value: Buffer.from('x') }, batch({ firstTimestamp: '-1' })],
    [
      'log-append time',
      { timestampDelta: 99, key: null, value: Buffer.from('x') },
      batch({ timestampType: 1, maxTimestamp: '1764000005555' }),
    ],
    ['control batch', { key: Buffer.from([0, 0, 0, 0]), value: null }, batch({ isControlBatch: true })],
    [
      'offsets beyond 2^53',
      { offsetDelta: 2_000_000, key: null, value: Buffer.from('x') },
      batch({ firstOffset: '9007199254740993000' }),
    ],
    [
      'a timestamp delta beyond 2^49',
      { timestampDelta: BigInt(2 ** 52) + 3n, key: null, value: Buffer.from('x') },
      batch({ firstTimestamp: '0' }),
    ],
    [
      'many headers, repeated, empty and multi-byte',
      {
        key: Buffer.from('k'),
        value: Buffer.from('v'),
        headers: { a: '1', b: ['2', '3'], 'event-type': 'paystream.ledger.LedgerEntry', a2: '', 'ü-名': 'ö' },
      },
      batch(),
    ],
  ];

  it.each(cases)('one record matches kafkajs exactly: %s', (_name, record, context) => {
    const read = bytes(withLongDelta(record));
    expect(seen(decodeRecord(read(), context))).toEqual(seen(kafkajsRecordDecoder(read(), context)));
  });

  /** A fetch response's record-set bytes holding the given batches back to back, as kafkajs' encoder writes them. */
  const fetched = async (
    batches: { records: RecordInput[]; compression?: number; transactional?: boolean; attributes?: number }[],
  ) => {
    const parts: Buffer[] = [];
    for (const [i, b] of batches.entries()) {
      const { buffer } = await encodeBatch({
        compression: b.compression ?? 0,
        firstOffset: Long.fromValue(1000 * (i + 1)),
        firstTimestamp: 1_764_000_000_000,
        maxTimestamp: 1_764_000_009_999,
        lastOffsetDelta: b.records.length - 1,
        transactional: b.transactional ?? false,
        producerId: Long.fromValue(b.transactional ? 42 : -1),
        producerEpoch: b.transactional ? 3 : 0,
        records: b.records.map((r, k) => encodeRecord(withLongDelta({ offsetDelta: k, ...r }))),
      });
      // Attributes (int16) sit after first offset, length, leader epoch, magic and CRC: control and log-append flags.
      if (b.attributes) buffer.writeInt16BE(buffer.readInt16BE(21) | b.attributes, 21);
      parts.push(buffer);
    }
    return Buffer.concat(parts);
  };

  const decodeAll = async (
    decode: (d: unknown) => Promise<Record<string, unknown>>,
    buffer: Buffer,
  ): Promise<unknown[]> => {
    const d = new Decoder(buffer);
    const out: unknown[] = [];
    while (d.offset < buffer.length) {
      const b = await decode(d);
      out.push({ ...b, records: (b.records as unknown[]).map(seen) });
    }
    return out;
  };

  const records: RecordInput[] = cases.map(([, r]) => r).filter((r) => r.offsetDelta === undefined);
  const batches: [string, Parameters<typeof fetched>[0]][] = [
    ['plain records', [{ records }]],
    ['gzip-compressed', [{ records, compression: 1 }]],
    [
      'transactional, then a control batch',
      [
        { records, transactional: true },
        { records: [records[1] as RecordInput], transactional: true, attributes: 0x20 },
      ],
    ],
    ['log-append time', [{ records, attributes: 0x08 }]],
    ['an empty batch', [{ records: [] }]],
    [
      'paystream-sized: 500 records with four headers',
      [
        {
          records: Array.from({ length: 500 }, (_, i) => ({
            timestampDelta: i,
            key: Buffer.from(`acct-${i % 7}`),
            value: Buffer.alloc(90, i),
            headers: {
              'event-id': `e-${i}`,
              'event-type': 'paystream.ledger.LedgerEntry',
              'correlation-id': `c-${i}`,
              'schema-version': '1',
            },
          })),
        },
      ],
    ],
  ];

  it.each(batches)('whole batches match kafkajs exactly: %s', async (_name, spec) => {
    const buffer = await fetched(spec);
    expect(await decodeAll(decodeRecordBatch as never, buffer)).toEqual(await decodeAll(kafkajsBatchDecoder, buffer));
  });

  it('refuses a truncated batch the way kafkajs does (so the fetch keeps the complete ones)', async () => {
    const buffer = await fetched([{ records }]);
    const cut = buffer.subarray(0, buffer.length - 5);
    await expect(decodeRecordBatch(new Decoder(cut) as never)).rejects.toMatchObject({
      name: 'KafkaJSPartialMessageError',
    });
    await expect(kafkajsBatchDecoder(new Decoder(cut))).rejects.toMatchObject({ name: 'KafkaJSPartialMessageError' });
  });
});
