import avro from 'avsc';

/**
 * Avro options shared by every encoder and decoder of paystream, so that all of them see the same JavaScript values:
 *
 * - `long` (without a logical type) is a `bigint`: money is minor units in 64-bit integers and must never pass through
 *   a float; avsc's default maps long to `number`, which silently loses precision above 2^53.
 * - `timestamp-millis` is a `Date` (the underlying long stays a number of milliseconds, which is exact).
 *
 * The options object holds no type registry on purpose: avsc writes parsed named types into `opts.registry`, and a
 * registry shared between two versions of the same record would refuse the second one.
 */
const LongAsBigInt = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n);
    return buf;
  },
  fromJSON: (v: unknown) => BigInt(v as string | number | bigint),
  toJSON: (n: bigint) =>
    n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString(),
  isValid: (n: unknown) => typeof n === 'bigint' && n >= -(2n ** 63n) && n < 2n ** 63n,
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

class TimestampMillisType extends avro.types.LogicalType {
  override _fromValue(value: unknown): Date {
    return new Date(value as number);
  }

  override _toValue(value: unknown): number | undefined {
    if (value instanceof Date && !Number.isNaN(value.getTime())) return value.getTime();
    return undefined;
  }

  override _resolve(type: avro.Type): ((v: unknown) => unknown) | undefined {
    if (avro.Type.isType(type, 'long', 'int', 'logical:timestamp-millis')) return this._fromValue.bind(this);
    return undefined;
  }
}

function typeHook(schema: avro.Schema): avro.Type | undefined {
  if (schema === 'long') return LongAsBigInt;
  const s = schema as unknown as { type?: unknown; logicalType?: unknown };
  if (typeof schema === 'object' && !Array.isArray(schema) && s.type === 'long' && s.logicalType === undefined) {
    return LongAsBigInt;
  }
  return undefined;
}

/** Options for `avro.Type.forSchema` and for the schema-registry client; a fresh object every call. */
export function avroOptions(): Partial<avro.ForSchemaOptions> {
  return {
    logicalTypes: { 'timestamp-millis': TimestampMillisType },
    typeHook: typeHook,
    wrapUnions: 'auto',
  };
}

export function parseAvro(schema: avro.Schema): avro.Type {
  return avro.Type.forSchema(schema, avroOptions());
}

/**
 * Why a value does not fit a type, as dotted field paths (`command.amountMinor: expected long`), or [] when it fits.
 */
export function validationErrors(type: avro.Type, value: unknown): string[] {
  const errors: string[] = [];
  type.isValid(value, {
    errorHook: (path: string[], v: unknown, t: avro.Type) => {
      const shown = typeof v === 'bigint' ? `${v}n` : (JSON.stringify(v) ?? String(v));
      errors.push(
        `${path.join('.') || '(value)'}: ${shown === undefined ? 'missing' : shown} is not a valid ${t.typeName.replace(/^abstract:/, '')}`,
      );
    },
  });
  return errors;
}
