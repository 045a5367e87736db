import { isRetryable, PaystreamError, toPaystreamError } from '../../../services/platform/src/errors';

describe('PaystreamError', () => {
  it('carries a stable code and the retry decision', () => {
    const e = PaystreamError.retryable('KAFKA_UNAVAILABLE', 'broker down');
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('KAFKA_UNAVAILABLE');
    expect(isRetryable(e)).toBe(true);
    expect(isRetryable(PaystreamError.nonRetryable('DECODE_FAILED', 'garbage'))).toBe(false);
  });

  it('treats unknown throwables as non-retryable INTERNAL errors, keeping the cause', () => {
    const cause = new TypeError('boom');
    const e = toPaystreamError(cause);
    expect(e.code).toBe('INTERNAL');
    expect(e.retryable).toBe(false);
    expect(e.cause).toBe(cause);
    expect(toPaystreamError('text').message).toBe('text');
  });

  it('never decides retry from the message', () => {
    expect(isRetryable(new Error('retryable: please retry'))).toBe(false);
  });
});
