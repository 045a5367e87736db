import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import http from 'node:http';
import https from 'node:https';

import type avro from 'avsc';
import type { Response } from 'mappersmith';
import { TimeoutMiddleware } from 'mappersmith/middleware/timeout';

import { PaystreamError } from '../errors';
import type { SchemaCatalogue, TopicSpec } from '../schemas/schema-catalogue';
import { avroOptions, parseAvro, validationErrors } from './avro-types';

/** How long one registry request may take before it is abandoned and sent again (see `EventSchemas.connect`). */
export const REGISTRY_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Schema governance and the Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro binary) for every
 * paystream topic, on `@kafkajs/confluent-schema-registry` against any Confluent-compatible registry (Apicurio's
 * `/apis/ccompat/v7` locally).
 *
 * - Subjects follow TopicNameStrategy: `<physical topic>-value`, where the physical topic is the catalogue name with
 *   the configured prefix (tests use their own prefix, so their subjects never collide).
 * - Compatibility is BACKWARD on every subject, set explicitly; an incompatible change is refused by the registry and
 *   surfaces as SCHEMA_INCOMPATIBLE with the registry's own message.
 * - Schema ids are cached per subject after the first lookup; the registry is not called per message.
 * - Errors: registry unreachable → REGISTRY_UNAVAILABLE (retryable); bad payload bytes → DECODE_FAILED and an id the
 *   registry does not know → SCHEMA_NOT_FOUND (both non-retryable: poison); a value that does not fit its schema →
 *   ENCODE_FAILED naming the field paths.
 */
export class EventSchemas {
  private readonly ids = new Map<string, number>();
  /** Writer schemas by id: immutable in a registry, so never evicted. */
  private readonly types = new Map<number, avro.Type>();
  /** How a payload of each writer schema is read (see `decode`), by schema id. */
  private readonly readers = new Map<number, (payload: Buffer) => unknown>();
  /** The catalogue's current types by full name, parsed on first use; null for a name the catalogue lacks. */
  private readonly currentTypes = new Map<string, avro.Type | null>();

  constructor(
    readonly registry: SchemaRegistry,
    readonly catalogue: SchemaCatalogue,
    readonly topicPrefix = '',
  ) {}

