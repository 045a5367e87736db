/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka's record batches, computed eight bytes
 * per step ("slicing by 8") instead of kafkajs' one: the same value, unsigned, for every input (checked against
 * kafkajs' own in `test/unit/platform/events/crc32c.test.ts`).
 */

const POLY = 0x82f63b78;

/** T[k][b]: the CRC contribution of byte b followed by k zero bytes. */
const T: Int32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  const t0 = tables[0] as Int32Array;
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[b] = c;
  }
  for (let k = 1; k < 8; k++) {
    const prev = tables[k - 1] as Int32Array;
    const cur = tables[k] as Int32Array;
    for (let b = 0; b < 256; b++) cur[b] = (t0[(prev[b] as number) & 0xff] as number) ^ ((prev[b] as number) >>> 8);
  }
  return tables;
})();
const [T0, T1, T2, T3, T4, T5, T6, T7] = T as [
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
];

export function crc32c(buf: Uint8Array): number {
  let crc = -1;
  let i = 0;
  const end8 = buf.length - (buf.length % 8);
  for (; i < end8; i += 8) {
    const lo =
      crc ^
      ((buf[i] as number) |
        ((buf[i + 1] as number) << 8) |
        ((buf[i + 2] as number) << 16) |
        ((buf[i + 3] as number) << 24));
    crc =
      (T7[lo & 0xff] as number) ^
      (T6[(lo >>> 8) & 0xff] as number) ^
      (T5[(lo >>> 16) & 0xff] as number) ^
      (T4[lo >>> 24] as number) ^
      (T3[buf[i + 4] as number] as number) ^
      (T2[buf[i + 5] as number] as number) ^
      (T1[buf[i + 6] as number] as number) ^
      (T0[buf[i + 7] as number] as number);
  }
  for (; i < buf.length; i++) crc = (T0[(crc ^ (buf[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
