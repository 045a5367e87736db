/**
 * Declarative topic → table mappings for the COPY sink, and the pure functions that turn a decoded event into a
 * row and rows into COPY text. A domain adds read models by adding a mapping file, not sink code.
 *
 * Column sources:
 *   "a/b/c"             a path into the decoded Avro value ('/' separates fields, so union branches such as
 *                       "outcome/paystream.ledger.CommandAccepted/balanceAfterMinor" keep their dots)
 *   "$has:a/b"          true when the path exists (e.g. which union branch a result took)
 *   "$header:<name>"    a Kafka header (e.g. "$header:event-id")
 *   "$topic", "$partition", "$offset", "$timestamp"  record coordinates
 *   "$const:<text>"     a constant
 *   "$neg:a/b"          the negated integer at a path (e.g. an attempted debit shown as a negative amount)
 *   "$first:a,b"        the first of several paths holding a value (e.g. a field older records lack, then a fallback)
 *
 * With `each` (a path to an array in the value), the mapping makes one row per element: paths in columns read the
 * element, filters read the whole record.
 */
export interface TableMapping {
  /** Unique name of the mapping (a topic may feed several tables). */
  name: string;
  /** Catalogue topic name. */
  topic: string;
  table: string;
  columns: Record<string, string>;
  /** Conflict target: the event's identity in the table. */
  key: string[];
  /** insert: first write wins (ON CONFLICT DO NOTHING); upsert: the highest `version` wins. */
  mode: 'insert' | 'upsert';
  version?: string;
  /** Monthly range partitions on this timestamp column, created by the sink before writing. */
  partitionByMonth?: string;
  /**
   * Only records whose value at `path` equals `equals` (string comparison) are mapped; with a list, every condition
   * must hold.
   */
  filter?: MappingFilter | MappingFilter[];
  /**
   * A path to an array in the value: one row per element, its columns read from the element (e.g. the legs a ledger
   * result carries). A record without the array, or with an empty one, maps to no row.
   */
  each?: string;
}

export interface MappingFilter {
  path: string;
  equals: string;
}

export interface RecordMeta {
  topic: string;
  partition: number;
  offset: string;
  timestamp: Date;
  /** The record's headers as strings; the sink decodes only those its mappings read (`CompiledMapping.headers`). */
  headers: Record<string, string>;
}

export type Cell = string | bigint | number | boolean | Date | null;

const MISSING: unique symbol = Symbol('missing');
type Getter = (value: unknown) => unknown;

/** A reader for a '/'-separated path, split once; MISSING when a step is absent. */
function getter(path: string): Getter {
  const parts = path.split('/');
  return (value) => {
    let cur: unknown = value;
    for (const part of parts) {
      if (cur === null || typeof cur !== 'object' || !(part in cur)) return MISSING;
      cur = (cur as Record<string, unknown>)[part];
    }
    return cur;
  };
}

type Source = (value: unknown, meta: RecordMeta) => Cell;

function source(spec: string): { read: Source; header?: string } {
  if (spec.startsWith('$has:')) {
    const get = getter(spec.slice(5));
    return { read: (v) => get(v) !== MISSING };
  }
  if (spec.startsWith('$header:')) {
    const name = spec.slice(8);
    return { read: (_v, meta) => meta.headers[name] ?? null, header: name };
  }
  if (spec.startsWith('$const:')) {
    const text = spec.slice(7);
    return { read: () => text };
  }
  if (spec.startsWith('$neg:')) {
    const get = getter(spec.slice(5));
    return {
      read: (v) => {
        const n = get(v);
        return typeof n === 'bigint' || typeof n === 'number' ? -n : null;
      },
    };
  }
  if (spec.startsWith('$first:')) {
    const reads = spec
      .slice(7)
      .split(',')
      .map((path) => source(path.trim()).read);
    return {
      read: (v, meta) => {
        for (const read of reads) {
          const cell = read(v, meta);
          if (cell !== null) return cell;
        }
        return null;
      },
    };
  }
  if (spec === '$topic') return { read: (_v, meta) => meta.topic };
  if (spec === '$partition') return { read: (_v, meta) => meta.partition };
  if (spec === '$offset') return { read: (_v, meta) => BigInt(meta.offset) };
  if (spec === '$timestamp') return { read: (_v, meta) => meta.timestamp };
  const get = getter(spec);
  return {
    read: (value) => {
      const v = get(value);
      if (v === MISSING || v === undefined || v === null) return null;
      if (typeof v === 'object' && !(v instanceof Date))
        return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
      return v as Cell;
    },
  };
}

