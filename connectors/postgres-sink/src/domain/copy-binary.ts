/**
 * Rows in PostgreSQL's binary COPY format, for the column types the read models use. Pure: no I/O.
 *
 * Binary COPY spares Node the text rendering (ISO timestamps, decimal integers, escaping) and Postgres the parsing.
 * It is an optimisation only: `encodeBinaryCopy` answers null whenever a cell is not exactly what its column's binary
 * form needs (a string for an integer column, a number out of range, a type not listed here), and the caller then
 * writes the rows as COPY text, where Postgres judges them as it always did.
 *
 * Format (PostgreSQL docs, "COPY — Binary Format"): the 11-byte signature `PGCOPY\n\377\r\n\0`, int32 flags (0),
 * int32 header-extension length (0); per row an int16 field count, then per field an int32 byte length (-1 for NULL)
 * and the bytes in network order; an int16 -1 trailer.
 */
import type { Cell } from './table-mapping';
import { cellText } from './table-mapping';

/** Column types (pg_type.typname) written in binary; any other type keeps the table on COPY text. */
export const BINARY_TYPES = [
  'text',
  'varchar',
  'bpchar',
  'int8',
  'int4',
  'int2',
  'bool',
  'timestamptz',
  'jsonb',
] as const;
export type BinaryType = (typeof BINARY_TYPES)[number];

export function isBinaryType(typname: string): typname is BinaryType {
  return (BINARY_TYPES as readonly string[]).includes(typname);
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Milliseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z). */
const PG_EPOCH_MS = 946_684_800_000;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;
const TWO_32 = 2 ** 32;
/** The largest |ms| whose microseconds (ms × 1000) are still exact in a double. */
const EXACT_MS = Math.floor(Number.MAX_SAFE_INTEGER / 1000);
const FIRST_CHUNK = 16 * 1024;
const CHUNK = 1024 * 1024;

/**
 * A growing list of byte chunks; `ensure` opens a new chunk when the current one cannot take `n` more bytes. Chunks
 * start at 16 KiB and double up to 1 MiB (or the one value's size, when larger): the sink's usual batch under live
 * load is tens of rows, and a fresh 1 MiB buffer for each of them cost more in allocation and garbage collection than
 * encoding the rows did.
 */
class Chunks {
  readonly done: Buffer[] = [];
  buf = Buffer.allocUnsafe(FIRST_CHUNK);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.done.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(Math.max(n, Math.min(CHUNK, this.buf.length * 2)));
    this.pos = 0;
  }

  finish(): Buffer[] {
    if (this.pos > 0) this.done.push(this.buf.subarray(0, this.pos));
    return this.done;
  }
}

/** A length-prefixed UTF-8 string; ASCII (the usual ids and codes) is copied byte by byte without a native call. */
function writeText(out: Chunks, s: string, prefix?: number): void {
  const n = s.length;
  const extra = prefix === undefined ? 0 : 1;
  out.ensure(4 + extra + n * 3);
  const { buf } = out;
  const lenAt = out.pos;
  let at = lenAt + 4;
  if (prefix !== undefined) buf[at++] = prefix;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) break;
    buf[at + i] = c;
  }
  const bytes = i === n ? n : buf.write(s, at, 'utf8');
  buf.writeInt32BE(bytes + extra, lenAt);
  out.pos = at + bytes;
}

function asInt(c: Cell, min: bigint, max: bigint): bigint | undefined {
  if (typeof c === 'bigint') return c >= min && c <= max ? c : undefined;
  if (typeof c === 'number' && Number.isSafeInteger(c)) {
    const b = BigInt(c);
    return b >= min && b <= max ? b : undefined;
  }
  return undefined;
}

/** Writes one cell for its column type; false when the cell has no exact binary form there. */
function writeCell(out: Chunks, type: BinaryType, c: Cell): boolean {
  if (c === null) {
    out.ensure(4);
    out.pos = out.buf.writeInt32BE(-1, out.pos);
    return true;
  }
  switch (type) {
    case 'text':
    case 'varchar':
    case 'bpchar':
      if (c instanceof Date && Number.isNaN(c.getTime())) return false;
      writeText(out, cellText(c)); // as COPY text would render it, without the escaping binary does not need
      return true;
    case 'jsonb':
      if (typeof c !== 'string') return false;
      writeText(out, c, 1); // jsonb's binary form: version byte 1, then the JSON text
      return true;
    case 'int8': {
      const v = asInt(c, INT8_MIN, INT8_MAX);
      if (v === undefined) return false;
      out.ensure(12);
      out.pos = out.buf.writeInt32BE(8, out.pos);
      out.pos = out.buf.writeBigInt64BE(v, out.pos);
      return true;
    }
    case 'int4':
    case 'int2': {
      const bytes = type === 'int4' ? 4 : 2;
      const v = asInt(c, -(2n ** BigInt(8 * bytes - 1)), 2n ** BigInt(8 * bytes - 1) - 1n);
      if (v === undefined) return false;
      out.ensure(4 + bytes);
      out.pos = out.buf.writeInt32BE(bytes, out.pos);
      out.pos = out.buf.writeIntBE(Number(v), out.pos, bytes);
      return true;
    }
    case 'bool':
      if (typeof c !== 'boolean') return false;
      out.ensure(5);
      out.pos = out.buf.writeInt32BE(1, out.pos);
      out.buf[out.pos++] = c ? 1 : 0;
      return true;
    case 'timestamptz': {
      if (!(c instanceof Date)) return false;
      const ms = c.getTime();
      if (Number.isNaN(ms)) return false;
      const relMs = ms - PG_EPOCH_MS;
      out.ensure(12);
      out.pos = out.buf.writeInt32BE(8, out.pos);
      if (Math.abs(relMs) <= EXACT_MS) {
        // Microseconds since 2000-01-01 are an exact double here (|µs| ≤ 2^53): split into two 32-bit halves.
        const us = relMs * 1000;
        const hi = Math.floor(us / TWO_32);
        out.pos = out.buf.writeInt32BE(hi, out.pos);
        out.pos = out.buf.writeUInt32BE(us - hi * TWO_32, out.pos);
      } else {
        // Beyond ±285 years from 2000 (2^53 µs), the double product can be off by a few µs: BigInt is exact.
        out.pos = out.buf.writeBigInt64BE(BigInt(relMs) * 1000n, out.pos);
      }
      return true;
    }
  }
}

/**
 * The rows as a binary COPY payload (a list of chunks to send in order), or null when some cell has no exact binary
 * form for its column — then write the rows as COPY text instead.
 */
export function encodeBinaryCopy(types: readonly BinaryType[], rows: readonly Cell[][]): Buffer[] | null {
  const out = new Chunks();
  out.ensure(19);
  out.pos += SIGNATURE.copy(out.buf, out.pos);
  out.pos = out.buf.writeInt32BE(0, out.pos);
  out.pos = out.buf.writeInt32BE(0, out.pos);
  const width = types.length;
  for (const row of rows) {
    if (row.length !== width) return null;
    out.ensure(2);
    out.pos = out.buf.writeInt16BE(width, out.pos);
    for (let i = 0; i < width; i++) {
      if (!writeCell(out, types[i] as BinaryType, row[i] as Cell)) return null;
    }
  }
  out.ensure(2);
  out.pos = out.buf.writeInt16BE(-1, out.pos);
  return out.finish();
}
