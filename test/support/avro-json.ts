/**
 * Converts a value as our event library decodes it (bigint longs, Date timestamps, avsc's unwrapped nullable unions
 * and wrapped record unions) into Avro's standard JSON encoding, the form Apache Avro's own tools print: every
 * non-null union value is wrapped in an object keyed by its branch's type name. Used to compare our decoding with
 * avro-tools' byte for byte.
 */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function branchName(schema: Json, ns: string | undefined): string {
  if (typeof schema === 'string')
    return schema.includes('.') || !ns || isPrimitive(schema) ? schema : `${ns}.${schema}`;
  if (schema && typeof schema === 'object' && !Array.isArray(schema)) {
    if (typeof schema.name === 'string') {
      const n = schema.name;
      const space = typeof schema.namespace === 'string' ? schema.namespace : ns;
      return n.includes('.') || !space ? n : `${space}.${n}`;
    }
    return typeof schema.type === 'string' ? schema.type : JSON.stringify(schema.type);
  }
  throw new Error('unsupported union branch');
}

function isPrimitive(s: string) {
  return ['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string'].includes(s);
}

export function toAvroJson(schema: Json, value: unknown, named = new Map<string, Json>(), ns?: string): Json {
  if (typeof schema === 'string') {
    if (isPrimitive(schema)) {
      if (typeof value === 'bigint') return Number(value);
      return value as Json;
    }
    const full = schema.includes('.') || !ns ? schema : `${ns}.${schema}`;
    const def = named.get(full);
    if (def === undefined) throw new Error(`unknown named type ${full}`);
    return toAvroJson(def, value, named, ns);
  }
  if (Array.isArray(schema)) {
    if (value === null) return null;
    const nonNull = schema.filter((b) => b !== 'null');
    if (nonNull.length === 1 && nonNull[0] !== undefined) {
      return { [branchName(nonNull[0], ns)]: toAvroJson(nonNull[0], value, named, ns) };
    }
    const [key, inner] = Object.entries(value as Record<string, unknown>)[0] ?? [];
    const branch = nonNull.find((b) => branchName(b, ns) === key);
    if (key === undefined || branch === undefined) throw new Error(`no union branch ${key}`);
    return { [key]: toAvroJson(branch, inner, named, ns) };
  }
  if (schema === null || typeof schema !== 'object') throw new Error('bad schema');
  if (schema.logicalType === 'timestamp-millis') return (value as Date).getTime();
  switch (schema.type) {
    case 'record': {
      const full = branchName(schema, ns);
      named.set(full, schema);
      const space = full.includes('.') ? full.slice(0, full.lastIndexOf('.')) : undefined;
      const out: { [k: string]: Json } = {};
      for (const f of schema.fields as { name: string; type: Json }[]) {
        out[f.name] = toAvroJson(f.type, (value as Record<string, unknown>)[f.name], named, space);
      }
      return out;
    }
    case 'enum':
      named.set(branchName(schema, ns), schema);
      return value as string;
    case 'array':
      return (value as unknown[]).map((v) => toAvroJson(schema.items ?? null, v, named, ns));
    case 'map':
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([k, v]) => [
          k,
          toAvroJson(schema.values ?? null, v, named, ns),
        ]),
      );
    default:
      return toAvroJson(schema.type ?? null, value, named, ns);
  }
}
