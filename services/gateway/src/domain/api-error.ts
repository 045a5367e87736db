import type { ErrorCode } from '../../../platform/src/errors';
import { PaystreamError } from '../../../platform/src/errors';

/** HTTP status per platform error code; anything not listed is the server's fault (500) or unavailable (503). */
const STATUS: Partial<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE: 422,
  RATE_LIMITED: 429,
};

/**
 * A client-facing failure: a platform error code (which decides the HTTP status), a stable API code for the body
 * (e.g. INSUFFICIENT_FUNDS, EMAIL_TAKEN) and the request field at fault, if one is.
 */
export class ApiError extends PaystreamError {
  constructor(
    code: ErrorCode,
    readonly apiCode: string,
    message: string,
    readonly field?: string,
  ) {
    super(code, message, { details: field === undefined ? {} : { field } });
  }

  /** A 429 whose `Retry-After` is `retryAfterSeconds` (a plain RATE_LIMITED error gets 1 s). */
  static rateLimited(apiCode: string, message: string, retryAfterSeconds: number, field?: string): ApiError {
    return Object.assign(new ApiError('RATE_LIMITED', apiCode, message, field), { retryAfterSeconds });
  }

  readonly retryAfterSeconds?: number;
}

/** The `Retry-After` of a 429: what the error says, at least 1 s. */
export const retryAfterOf = (err: PaystreamError): number =>
  Math.max(1, Math.ceil((err instanceof ApiError ? err.retryAfterSeconds : undefined) ?? 1));

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/**
 * The response for any error: 4xx for the client's mistakes (with the field named), 503 for retryable
 * infrastructure failures, 500 for the rest. A 5xx body never carries internal detail.
 */
export function errorResponse(err: PaystreamError): { status: number; body: ErrorBody } {
  const status = STATUS[err.code] ?? (err.retryable ? 503 : 500);
  // The gateway's own bound, not a dependency, and said as such: its message names the kind of work, nothing internal.
  if (err.code === 'OVERLOADED') return { status, body: { error: { code: 'OVERLOADED', message: err.message } } };
  if (status >= 500) {
    return {
      status,
      body: {
        error: {
          code: status === 503 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL',
          message:
            status === 503 ? 'a dependency is unavailable; retry with the same Idempotency-Key' : 'internal error',
        },
      },
    };
  }
  const field = typeof err.details.field === 'string' ? err.details.field : undefined;
  return { status, body: errorBody(err instanceof ApiError ? err.apiCode : err.code, err.message, field) };
}

/** The JSON body of every error answer; `field` only where a field is at fault. */
export const errorBody = (code: string, message: string, field?: string): ErrorBody => ({
  error: field === undefined ? { code, message } : { code, message, field },
});

/** A name a client sent, as an error repeats it: at most `max` characters (a body may carry a name of 60 KB). */
export const clipped = (name: string, max = 64): string => (name.length > max ? `${name.slice(0, max)}…` : name);

export const invalid = (field: string, message: string) =>
  new ApiError('VALIDATION_FAILED', 'VALIDATION_FAILED', `${field}: ${message}`, field);
