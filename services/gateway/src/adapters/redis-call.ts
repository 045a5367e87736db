import { PaystreamError } from '../../../platform/src/errors';

/**
 * A Redis call whose failure is a {@link PaystreamError}: REDIS_UNAVAILABLE (retryable, so the gateway answers 503) when
 * Redis could not be reached or did not answer in time (a closed connection, ioredis giving up its retries, a command
 * past `commandTimeout`); INTERNAL (not retryable) when Redis answered with an error (`ReplyError`: a wrong type, a
 * broken script), which no retry fixes.
 */
export async function redisCall<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw redisFailure(err);
  }
}

export function redisFailure(err: unknown): PaystreamError {
  if (err instanceof PaystreamError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Error && err.name === 'ReplyError')
    return new PaystreamError('INTERNAL', `redis: ${message}`, { cause: err });
  return PaystreamError.retryable('REDIS_UNAVAILABLE', `redis: ${message}`, { cause: err });
}
