import { createKafka } from '../../../../services/platform/src/events/kafka-client';
import { createLogger } from '../../../../services/platform/src/logger';

describe('createKafka', () => {
  /** A client (no broker behind it) whose log lines, at every level, are kept. */
  const recordingKafka = () => {
    const lines: { level: string; msg: string }[] = [];
    const kafka = createKafka({
      brokers: ['127.0.0.1:1'],
      clientId: 'unit',
      logger: createLogger({
        level: 'debug',
        stream: { write: (l: string) => lines.push(JSON.parse(l) as { level: string; msg: string }) },
      }),
    });
    return { kafka, lines };
  };

  it("gives producers Kafka's default (murmur2) partitioner explicitly, so kafkajs has nothing to warn about", () => {
    const { kafka, lines } = recordingKafka();
    kafka.producer();
    kafka.producer({ allowAutoTopicCreation: false });
    expect(lines.filter((l) => JSON.stringify(l).includes('partitioner'))).toEqual([]);
  });

  it("logs kafkajs' warning about an idempotent producer's bounded retries at debug, not as a warning", () => {
    const { kafka, lines } = recordingKafka();
    // One with its own bound, one with the client's (8 retries).
    kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 3 } });
    kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    expect(lines.filter((l) => l.msg.startsWith('Limiting retries')).map((l) => l.level)).toEqual(['debug', 'debug']);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it("logs kafkajs' errors about CONCURRENT_TRANSACTIONS, retried as a matter of course, at debug; other errors as errors", () => {
    const { kafka, lines } = recordingKafka();
    // kafkajs' own wording of the error, so a kafkajs upgrade that changes it fails here.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { errorCodes } = require('kafkajs/src/protocol/error') as { errorCodes: { type: string; message: string }[] };
    const concurrent = errorCodes.find((e) => e.type === 'CONCURRENT_TRANSACTIONS')?.message ?? '';
    expect(concurrent).toMatch(/concurrent operation/);
    // What kafkajs' connection and producer log when the coordinator answers so (the api bench's ledger logged both).
    const log = kafka.logger();
    log.error('Response AddOffsetsToTxn(key: 25, version: 1)', { error: concurrent, correlationId: 27, size: 10 });
    log.error(`Failed to send messages: ${concurrent}`, { retryCount: 0, retryTime: 10 });
    log.error('Response AddOffsetsToTxn(key: 25, version: 1)', { error: 'The producer has been fenced', size: 10 });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['debug', 'Response AddOffsetsToTxn(key: 25, version: 1)'],
      ['debug', `Failed to send messages: ${concurrent}`],
      ['error', 'Response AddOffsetsToTxn(key: 25, version: 1)'],
    ]);
  });
});
