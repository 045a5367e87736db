import type { BinaryType } from '../../../../connectors/postgres-sink/src/domain/copy-binary';
import { encodeBinaryCopy, isBinaryType } from '../../../../connectors/postgres-sink/src/domain/copy-binary';
import type { Cell } from '../../../../connectors/postgres-sink/src/domain/table-mapping';

/** A reader of PostgreSQL's binary COPY format, written from the docs, to check what the encoder wrote. */
function parse(payload: Buffer[], types: readonly BinaryType[]): Cell[][] {
  const b = Buffer.concat(payload);
  expect(b.subarray(0, 11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
  expect(b.readInt32BE(11)).toBe(0);
  expect(b.readInt32BE(15)).toBe(0);
  let at = 19;
  const rows: Cell[][] = [];
  for (;;) {
    const fields = b.readInt16BE(at);
    at += 2;
    if (fields === -1) break;
    expect(fields).toBe(types.length);
    const row: Cell[] = [];
    for (const type of types) {
      const len = b.readInt32BE(at);
      at += 4;
      if (len === -1) {
        row.push(null);
        continue;
      }
      const v = b.subarray(at, at + len);
      at += len;
      if (type === 'int8') row.push(v.readBigInt64BE(0));
      else if (type === 'int4') row.push(v.readInt32BE(0));
      else if (type === 'int2') row.push(v.readInt16BE(0));
      else if (type === 'bool') row.push(v[0] === 1);
      else if (type === 'timestamptz') {
        const us = v.readBigInt64BE(0);
        expect(us % 1000n).toBe(0n); // a Date has whole milliseconds: any other remainder is a rounding error
        row.push(new Date(Number(us / 1000n) + 946_684_800_000));
      } else if (type === 'jsonb') {
        expect(v[0]).toBe(1);
        row.push(v.subarray(1).toString('utf8'));
      } else row.push(v.toString('utf8'));
    }
    rows.push(row);
  }
  expect(at).toBe(b.length);
  return rows;
}

describe('binary COPY encoding', () => {
  const types: BinaryType[] = ['text', 'int8', 'bool', 'timestamptz', 'int4', 'int2', 'jsonb', 'bpchar'];

  it('writes the exact bytes of the format for one row', () => {
    const payload = encodeBinaryCopy(
      ['text', 'int8', 'bool', 'timestamptz'],
      [['é', -2n, true, new Date('2000-01-01T00:00:00.001Z')]],
    );
    expect(Buffer.concat(payload ?? []).toString('hex')).toBe(
      [
        '5047434f50590aff0d0a00', // PGCOPY\n\377\r\n\0
        '00000000', // flags
        '00000000', // header extension length
        '0004', // four fields
        '00000002c3a9', // 'é' in UTF-8
        '00000008fffffffffffffffe', // -2
        '0000000101', // true
        '0000000800000000000003e8', // 1 ms after 2000-01-01 = 1000 µs
        'ffff', // trailer
      ].join(''),
    );
  });

  it('round-trips every supported type, nulls, non-ASCII text and dates on both sides of 2000', () => {
    const rows: Cell[][] = [
      [
        'acct-1',
        9_223_372_036_854_775_807n,
        false,
        new Date('1969-07-20T20:17:40.123Z'),
        -2_147_483_648,
        32_767,
        '{"a":[1,2]}',
        'EUR',
      ],
      [
        'tab\there, newline\nthere, back\\slash — ünïcödé 名',
        -9_223_372_036_854_775_808n,
        true,
        new Date('2262-04-11T23:47:16.854Z'),
        0,
        -32_768,
        '{}',
        'MXN',
      ],
      [null, null, null, null, null, null, null, null],
      ['', 0n, true, new Date(0), 2_147_483_647, 1, '[]', 'USD'],
      // More than 2^53 µs from 2000 either way: exact through BigInt.
      ['far', 1n, true, new Date('9999-12-31T23:59:59.999Z'), 1, 1, '{}', 'EUR'],
      ['far', 1n, true, new Date('-004000-01-01T00:00:00.001Z'), 1, 1, '{}', 'EUR'],
    ];
    expect(parse(encodeBinaryCopy(types, rows) ?? [], types)).toEqual(rows);
  });

  it('renders numbers, booleans and dates into text columns as COPY text would', () => {
    const t: BinaryType[] = ['text', 'text', 'text', 'text', 'varchar'];
    const rows: Cell[][] = [[12n, 3.5, true, new Date('2026-11-24T10:00:00Z'), false]];
    expect(parse(encodeBinaryCopy(t, rows) ?? [], t)).toEqual([['12', '3.5', 't', '2026-11-24T10:00:00.000Z', 'f']]);
  });

  it('spans several chunks for a large batch without losing a byte', () => {
    const t: BinaryType[] = ['text', 'int8'];
    const rows: Cell[][] = Array.from({ length: 30_000 }, (_, i) => [`${'x'.repeat(i % 97)}-${i}-ø`, BigInt(i)]);
    const payload = encodeBinaryCopy(t, rows) ?? [];
    expect(payload.length).toBeGreaterThan(1);
    expect(parse(payload, t)).toEqual(rows);
  });

  it('takes a value larger than any chunk, after small ones and between them', () => {
    const t: BinaryType[] = ['text', 'jsonb'];
    const big = (n: number, c: string) => c.repeat(n);
    const rows: Cell[][] = [
      ['small', '{}'],
      [big(20_000, 'a'), '{}'], // past the first chunk
      ['after', `"${big(3 * 1024 * 1024, 'b')}"`], // past the largest chunk
      [big(5, 'é'), '[]'],
      ...Array.from({ length: 2_000 }, (_, i): Cell[] => [`row-${i}`, `{"i":${i}}`]),
    ];
    const payload = encodeBinaryCopy(t, rows) ?? [];
    expect(payload.length).toBeGreaterThan(2);
    expect(parse(payload, t)).toEqual(rows);
  });

  it.each<[string, BinaryType, Cell]>([
    ['a string for int8', 'int8', '12'],
    ['a fraction for int8', 'int8', 1.5],
    ['int4 out of range', 'int4', 2_147_483_648],
    ['int2 out of range', 'int2', 40_000n],
    ['a string for bool', 'bool', 't'],
    ['a string for timestamptz', 'timestamptz', '2026-11-24T10:00:00Z'],
    ['an invalid date', 'timestamptz', new Date(Number.NaN)],
    ['an invalid date for text', 'text', new Date(Number.NaN)],
    ['a number for jsonb', 'jsonb', 1],
    ['int8 beyond 64 bits', 'int8', 2n ** 63n],
  ])('answers null (COPY text instead) for %s', (_name, type, cell) => {
    expect(encodeBinaryCopy([type], [[cell]])).toBeNull();
  });

  it('answers null for a row of the wrong width, and knows which types it can write', () => {
    expect(encodeBinaryCopy(['text', 'int8'], [['a']])).toBeNull();
    expect(['text', 'int8', 'timestamptz', 'jsonb', 'bpchar'].every(isBinaryType)).toBe(true);
    expect(['numeric', 'uuid', 'date', 'json', 'bytea'].some(isBinaryType)).toBe(false);
  });
});