  /**
   * A client of the registry at `url`. Every request has a deadline (`requestTimeoutMs`, default
   * {@link REGISTRY_REQUEST_TIMEOUT_MS}): without one, a request whose answer never arrives waits for ever, and with it
   * whatever needed the schema (a partition's batch, a start-up). A request that times out, fails with a 5xx or with a
   * connection error is sent again, twice at most, after 0.1–0.5 s, whatever its method: every request the client
   * makes (lookups, registering a schema, setting a subject's compatibility) is idempotent, so sending one again is
   * safe. What still fails is REGISTRY_UNAVAILABLE (retryable).
   *
   * Each request has a connection of its own (no keep-alive). Twice, a request sent on a connection the registry
   * (Apicurio 3.3.3) had just answered on was never read: once right after the registry logged a Netty buffer-release
   * error on that answer. Requests are rare (ids and schemas are cached), so a connection each costs nothing.
   */
  static connect(
    url: string,
    catalogue: SchemaCatalogue,
    topicPrefix = '',
    options: { requestTimeoutMs?: number } = {},
  ): EventSchemas {
    const registry = new SchemaRegistry(
      {
        host: url,
        agent: url.startsWith('https:') ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false }),
        retry: {
          retries: 2,
          enableRetry: () => true,
          validateRetry: (response: Response) => response.status() >= 500 || response.error()?.name === 'TimeoutError',
        },
        middlewares: [TimeoutMiddleware(options.requestTimeoutMs ?? REGISTRY_REQUEST_TIMEOUT_MS)],
      },
      { [SchemaType.AVRO]: avroOptions() },
    );
    return new EventSchemas(registry, catalogue, topicPrefix);
  }

  physicalTopic(topic: string): string {
    return `${this.topicPrefix}${topic}`;
  }

  /** Catalogue topic name of a physical topic, or undefined for a topic outside this prefix. */
  logicalTopic(physical: string): string | undefined {
    if (!physical.startsWith(this.topicPrefix)) return undefined;
    return physical.slice(this.topicPrefix.length);
  }

  subject(topic: string): string {
    return `${this.physicalTopic(topic)}-value`;
  }

  /**
   * Registers the topic's value schema (idempotent: the same schema returns the same id).
   * @param schemaOverride a different schema for the subject (used to test evolution and refusals)
   */
  async register(topic: TopicSpec | string, schemaOverride?: object): Promise<{ subject: string; id: number }> {
    const spec = typeof topic === 'string' ? this.catalogue.topic(topic) : topic;
    const subject = this.subject(spec.name);
    const schema = schemaOverride ?? this.catalogue.schemaOf(spec.value);
    try {
      const { id } = await this.registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
        { subject, compatibility: COMPATIBILITY.BACKWARD },
      );
      this.ids.set(subject, id);
      return { subject, id };
    } catch (err) {
      throw mapRegistryError(err, `registering ${subject}`);
    }
  }

  /** The latest schema id of a topic's subject, cached after the first call. */
  async schemaId(topic: string): Promise<number> {
    const subject = this.subject(topic);
    const cached = this.ids.get(subject);
    if (cached !== undefined) return cached;
    try {
      const id = await this.registry.getLatestSchemaId(subject);
      this.ids.set(subject, id);
      return id;
    } catch (err) {
      throw mapRegistryError(err, `looking up ${subject}`);
    }
  }

  async typeOf(schemaId: number): Promise<avro.Type> {
    const known = this.types.get(schemaId);
    if (known) return known;
    try {
      const type = (await this.registry.getSchema(schemaId)) as avro.Type;
      this.types.set(schemaId, type);
      return type;
    } catch (err) {
      throw mapRegistryError(err, `fetching schema ${schemaId}`);
    }
  }

  /**
   * Validates the value against the topic's latest schema, then writes the Confluent wire format. The check is
   * avsc's `isValid` (avsc's encoder alone would silently write some wrong values); only when it fails is the slower
   * path-collecting check run, to name the bad fields.
   */
  async encode(topic: string, value: unknown): Promise<Buffer> {
    const id = await this.schemaId(topic);
    return encodeWith(id, await this.typeOf(id), this.subject(topic), topic, value);
  }

  /**
   * `encode` without waiting: undefined when the topic's schema id or schema has not been fetched yet (call `encode`
   * then). Invalid values throw ENCODE_FAILED as in `encode`. Hot paths use it to avoid a promise per record.
   */
  encodeKnown(topic: string, value: unknown): Buffer | undefined {
    const subject = this.subject(topic);
    const id = this.ids.get(subject);
    const type = id === undefined ? undefined : this.types.get(id);
    return id === undefined || !type ? undefined : encodeWith(id, type, subject, topic, value);
  }

  /**
   * Decodes Confluent wire-format bytes written with the schema the id in the header names (fetched once), into the
   * shape of the catalogue's current version of that type (Avro schema resolution): a record written before a field
   * existed reads with the field's default, as BACKWARD compatibility promises, so code never meets a field its types
   * declare as missing. A payload whose type the catalogue does not define, or cannot resolve (a writer newer than this
   * process, incompatible with it), is read in the writer's own shape.
   */
  async decode(buffer: Buffer | null): Promise<{ value: unknown; schemaId: number }> {
    const { schemaId, payload } = wire(buffer);
    const read = this.readers.get(schemaId) ?? this.readerOf(schemaId, await this.typeOf(schemaId));
    return decodeWith(read, schemaId, payload);
  }

  /**
   * `decode` without waiting: undefined when the writer's schema has not been fetched yet (call `decode` then). Bad
   * bytes throw DECODE_FAILED as in `decode`. Hot paths use it to avoid a promise per record.
   */
  decodeKnown(buffer: Buffer | null): { value: unknown; schemaId: number } | undefined {
    const { schemaId, payload } = wire(buffer);
    let read = this.readers.get(schemaId);
    if (!read) {
      const type = this.types.get(schemaId);
      if (!type) return undefined;
      read = this.readerOf(schemaId, type);
    }
    return decodeWith(read, schemaId, payload);
  }

  /** How payloads of writer schema `schemaId` are read: straight when it is the current version, else resolved. */
  private readerOf(schemaId: number, writer: avro.Type): (payload: Buffer) => unknown {
    const current = writer.name === undefined ? null : this.currentType(writer.name);
    let read = (payload: Buffer): unknown => writer.fromBuffer(payload);
    if (current && !sameSchema(current, writer)) {
      try {
        const resolver = current.createResolver(writer);
        read = (payload) => current.fromBuffer(payload, resolver);
      } catch {
        // Not resolvable: the writer's own shape, as documented on `decode`.
      }
    }
    this.readers.set(schemaId, read);
    return read;
  }

  private currentType(name: string): avro.Type | null {
    let type = this.currentTypes.get(name);
    if (type === undefined) {
      type = this.catalogue.types.has(name) ? parseAvro(this.catalogue.schemaOf(name) as avro.Schema) : null;
      this.currentTypes.set(name, type);
    }
    return type;
  }
}

