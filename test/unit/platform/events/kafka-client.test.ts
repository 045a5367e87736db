import { createKafka } from '../../../../services/platform/src/events/kafka-client';
import { createLogger } from '../../../../services/platform/src/logger';

describe('createKafka', () => {
  it("gives producers Kafka's default (murmur2) partitioner explicitly, so kafkajs has nothing to warn about", () => {
    const lines: string[] = [];
    const kafka = createKafka({
      brokers: ['127.0.0.1:1'],
      clientId: 'unit',
      logger: createLogger({ level: 'debug', stream: { write: (l: string) => lines.push(l) } }),
    });
    kafka.producer();
    kafka.producer({ allowAutoTopicCreation: false });
    expect(lines.filter((l) => l.includes('partitioner'))).toEqual([]);
  });

  it("logs kafkajs' warning about an idempotent producer's bounded retries at debug, not as a warning", () => {
    const lines: { level: string; msg: string }[] = [];
    const kafka = createKafka({
      brokers: ['127.0.0.1:1'],
      clientId: 'unit',
      logger: createLogger({
        level: 'debug',
        stream: { write: (l: string) => lines.push(JSON.parse(l) as { level: string; msg: string }) },
      }),
    });
    // One with its own bound, one with the client's (8 retries).
    kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 3 } });
    kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    expect(lines.filter((l) => l.msg.startsWith('Limiting retries')).map((l) => l.level)).toEqual(['debug', 'debug']);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
  });
});
