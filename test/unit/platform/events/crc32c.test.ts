import { crc32c } from '../../../../services/platform/src/events/crc32c';

/* eslint-disable-next-line @typescript-eslint/no-require-imports */
const kafkajsCrc32C = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;

describe('crc32c', () => {
  it('gives the standard check value and that of the empty input', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it("equals kafkajs' CRC-32C on every length from 0 to 300 and at unaligned offsets of a larger buffer", () => {
    let seed = 7;
    const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) & 255;
    const big = Buffer.from(Array.from({ length: 70_000 }, random));
    for (let n = 0; n <= 300; n++)
      expect([n, crc32c(big.subarray(0, n))]).toEqual([n, kafkajsCrc32C(big.subarray(0, n))]);
    for (const [from, to] of [
      [1, 70_000],
      [3, 65_541],
      [5, 13],
      [0, 70_000],
    ] as const)
      expect(crc32c(big.subarray(from, to))).toBe(kafkajsCrc32C(big.subarray(from, to)));
    expect(crc32c(Buffer.alloc(1_000, 0xff))).toBe(kafkajsCrc32C(Buffer.alloc(1_000, 0xff)));
  });
});
