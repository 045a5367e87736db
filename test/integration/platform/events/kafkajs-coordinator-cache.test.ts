import { integrationEnv } from '../../../support/integration-env';

describe('kafkajs coordinator cache on the real stack', () => {
  const env = integrationEnv('coordcache');
  beforeAll(() => env.provision(['ledger.commands']));
  afterAll(() => env.cleanup());

  it('looks the transaction and group coordinators up once for many transactions, and every transaction commits', async () => {
    const topic = `${env.prefix}ledger.commands`;
    const group = env.group('coordcache');
    const producer = env.kafka.producer({
      transactionalId: `${env.prefix}coordcache-tx`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    const requests = new Map<string, number>();
    producer.on(producer.events.REQUEST, ({ payload }) => {
      requests.set(payload.apiName, (requests.get(payload.apiName) ?? 0) + 1);
    });
    await producer.connect();
    const TRANSACTIONS = 20;
    try {
      for (let i = 0; i < TRANSACTIONS; i++) {
        const tx = await producer.transaction();
        await tx.send({ topic, messages: [{ key: 'k', value: `record ${i}`, partition: 0 }] });
        await tx.sendOffsets({
          consumerGroupId: group,
          topics: [{ topic, partitions: [{ partition: 0, offset: String(i + 1) }] }],
        });
        await tx.commit();
      }
    } finally {
      await producer.disconnect();
    }
    // Without the cache kafkajs asks four times per transaction (AddPartitionsToTxn, AddOffsetsToTxn,
    // TxnOffsetCommit, EndTxn): 80 here. With it: once for the transactional id, once for the group.
    expect(requests.get('GroupCoordinator')).toBe(2);
    expect(requests.get('EndTxn')).toBe(TRANSACTIONS);
    expect(requests.get('TxnOffsetCommit')).toBe(TRANSACTIONS);

    const admin = env.kafka.admin();
    await admin.connect();
    try {
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      expect(offsets?.partitions.find((p) => p.partition === 0)?.offset).toBe(String(TRANSACTIONS));
      const [end] = await admin.fetchTopicOffsets(topic).then((ps) => ps.filter((p) => p.partition === 0));
      // 20 records and 20 commit markers.
      expect(end?.high).toBe(String(2 * TRANSACTIONS));
    } finally {
      await admin.disconnect();
    }
  });
});
