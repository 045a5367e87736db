import {
  KafkaJSConnectionError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
} from 'kafkajs';

import { isRetryable, PaystreamError, toPaystreamError } from '../../../services/platform/src/errors';

/** A broker error as kafkajs describes it before wrapping it in KafkaJSProtocolError (its createErrorFromCode). */
const protocolError = (type: string, code: number, retriable: boolean, message: string) =>
  Object.assign(new Error(message), { type, code, retriable });

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

  it("keeps kafkajs' own retry verdict, with the protocol error type", () => {
    // kafkajs' protocol errors as it builds them from a broker's error code: CONCURRENT_TRANSACTIONS (51) is retriable,
    // INVALID_PRODUCER_EPOCH (47, a fenced producer) is not.
    const concurrent = new KafkaJSProtocolError(
      protocolError('CONCURRENT_TRANSACTIONS', 51, true, 'another operation on the same transaction is ongoing'),
    );
    expect(toPaystreamError(concurrent)).toMatchObject({
      code: 'KAFKA_UNAVAILABLE',
      retryable: true,
      details: { kafkaError: 'CONCURRENT_TRANSACTIONS' },
      cause: concurrent,
    });
    const fenced = new KafkaJSProtocolError(
      protocolError('INVALID_PRODUCER_EPOCH', 47, false, 'Producer attempted an operation with an old epoch'),
    );
    expect(toPaystreamError(fenced)).toMatchObject({
      code: 'KAFKA_REFUSED',
      retryable: false,
      details: { kafkaError: 'INVALID_PRODUCER_EPOCH' },
    });
    expect(toPaystreamError(new KafkaJSConnectionError('Connection error: ECONNREFUSED'))).toMatchObject({
      code: 'KAFKA_UNAVAILABLE',
      retryable: true,
    });
    expect(toPaystreamError(new KafkaJSNonRetriableError('Message too large'))).toMatchObject({
      code: 'KAFKA_REFUSED',
      retryable: false,
    });
    // kafkajs gave up retrying a retriable failure: still worth retrying later, not a refusal.
    const exhausted = new KafkaJSNumberOfRetriesExceeded(concurrent, { retryCount: 5, retryTime: 1_000 });
    expect(toPaystreamError(exhausted)).toMatchObject({
      code: 'KAFKA_UNAVAILABLE',
      retryable: true,
      details: { kafkaError: 'CONCURRENT_TRANSACTIONS' },
    });
  });

  it('never decides retry from the message', () => {
    expect(isRetryable(new Error('retryable: please retry'))).toBe(false);
  });
});
