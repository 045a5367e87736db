import { filterAbortedMessages } from '../../../../services/platform/src/events/kafkajs-read-committed';
import type { FetchedMessage } from '../../../../services/platform/src/events/kafkajs-read-committed';

const record = (offset: number, producerId: string, inTransaction = true): FetchedMessage => ({
  offset: String(offset),
  key: Buffer.from(`k${offset}`),
  batchContext: { producerId, inTransaction },
});
const marker = (offset: number, producerId: string, type: 0 | 1): FetchedMessage => ({
  offset: String(offset),
  key: Buffer.from([0, 0, 0, type]),
  isControlRecord: true,
  batchContext: { producerId, inTransaction: true },
});
const offsets = (ms: FetchedMessage[]) => ms.filter((m) => !m.isControlRecord).map((m) => Number(m.offset));

describe('read_committed filtering (kafkajs correction)', () => {
  it('drops records of every aborted transaction that started before a record, not one per record', () => {
    // Three producers each opened a transaction (offsets 10, 11, 12) and all three were aborted; the fetch starts at
    // 12. kafkajs' own filter activated one aborted transaction per record and let 12 and 13 through.
    const messages = [
      record(12, 'C'),
      record(13, 'B'),
      record(14, 'Z', false),
      marker(15, 'A', 0),
      marker(16, 'B', 0),
      marker(17, 'C', 0),
      record(18, 'C'),
    ];
    const aborted = [
      { producerId: 'B', firstOffset: '11' },
      { producerId: 'A', firstOffset: '10' },
      { producerId: 'C', firstOffset: '12' },
    ];
    expect(offsets(filterAbortedMessages({ messages, abortedTransactions: aborted }))).toEqual([14, 18]);
  });

  it('keeps committed transactions of the same producers, and a data record whose key looks like a marker', () => {
    const messages = [
      record(1, 'A'),
      marker(2, 'A', 0),
      record(3, 'A'),
      marker(4, 'A', 1),
      { ...record(5, 'B'), key: Buffer.from([0, 0, 0, 0]) },
      record(6, 'B'),
    ];
    const aborted = [
      { producerId: 'A', firstOffset: '1' },
      { producerId: 'B', firstOffset: '5' },
    ];
    expect(offsets(filterAbortedMessages({ messages, abortedTransactions: aborted }))).toEqual([3]);
  });

  it('is what kafkajs uses once the platform Kafka client is loaded', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('../../../../services/platform/src/events/kafka-client');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Batch = require('kafkajs/src/consumer/batch') as new (
      t: string,
      o: string,
      p: unknown,
    ) => { messages: FetchedMessage[] };
    const batch = new Batch('t', '12', {
      partition: 0,
      highWatermark: '20',
      abortedTransactions: [
        { producerId: 'A', firstOffset: '10' },
        { producerId: 'B', firstOffset: '11' },
        { producerId: 'C', firstOffset: '12' },
      ],
      messages: [record(12, 'C'), record(13, 'B'), record(14, 'Z', false)],
    });
    expect(offsets(batch.messages)).toEqual([14]);
  });
});
