import {
  encodeRecord,
  encodeRecordBatch,
  kafkajsEncoders,
} from '../../../../services/platform/src/events/kafkajs-record-encoder';
import type { RecordInput } from '../../../../services/platform/src/events/kafkajs-record-encoder';

/* eslint-disable @typescript-eslint/no-require-imports */
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;
const Long = require('kafkajs/src/utils/long') as { fromString(s: string): object; fromValue(v: number): object };
const installedRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: RecordInput) => unknown;
const installedBatch = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch: (b: Record<string, unknown>) => Promise<{ buffer: Buffer; size(): number }>;
  MAGIC_BYTE: number;
};
/* eslint-enable @typescript-eslint/no-require-imports */

const theirs = kafkajsEncoders();
const kafkajsRecord = (r: RecordInput) => (theirs.record?.(r) as { buffer: Buffer }).buffer;
const kafkajsBatch = async (b: Record<string, unknown>) =>
  ((await theirs.recordBatch?.(b)) as { buffer: Buffer }).buffer;

const records: [string, RecordInput][] = [
  ['empty record', {}],
  ['null key and value', { key: null, value: null }],
  [
    'ledger-shaped',
    {
      offsetDelta: 3,
      timestampDelta: 17,
      key: 'acct-00042',
      value: Buffer.from([0, 0, 0, 0, 7, 1, 2, 3, 250, 251]),
      headers: { 'event-id': 'chg:123:result', 'correlation-id': 'op-9', 'causation-id': 'evt-1', 'event-type': 'x' },
    },
  ],
  [
    'string value, Buffer header values, a repeated header',
    {
      key: Buffer.from('k'),
      value: 'ünïcødé 💶',
      headers: { a: Buffer.from([1, 2]), b: ['x', Buffer.from('y'), 'zz'], ключ: 'значение' },
    },
  ],
  ['negative and large deltas', { offsetDelta: 70_000, timestampDelta: -1_234_567, key: '', value: '' }],
  ['timestamp delta beyond 32 bits', { offsetDelta: 2 ** 31 - 1, timestampDelta: 2 ** 40 + 12_345, value: 'v' }],
  ['largest timestamp delta it covers', { timestampDelta: 2 ** 52 - 1, value: 'v' }],
  ['smallest timestamp delta it covers', { timestampDelta: -(2 ** 52 - 1), value: 'v' }],
  [
    'value longer than one varint byte can size',
    { key: 'k', value: Buffer.alloc(300, 7), headers: { h: 'x'.repeat(200) } },
  ],
  ['a 64 KiB value', { key: 'big', value: Buffer.alloc(1 << 16, 1) }],
];

describe('kafkajs record encoder', () => {
  it('is the record and record-batch encoder kafkajs loads', () => {
    expect(installedRecord({ key: 'k', value: 'v' })).toBeInstanceOf(Object);
    expect((installedRecord({ key: 'k', value: 'v' }) as { buffer: Buffer }).buffer).toEqual(
      kafkajsRecord({ key: 'k', value: 'v' }),
    );
    expect(installedBatch.MAGIC_BYTE).toBe(2);
    expect(theirs.record).toBeDefined();
    expect(theirs.recordBatch).toBeDefined();
  });

  it.each(records)('writes the same bytes as kafkajs: %s', (_name, input) => {
    expect(encodeRecord(input)?.buffer).toEqual(kafkajsRecord(input));
    expect(encodeRecord(input)?.size()).toBe(kafkajsRecord(input).length);
  });

  it('leaves what it does not cover to kafkajs, which then encodes it (or refuses it) as before', () => {
    const unsafe = { timestampDelta: 2 ** 60, value: 'v' };
    expect(encodeRecord(unsafe)).toBeUndefined();
    expect(encodeRecord({ timestampDelta: 2 ** 52, value: 'v' })).toBeUndefined();
    expect(encodeRecord({ timestampDelta: -Number.MAX_SAFE_INTEGER, value: 'v' })).toBeUndefined();
    expect(encodeRecord({ offsetDelta: 2 ** 31, value: 'v' })).toBeUndefined();
    expect((installedRecord(unsafe) as { buffer: Buffer }).buffer).toEqual(kafkajsRecord(unsafe));
    expect(encodeRecord({ value: 42 as unknown as string })).toBeUndefined();
    expect(encodeRecord({ headers: { h: null as unknown as string } })).toBeUndefined();
    expect(() => installedRecord({ headers: { h: null as unknown as string } })).toThrow();
  });

  it('writes the same record batches as kafkajs, transactional or not, with CRC-32C over the right bytes', async () => {
    const encoded = records.map(([, r], i) => encodeRecord({ ...r, offsetDelta: i })!);
    const batches: Record<string, unknown>[] = [
      { records: [], firstTimestamp: 0, maxTimestamp: 0 },
      {
        records: encoded,
        firstTimestamp: 1_764_000_000_000,
        maxTimestamp: '1764000000999',
        lastOffsetDelta: encoded.length - 1,
        transactional: true,
        producerId: Long.fromString('9007199254740993'),
        producerEpoch: 7,
        firstSequence: 123_456,
      },
      {
        records: encoded.slice(0, 3),
        firstOffset: Long.fromValue(42),
        partitionLeaderEpoch: 5,
        firstTimestamp: 1,
        maxTimestamp: 2,
        producerId: Long.fromValue(-1),
      },
    ];
    for (const batch of batches) {
      const ours = encodeRecordBatch(batch, crc32C).buffer;
      expect(ours).toEqual(await kafkajsBatch(batch));
      expect((await installedBatch.RecordBatch(batch)).buffer).toEqual(ours);
    }
    // Records made by kafkajs' own encoder (the fallback) go into a batch the same way.
    const mixed = {
      records: [
        encoded[2]!,
        theirs.record?.({ timestampDelta: 2 ** 60, value: 'v' }) as { buffer: Buffer; buf: Buffer },
      ],
      firstTimestamp: 5,
      maxTimestamp: 5,
    };
    expect(encodeRecordBatch(mixed, crc32C).buffer).toEqual(await kafkajsBatch(mixed));
  });

  it('hands compressed batches to kafkajs', async () => {
    const batch = {
      compression: 1,
      records: [encodeRecord({ key: 'k', value: 'v'.repeat(100) })!],
      firstTimestamp: 1,
      maxTimestamp: 1,
    };
    const theirsBytes = await kafkajsBatch(batch);
    expect((await installedBatch.RecordBatch(batch)).buffer).toEqual(theirsBytes);
  });
});
