/**
 * The one error type of paystream. Every failure that crosses a module boundary is a {@link PaystreamError} with a
 * stable {@link ErrorCode} and a `retryable` flag; retry decisions read those two, never the message.
 *
 * - retryable: the same input may succeed later (broker or registry unreachable, a lock timeout, a database restart);
 * - non-retryable: the input itself is wrong (undecodable payload, unknown schema, failed validation) and is routed to
 *   a dead-letter topic or answered with a 4xx.
 */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'VALIDATION_FAILED',
  'SCHEMA_NOT_FOUND',
  'SCHEMA_INVALID',
  'SCHEMA_INCOMPATIBLE',
  'REGISTRY_UNAVAILABLE',
  'DECODE_FAILED',
  'ENCODE_FAILED',
  'TOPIC_UNKNOWN',
  'KAFKA_UNAVAILABLE',
  'KAFKA_REFUSED',
  'DATABASE_UNAVAILABLE',
  'DATABASE_REFUSED',
  'REDIS_UNAVAILABLE',
  'ROW_REJECTED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'CONFLICT',
  'UNPROCESSABLE',
  'RATE_LIMITED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'SHUTTING_DOWN',
  'OVERLOADED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface PaystreamErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** Structured context for logs and dead-letter headers; must never hold secrets or full account numbers. */
  details?: Record<string, unknown>;
}

export class PaystreamError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: PaystreamErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PaystreamError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  static retryable(code: ErrorCode, message: string, options: Omit<PaystreamErrorOptions, 'retryable'> = {}) {
    return new PaystreamError(code, message, { ...options, retryable: true });
  }

  static nonRetryable(code: ErrorCode, message: string, options: Omit<PaystreamErrorOptions, 'retryable'> = {}) {
    return new PaystreamError(code, message, { ...options, retryable: false });
  }
}

/**
 * Any throwable as a PaystreamError. kafkajs errors (recognised by their `KafkaJS…` name; this module imports no
 * client library) keep kafkajs' own verdict: a retriable one — and one kafkajs gave up retrying
 * (`KafkaJSNumberOfRetriesExceeded`: the broker was unreachable or busy for longer than its retries) — becomes
 * retryable KAFKA_UNAVAILABLE, any other KAFKA_REFUSED (not retryable: a fenced producer, an oversized record, a
 * refused authorization); the protocol error type, when there is one, goes to `details.kafkaError`. Anything else
 * unknown is a non-retryable INTERNAL error.
 */
export function toPaystreamError(err: unknown): PaystreamError {
  if (err instanceof PaystreamError) return err;
  if (err instanceof Error && err.name.startsWith('KafkaJS')) return fromKafkaJs(err);
  const message = err instanceof Error ? err.message : String(err);
  return new PaystreamError('INTERNAL', message, { cause: err });
}

function fromKafkaJs(err: Error): PaystreamError {
  const gaveUp = err.name === 'KafkaJSNumberOfRetriesExceeded';
  const root = (gaveUp && err.cause instanceof Error ? err.cause : err) as Error & {
    retriable?: unknown;
    type?: unknown;
  };
  const retryable = gaveUp || root.retriable === true;
  const details = typeof root.type === 'string' ? { kafkaError: root.type } : {};
  return new PaystreamError(retryable ? 'KAFKA_UNAVAILABLE' : 'KAFKA_REFUSED', err.message, {
    retryable,
    cause: err,
    details,
  });
}

export function isRetryable(err: unknown): boolean {
  return err instanceof PaystreamError && err.retryable;
}
