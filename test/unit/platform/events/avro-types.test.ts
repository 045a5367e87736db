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