/** A mapping with its paths parsed once: the per-record work of the sink. */
export interface CompiledMapping {
  readonly mapping: TableMapping;
  /** The headers the mapping reads (only these need decoding). */
  readonly headers: readonly string[];
  /** The rows of one event: none when the mapping's filter excludes it, one per element with `each`, else one. */
  rows(value: unknown, meta: RecordMeta): Cell[][];
  /** The row's identity within a batch (its key columns). */
  key: (row: Cell[]) => string;
}

function compileMapping(mapping: TableMapping): CompiledMapping {
  const filters = (
    mapping.filter === undefined ? [] : Array.isArray(mapping.filter) ? mapping.filter : [mapping.filter]
  ).map((f) => ({ get: getter(f.path), equals: f.equals }));
  const sources = Object.values(mapping.columns).map(source);
  const reads = sources.map((s) => s.read);
  const cols = Object.keys(mapping.columns);
  const keyIdx = mapping.key.map((k) => cols.indexOf(k));
  const cellKey = (c: Cell | undefined) => String(c instanceof Date ? c.toISOString() : c);
  const single = keyIdx.length === 1 ? (keyIdx[0] ?? 0) : -1;
  const each = mapping.each === undefined ? undefined : getter(mapping.each);
  const row = (value: unknown, meta: RecordMeta): Cell[] => {
    const cells = new Array<Cell>(reads.length);
    for (let i = 0; i < reads.length; i++) cells[i] = (reads[i] as Source)(value, meta);
    return cells;
  };
  return {
    mapping,
    headers: sources.flatMap((s) => (s.header === undefined ? [] : [s.header])),
    rows(value, meta) {
      for (const f of filters) {
        const v = f.get(value);
        if (String(v === MISSING ? undefined : v) !== f.equals) return [];
      }
      if (!each) return [row(value, meta)];
      const items = each(value);
      return Array.isArray(items) ? items.map((item: unknown) => row(item, meta)) : [];
    },
    key: single >= 0 ? (row) => cellKey(row[single]) : (row) => keyIdx.map((i) => cellKey(row[i])).join('\u0000'),
  };
}

const compiled = new WeakMap<TableMapping, CompiledMapping>();

/** `compileMapping`, cached per mapping object. */
export function compiledMapping(mapping: TableMapping): CompiledMapping {
  let c = compiled.get(mapping);
  if (!c) {
    c = compileMapping(mapping);
    compiled.set(mapping, c);
  }
  return c;
}

/** The rows of one event for a mapping (none when the mapping's filter excludes it). */
export function toRows(mapping: TableMapping, value: unknown, meta: RecordMeta): Cell[][] {
  return compiledMapping(mapping).rows(value, meta);
}

const NEEDS_ESCAPE = /[\\\t\n\r]/;
const ESCAPES = /[\\\t\n\r]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A non-null cell as Postgres text input: ISO-8601 for dates, `t`/`f` for booleans, decimal for numbers. */
export function cellText(c: Exclude<Cell, null>): string {
  if (typeof c === 'string') return c;
  if (c instanceof Date) return c.toISOString();
  if (typeof c === 'boolean') return c ? 't' : 'f';
  return String(c);
}

function copyCell(c: Cell | undefined): string {
  if (c === null || c === undefined) return '\\N';
  // Only strings can hold a character COPY text escapes.
  if (typeof c === 'string') return NEEDS_ESCAPE.test(c) ? c.replace(ESCAPES, (ch) => ESCAPED[ch] ?? ch) : c;
  return cellText(c);
}

/**
 * One row in PostgreSQL's COPY text format: tab-separated, `\N` for null, backslash escapes for backslash, tab,
 * newline and carriage return.
 */