/** Same fields, types, defaults and logical types: payloads of one read as the other without resolution. */
function sameSchema(a: avro.Type, b: avro.Type): boolean {
  return JSON.stringify(a.schema({ exportAttrs: true })) === JSON.stringify(b.schema({ exportAttrs: true }));
}

/** Where values are written before being copied out at their exact size; grown when a value does not fit. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * The Confluent wire format of a value: magic byte 0, the schema id, the Avro binary. The check is avsc's `isValid`
 * (avsc's encoder alone would silently write some wrong values); only when it fails is the slower path-collecting
 * check run, to name the bad fields.
 */
function encodeWith(id: number, type: avro.Type, subject: string, topic: string, value: unknown): Buffer {
  if (!type.isValid(value)) {
    const problems = validationErrors(type, value);
    throw new PaystreamError('ENCODE_FAILED', `value does not match ${subject}: ${problems.join('; ')}`, {
      details: { topic, fields: problems.map((p) => p.split(':')[0]) },
    });
  }
  try {
    let end = type.encode(value, scratch, 5);
    if (end < 0) {
      // avsc returns minus the bytes missing: grow to fit, with room for the next values.
      scratch = Buffer.allocUnsafe(2 * (scratch.length - end));
      end = type.encode(value, scratch, 5);
    }
    const out = Buffer.allocUnsafe(end);
    scratch.copy(out, 5, 5, end);
    out.writeUInt8(0, 0);
    out.writeInt32BE(id, 1);
    return out;
  } catch (err) {
    throw new PaystreamError('ENCODE_FAILED', `encoding for ${subject}: ${(err as Error).message}`, { cause: err });
  }
}

function wire(buffer: Buffer | null): { schemaId: number; payload: Buffer } {
  if (!buffer || buffer.length < 5 || buffer.readUInt8(0) !== 0) {
    throw new PaystreamError('DECODE_FAILED', 'payload is not in the Confluent wire format (magic byte 0 + schema id)');
  }
  return { schemaId: buffer.readInt32BE(1), payload: buffer.subarray(5) };
}

function decodeWith(
  read: (payload: Buffer) => unknown,
  schemaId: number,
  payload: Buffer,
): { value: unknown; schemaId: number } {
  try {
    return { value: read(payload), schemaId };
  } catch (err) {
    throw new PaystreamError(
      'DECODE_FAILED',
      `payload does not decode with schema ${schemaId}: ${(err as Error).message}`,
      {
        cause: err,
        details: { schemaId },
      },
    );
  }
}

function mapRegistryError(err: unknown, doing: string): PaystreamError {
  if (err instanceof PaystreamError) return err;
  const e = err as { status?: number; message?: string; name?: string };
  const message = e.message ?? String(err);
  if (e.status === 409) return new PaystreamError('SCHEMA_INCOMPATIBLE', `${doing}: ${message}`, { cause: err });
  if (e.name === 'ConfluentSchemaRegistryCompatibilityError') {
    // The subject is configured with another compatibility level than BACKWARD: an operator's decision to review.
    return new PaystreamError('SCHEMA_INVALID', `${doing}: ${message}`, { cause: err });
  }
  if (e.status === 404) return new PaystreamError('SCHEMA_NOT_FOUND', `${doing}: ${message}`, { cause: err });
  if (
    e.status === 422 ||
    e.name === 'ConfluentSchemaRegistryArgumentError' ||
    e.name === 'ConfluentSchemaRegistryInvalidSchemaError'
  ) {
    return new PaystreamError('SCHEMA_INVALID', `${doing}: ${message}`, { cause: err });
  }
  if (e.name === 'ConfluentSchemaRegistryValidationError') {
    return new PaystreamError('ENCODE_FAILED', `${doing}: ${message}`, { cause: err });
  }
  return PaystreamError.retryable('REGISTRY_UNAVAILABLE', `${doing}: ${message}`, { cause: err });
}
