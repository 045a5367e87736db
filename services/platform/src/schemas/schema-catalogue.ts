import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { PaystreamError } from '../errors';
import { parseAvro } from '../events/avro-types';

/**
 * The topic catalogue (`schemas/topics.json`) and the event schemas (`schemas/<domain>/<event>.avsc`, one named type
 * per file). A topic's value schema may name types defined in other files; {@link SchemaCatalogue.valueSchema}
 * inlines them (first use defines, later uses refer by name), so the registry receives one self-contained schema per
 * TopicNameStrategy subject.
 */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly cleanupPolicy: 'delete' | 'compact';
  readonly retentionMs: number;
  readonly key: string;
  /** Full name of the value's Avro type. */
  readonly value: string;
  /** Whether `<name>.dlq` exists for poison messages of this topic. */
  readonly dlq: boolean;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/** The repository's schemas/ folder, found from this file whether it runs from the sources or from dist/. */
export function defaultSchemasDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'schemas', 'topics.json');
    if (existsSync(candidate)) return path.dirname(candidate);
    if (path.dirname(dir) === dir) throw new Error(`no schemas/topics.json above ${__dirname}`);
  }
}

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fullName(name: string, namespace: string | undefined): string {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`;
}

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

export class SchemaCatalogue {
  private constructor(
    readonly dir: string,
    readonly topics: readonly TopicSpec[],
    /** Full name → the schema as written in its file. */
    readonly types: ReadonlyMap<string, JsonObject>,
    /** Full name → file path relative to the schemas folder. */
    readonly files: ReadonlyMap<string, string>,
  ) {}

  static load(dir: string = defaultSchemasDir()): SchemaCatalogue {
    const types = new Map<string, JsonObject>();
    const files = new Map<string, string>();
    const walk = (d: string): void => {
      for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const p = path.join(d, entry.name);
        if (entry.isDirectory()) walk(p);
        else if (entry.name.endsWith('.avsc')) {
          const rel = path.relative(dir, p);
          let schema: Json;
          try {
            schema = JSON.parse(readFileSync(p, 'utf8')) as Json;
          } catch (err) {
            throw new PaystreamError('SCHEMA_INVALID', `${rel}: not valid JSON`, { cause: err });
          }
          if (!isObject(schema) || typeof schema.name !== 'string') {
            throw new PaystreamError('SCHEMA_INVALID', `${rel}: expected one named Avro type`);
          }
          const name = fullName(schema.name, typeof schema.namespace === 'string' ? schema.namespace : undefined);
          if (types.has(name)) {
            throw new PaystreamError('SCHEMA_INVALID', `${rel}: ${name} is already defined in ${files.get(name)}`);
          }
          types.set(name, schema);
          files.set(name, rel);
        }
      }
    };
    walk(dir);
    const raw = JSON.parse(readFileSync(path.join(dir, 'topics.json'), 'utf8')) as { topics: TopicSpec[] };
    const catalogue = new SchemaCatalogue(
      dir,
      Object.freeze(raw.topics.map((t) => Object.freeze({ ...t }))),
      types,
      files,
    );
    for (const t of catalogue.topics) catalogue.valueType(t.name);
    return catalogue;
  }

  topic(name: string): TopicSpec {
    const t = this.topics.find((x) => x.name === name);
    if (!t) throw new PaystreamError('TOPIC_UNKNOWN', `topic ${name} is not in the catalogue (schemas/topics.json)`);
    return t;
  }

  /** The self-contained schema of a named type, with every type it names from other files inlined once. */
  schemaOf(typeName: string): JsonObject {
    const root = this.types.get(typeName);
    if (!root) throw new PaystreamError('SCHEMA_NOT_FOUND', `no .avsc file defines ${typeName}`);
    const defined = new Set<string>();
    const inline = (node: Json, ns: string | undefined): Json => {
      if (typeof node === 'string') {
        if (PRIMITIVES.has(node)) return node;
        const name = fullName(node, ns);
        if (defined.has(name)) return name;
        const other = this.types.get(name);
        if (!other) throw new PaystreamError('SCHEMA_INVALID', `${typeName} refers to unknown type ${name}`);
        return inline(structuredClone(other), ns);
      }
      if (Array.isArray(node)) return node.map((n) => inline(n, ns));
      if (!isObject(node)) return node;
      const out: JsonObject = { ...node };
      let innerNs = ns;
      if (
        typeof node.name === 'string' &&
        typeof node.type === 'string' &&
        ['record', 'enum', 'fixed', 'error'].includes(node.type)
      ) {
        const name = fullName(node.name, typeof node.namespace === 'string' ? node.namespace : ns);
        // A type may be defined once per schema; a second definition (from another inlined file) becomes a reference.
        if (defined.has(name)) return name;
        defined.add(name);
        innerNs = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : undefined;
        if (!node.name.includes('.') && typeof node.namespace !== 'string' && innerNs) out.namespace = innerNs;
      }
      if (Array.isArray(node.fields)) {
        out.fields = node.fields.map((f) => (isObject(f) ? { ...f, type: inline(f.type ?? null, innerNs) } : f));
      }
      if (node.type === 'array' && node.items !== undefined) out.items = inline(node.items, innerNs);
      if (node.type === 'map' && node.values !== undefined) out.values = inline(node.values, innerNs);
      if (isObject(node.type) || Array.isArray(node.type)) out.type = inline(node.type, innerNs);
      return out;
    };
    return inline(structuredClone(root), undefined) as JsonObject;
  }

  /** The value schema of a catalogue topic, validated by avsc. */
  valueType(topicName: string) {
    const schema = this.schemaOf(this.topic(topicName).value);
    try {
      return { schema, type: parseAvro(schema as never) };
    } catch (err) {
      throw new PaystreamError('SCHEMA_INVALID', `${topicName}: ${(err as Error).message}`, { cause: err });
    }
  }
}
