import avro from 'avsc';

import { parseAvro, validationErrors } from '../../../../services/platform/src/events/avro-types';

describe('avro types', () => {
  const type = parseAvro({
    type: 'record',
    name: 'T',
    namespace: 'test',
    fields: [
      { name: 'amountMinor', type: 'long' },
      { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
      { name: 'note', type: ['null', 'string'], default: null },
    ],
  });

  it('maps long to bigint exactly, beyond 2^53', () => {
    const big = 2n ** 62n + 12345n;
    const value = { amountMinor: big, at: new Date('2026-11-24T10:00:00.123Z'), note: null };
    const back = type.fromBuffer(type.toBuffer(value)) as typeof value;
    expect(back.amountMinor).toBe(big);
    expect(typeof back.amountMinor).toBe('bigint');
  });

  it('round-trips every boundary of the fast and the exact long paths, writing the plain Avro varint', () => {
    const long = parseAvro('long');
    const plain = avro.Type.forSchema('long');
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    const p52 = 2n ** 52n;
    const values = [0n, 1n, -1n, 63n, -64n, 64n, 2n ** 48n - 1n, -(2n ** 48n), 2n ** 48n, -(2n ** 48n) - 1n, 2n ** 49n];
    values.push(p52 - 1n, p52, p52 + 1n, -p52 + 1n, -p52, -p52 - 1n, max, -max, max + 1n, -max - 1n, -max + 2n);
    values.push(2n ** 62n + 12_345n, -(2n ** 62n) - 12_345n, 2n ** 63n - 1n, -(2n ** 63n));
    for (const v of values) {
      const bytes = long.toBuffer(v);
      expect(long.fromBuffer(bytes)).toBe(v);
      // Within ±2^52 the bytes are exactly avsc's plain long encoding of the same number.
      if (v >= -p52 && v <= p52) expect(bytes.toString('hex')).toBe(plain.toBuffer(Number(v)).toString('hex'));
    }
    // −(2^53 − 1): zig-zag 2^54 − 3, odd and above 2^53, which a double cannot hold — the exact path's bytes.
    expect(long.toBuffer(-max).toString('hex')).toBe('fdffffffffffff1f');
    // Zig-zag of 2^63 − 1 is 2^64 − 2, of −2^63 is 2^64 − 1: ten varint bytes each.
    expect(long.toBuffer(2n ** 63n - 1n).toString('hex')).toBe('feffffffffffffffff01');
    expect(long.toBuffer(-(2n ** 63n)).toString('hex')).toBe('ffffffffffffffffff01');
    expect(() => long.toBuffer(5)).toThrow();
    expect(() => long.toBuffer(2n ** 63n)).toThrow();
    expect(() => long.fromBuffer(Buffer.from('ff', 'hex')) as unknown).toThrow(/truncated/);
  });

  it('decodes timestamp-millis as a Date with millisecond precision', () => {
    const at = new Date('2026-11-24T10:00:00.123Z');
    const back = type.fromBuffer(type.toBuffer({ amountMinor: -5n, at, note: 'x' })) as {
      at: Date;
      amountMinor: bigint;
    };
    expect(back.at).toBeInstanceOf(Date);
    expect(back.at.toISOString()).toBe('2026-11-24T10:00:00.123Z');
    expect(back.amountMinor).toBe(-5n);
  });

  it('uses the Avro binary encoding of long (zig-zag varint)', () => {
    // 1 → zig-zag 2 → one byte 0x02; the timestamp 0 → 0x00; null branch → 0x00
    expect(type.toBuffer({ amountMinor: 1n, at: new Date(0), note: null }).toString('hex')).toBe('020000');
  });

  it('refuses money as a JavaScript number and names the field', () => {
    expect(validationErrors(type, { amountMinor: 10.5, at: new Date(0), note: null })).toEqual([
      'amountMinor: 10.5 is not a valid long',
    ]);
    expect(validationErrors(type, { amountMinor: 1n, at: 'yesterday', note: null })[0]).toMatch(/^at: /);
    expect(validationErrors(type, { amountMinor: 1n, at: new Date(0), note: null })).toEqual([]);
  });

  it('refuses a bigint outside the signed 64-bit range', () => {
    expect(validationErrors(type, { amountMinor: 2n ** 63n, at: new Date(0), note: null })).toHaveLength(1);
  });
});
