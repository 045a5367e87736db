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
  headers: Record<string, string>;
}

export type Cell = string | bigint | number | boolean | Date | null;

function at(value: unknown, path: string): { found: boolean; value: unknown } {
  let cur: unknown = value;
  for (const part of path.split('/')) {
    if (cur === null || typeof cur !== 'object' || !(part in (cur as Record<string, unknown>)))
      return { found: false, value: undefined };
    cur = (cur as Record<string, unknown>)[part];
  }
  return { found: true, value: cur };
}

/** The row of one event for a mapping, or null when the mapping's filter excludes it. */
export function toRow(mapping: TableMapping, value: unknown, meta: RecordMeta): Cell[] | null {
  const filters = mapping.filter === undefined ? [] : Array.isArray(mapping.filter) ? mapping.filter : [mapping.filter];
  for (const f of filters) if (String(at(value, f.path).value) !== f.equals) return null;
  return Object.values(mapping.columns).map((source): Cell => {
    if (source.startsWith('$has:')) return at(value, source.slice(5)).found;
    if (source.startsWith('$header:')) return meta.headers[source.slice(8)] ?? null;
    if (source.startsWith('$const:')) return source.slice(7);
    if (source.startsWith('$neg:')) {
      const n = at(value, source.slice(5)).value;
      if (typeof n === 'bigint') return -n;
      if (typeof n === 'number') return -n;
      return null;
    }
    if (source === '$topic') return meta.topic;
    if (source === '$partition') return meta.partition;
    if (source === '$offset') return BigInt(meta.offset);
    if (source === '$timestamp') return meta.timestamp;
    const v = at(value, source).value;
    if (v === undefined || v === null) return null;
    if (typeof v === 'object' && !(v instanceof Date))
      return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
    return v as Cell;
  });
}

const NEEDS_ESCAPE = /[\\\t\n\r]/;
const ESCAPES = /[\\\t\n\r]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * One row in PostgreSQL's COPY text format: tab-separated, `\N` for null, backslash escapes for backslash, tab,
 * newline and carriage return.
 */
export function copyLine(row: Cell[]): string {
  return `${row
    .map((c) => {
      if (c === null) return '\\N';
      if (c instanceof Date) return c.toISOString();
      if (typeof c === 'boolean') return c ? 't' : 'f';
      const text = String(c);
      return NEEDS_ESCAPE.test(text) ? text.replace(ESCAPES, (ch) => ESCAPED[ch] ?? ch) : text;
    })
    .join('\t')}\n`;
}

/**
 * Keeps one row per key within a batch (Postgres refuses to touch the same row twice in one INSERT … ON CONFLICT):
 * the first for insert mappings, the highest version (later on ties) for upserts.
 */
export function dedupe(mapping: TableMapping, rows: Cell[][]): Cell[][] {
  const cols = Object.keys(mapping.columns);
  const keyIdx = mapping.key.map((k) => cols.indexOf(k));
  const versionIdx = mapping.version ? cols.indexOf(mapping.version) : -1;
  const byKey = new Map<string, Cell[]>();
  for (const row of rows) {
    const key = keyIdx.map((i) => String(row[i] instanceof Date ? row[i].toISOString() : row[i])).join('\u0000');
    const prev = byKey.get(key);
    if (!prev) byKey.set(key, row);
    else if (mapping.mode === 'upsert') {
      const a = versionIdx >= 0 ? BigInt(String(prev[versionIdx])) : 0n;
      const b = versionIdx >= 0 ? BigInt(String(row[versionIdx])) : 0n;
      if (b >= a) byKey.set(key, row);
    }
  }
  return [...byKey.values()];
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
  }
  return mappings;
}
