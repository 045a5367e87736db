import {
  decodeRecord,
  installRecordDecoder,
  kafkajsRecordDecoder,
} from '../../../../services/platform/src/events/kafkajs-record-decoder';
import type { BatchContext, RecordBytes } from '../../../../services/platform/src/events/kafkajs-record-decoder';

// kafkajs' own protocol encoder and decoder: the record bytes are written exactly as a broker would send them.
/* eslint-disable @typescript-eslint/no-require-imports */
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => RecordBytes & {
  readVarIntBytes(): Buffer | null;
};
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: {
  offsetDelta?: number;
  timestampDelta?: number | bigint | object;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string | (Buffer | string)[]>;
}) => { buffer: Buffer };
const Long = require('kafkajs/src/utils/long') as { fromString(s: string): object };
/* eslint-enable @typescript-eslint/no-require-imports */

/** The record's bytes, as the record-batch decoder hands them to the record decoder (length prefix stripped). */
function bytes(record: Parameters<typeof encodeRecord>[0]): () => RecordBytes {
  const framed = encodeRecord(record).buffer;
  return () => {
    const d = new Decoder(framed);
    return new Decoder(d.readVarIntBytes() ?? Buffer.alloc(0));
  };
}

const batch = (over: Partial<BatchContext> = {}): BatchContext => ({
  firstOffset: '1000',
  firstTimestamp: '1764000000000',
  magicByte: 2,
  isControlBatch: false,
  timestampType: 0,
  maxTimestamp: '1764000009999',
  ...over,
});

describe('kafkajs record decoder replacement', () => {
  beforeAll(() => installRecordDecoder());

  it('is what kafkajs loads, and the original is kept for comparison', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect(require('kafkajs/src/protocol/recordBatch/record/v0/decoder')).toBe(decodeRecord);
    expect(kafkajsRecordDecoder).not.toBe(decodeRecord);
  });

  it('decodes offsets, timestamps, key, value and repeated headers', () => {
    const read = bytes({
      offsetDelta: 7,
      timestampDelta: 1234,
      key: Buffer.from('acct-1'),
      value: Buffer.from([0, 1, 2]),
      headers: { 'event-id': 'e-1', dup: ['a', 'b', 'c'] },
    });
    const r = decodeRecord(read(), batch());
    expect(r.offset).toBe('1007');
    expect(r.timestamp).toBe('1764000001234');
    expect(r.key?.toString()).toBe('acct-1');
    expect([...(r.value ?? [])]).toEqual([0, 1, 2]);
    expect(String(r.headers['event-id'])).toBe('e-1');
    expect((r.headers.dup as Buffer[]).map(String)).toEqual(['a', 'b', 'c']);
  });

  const cases: [string, Parameters<typeof encodeRecord>[0], BatchContext][] = [
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
      'many headers, repeated and null-free',
      {
        key: Buffer.from('k'),
        value: Buffer.from('v'),
        headers: { a: '1', b: ['2', '3'], 'event-type': 'paystream.ledger.LedgerEntry', a2: '' },
      },
      batch(),
    ],
  ];

  it.each(cases)('matches kafkajs exactly: %s', (_name, record, context) => {
    const withLongDelta =
      typeof record.timestampDelta === 'bigint'
        ? { ...record, timestampDelta: Long.fromString(record.timestampDelta.toString()) }
        : record;
    const read = bytes(withLongDelta);
    expect(decodeRecord(read(), context)).toEqual(kafkajsRecordDecoder(read(), context));
  });
});
