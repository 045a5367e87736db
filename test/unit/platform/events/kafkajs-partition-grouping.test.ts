import {
  groupMessagesPerPartition,
  kafkajsGroupMessagesPerPartition,
} from '../../../../services/platform/src/events/kafkajs-partition-grouping';

/* eslint-disable @typescript-eslint/no-require-imports */
const installed = require('kafkajs/src/producer/groupMessagesPerPartition') as unknown;
/* eslint-enable @typescript-eslint/no-require-imports */

describe('kafkajs partition grouping', () => {
  const partitionMetadata = [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }];
  const messages = Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 7}`, value: `v${i}` }));
  const byKey = ({ message }: { message: { key: string } }) => Number(message.key.slice(1)) % 3;

  it('is the grouping kafkajs loads', () => {
    expect(installed).toBe(groupMessagesPerPartition);
    expect(kafkajsGroupMessagesPerPartition).toBeDefined();
  });

  it('groups like kafkajs: per partition, in the given order, the partitioner called once per message in order', () => {
    const calls: string[] = [];
    const theirCalls: string[] = [];
    const ours = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata,
      messages,
      partitioner: (a) => (calls.push(a.message.value), byKey(a)),
    });
    const theirs = kafkajsGroupMessagesPerPartition!({
      topic: 't',
      partitionMetadata,
      messages,
      partitioner: (a) => (theirCalls.push(a.message.value), byKey(a)),
    });
    expect(ours).toEqual(theirs);
    expect(calls).toEqual(theirCalls);
    expect(calls).toEqual(messages.map((m) => m.value));
    expect(ours[0]?.map((m) => m.value).slice(0, 3)).toEqual(['v0', 'v3', 'v6']);
  });

  it('returns {} without partition metadata, and for no messages', () => {
    const partitioner = () => 0;
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner })).toEqual({});
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata, messages: [], partitioner })).toEqual({});
  });
});