export function copyLine(row: Cell[]): string {
  let line = copyCell(row[0]);
  for (let i = 1; i < row.length; i++) line += `\t${copyCell(row[i])}`;
  return `${line}\n`;
}

/** Many rows as one COPY text payload. */
export function copyText(rows: Cell[][]): string {
  let text = '';
  for (const row of rows) text += copyLine(row);
  return text;
}

/**
 * Keeps one row per key within a batch (Postgres refuses to touch the same row twice in one INSERT … ON CONFLICT):
 * the first for insert mappings, the highest version (later on ties) for upserts.
 */
export function dedupe(mapping: TableMapping, rows: Cell[][]): Cell[][] {
  const { key } = compiledMapping(mapping);
  const versionIdx = mapping.version ? Object.keys(mapping.columns).indexOf(mapping.version) : -1;
  const byKey = new Map<string, Cell[]>();
  for (const row of rows) {
    const k = key(row);
    const prev = byKey.get(k);
    if (!prev) byKey.set(k, row);
    else if (mapping.mode === 'upsert') {
      const a = versionIdx >= 0 ? BigInt(String(prev[versionIdx])) : 0n;
      const b = versionIdx >= 0 ? BigInt(String(row[versionIdx])) : 0n;
      if (b >= a) byKey.set(k, row);
    }
  }
  return byKey.size === rows.length ? rows : [...byKey.values()];
}

/**
 * The rows in the one order every writer shares: by their key, as the mapping renders it. Row locks taken in one global
 * order cannot form a cycle, so two transactions that write some of the same rows (in any order they were given)
 * wait for each other instead of deadlocking.
 */
export function inKeyOrder(mapping: TableMapping, rows: Cell[][]): Cell[][] {
  const { key } = compiledMapping(mapping);
  const keyed = rows.map((row) => ({ k: key(row), row }));
  keyed.sort((a, b) => byCodeUnits(a.k, b.k));
  return keyed.map((r) => r.row);
}

/** The one string order writers lock in: by UTF-16 code units, the same on every process whatever its locale. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The UTC months ('YYYY-MM') of the timestamps in column `index` of `rows`, each once; null when a cell there is not
 * a Date (the caller then asks the database). Monthly partitions are named and bounded by these.
 */
export function utcMonths(rows: readonly Cell[][], index: number): string[] | null {
  const months = new Set<string>();
  for (const row of rows) {
    const cell = row[index];
    if (!(cell instanceof Date) || Number.isNaN(cell.getTime())) return null;
    const y = cell.getUTCFullYear();
    if (y < 1 || y > 9999) return null;
    months.add(`${String(y).padStart(4, '0')}-${String(cell.getUTCMonth() + 1).padStart(2, '0')}`);
  }
  return [...months];
}

/** Validates a mapping file's content; the message names the mapping and the field. */
export function checkMappings(mappings: TableMapping[]): TableMapping[] {
  const names = new Set<string>();
  const ident = /^[a-z_][a-z0-9_]*$/;
  for (const m of mappings) {
    const where = `mapping ${m.name ?? '(unnamed)'}`;
    if (!m.name || names.has(m.name)) throw new Error(`${where}: name missing or repeated`);
    names.add(m.name);
    if (!ident.test(m.table)) throw new Error(`${where}: table must be a plain identifier`);
    for (const c of Object.keys(m.columns))
      if (!ident.test(c)) throw new Error(`${where}: column ${c} must be a plain identifier`);
    for (const k of m.key) if (!(k in m.columns)) throw new Error(`${where}: key column ${k} is not mapped`);
    if (m.mode === 'upsert' && (!m.version || !(m.version in m.columns)))
      throw new Error(`${where}: upsert needs a mapped version column`);
    if (m.partitionByMonth && !(m.partitionByMonth in m.columns))
      throw new Error(`${where}: partitionByMonth column is not mapped`);
    if (m.each !== undefined && (typeof m.each !== 'string' || m.each === ''))
      throw new Error(`${where}: each must be a path to an array`);
  }
  return mappings;
}
