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
});
