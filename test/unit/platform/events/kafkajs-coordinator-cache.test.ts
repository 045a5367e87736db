import {
  cachedCoordinatorLookup,
  invalidatesCoordinator,
} from '../../../../services/platform/src/events/kafkajs-coordinator-cache';

const protocolError = (type: string) =>
  Object.assign(new Error(`protocol error ${type}`), { name: 'KafkaJSProtocolError', type });

/** A stand-in for a kafkajs Broker: one request method that fails with `failure` while it is set. */
class FakeBroker {
  failure: Error | undefined;
  constructor(readonly nodeId: number) {}
  async addOffsetsToTxn(): Promise<string> {
    await Promise.resolve();
    if (this.failure) throw this.failure;
    return `ok from ${this.nodeId}`;
  }
  describe(): string {
    return `broker ${this.nodeId}`;
  }
}

function lookupOver(brokers: FakeBroker[]) {
  const calls: { groupId: string; coordinatorType?: number }[] = [];
  let next = 0;
  const lookup = function (params: { groupId: string; coordinatorType?: number }) {
    calls.push(params);
    const b = brokers[Math.min(next++, brokers.length - 1)];
    return b ? Promise.resolve(b) : Promise.reject(new Error('no coordinator'));
  };
  return { calls, lookup };
}

describe('cachedCoordinatorLookup', () => {
  it('asks once per cluster, coordinator type and group, sharing a lookup in flight', async () => {
    const { calls, lookup } = lookupOver([new FakeBroker(1), new FakeBroker(2), new FakeBroker(3)]);
    const find = cachedCoordinatorLookup(lookup);
    const cluster = {};
    const [a, b] = await Promise.all([
      find.call(cluster, { groupId: 'tx-1', coordinatorType: 1 }),
      find.call(cluster, { groupId: 'tx-1', coordinatorType: 1 }),
    ]);
    await find.call(cluster, { groupId: 'tx-1', coordinatorType: 1 });
    expect(a.nodeId).toBe(1);
    expect(b.nodeId).toBe(1);
    expect(calls).toHaveLength(1);
    // Another key, another type, another cluster: each looked up on its own.
    expect((await find.call(cluster, { groupId: 'tx-1' })).nodeId).toBe(2);
    expect((await find.call({}, { groupId: 'tx-1', coordinatorType: 1 })).nodeId).toBe(3);
    expect(calls).toEqual([
      { groupId: 'tx-1', coordinatorType: 1 },
      { groupId: 'tx-1' },
      { groupId: 'tx-1', coordinatorType: 1 },
    ]);
  });

  it('keeps a coordinator through other errors and forgets it on NOT_COORDINATOR before the caller sees the error, so a retry looks it up again', async () => {
    const first = new FakeBroker(1);
    const second = new FakeBroker(2);
    const { calls, lookup } = lookupOver([first, second]);
    const find = cachedCoordinatorLookup(lookup);
    const cluster = {};
    const coordinator = await find.call(cluster, { groupId: 'g', coordinatorType: 0 });
    expect(await coordinator.addOffsetsToTxn()).toBe('ok from 1');
    expect(coordinator.describe()).toBe('broker 1');
    expect(coordinator).toBeInstanceOf(FakeBroker);
    // From the right coordinator: it stays remembered.
    first.failure = protocolError('CONCURRENT_TRANSACTIONS');
    await expect(coordinator.addOffsetsToTxn()).rejects.toMatchObject({ type: 'CONCURRENT_TRANSACTIONS' });
    expect(await find.call(cluster, { groupId: 'g', coordinatorType: 0 })).toBe(coordinator);
    expect(calls).toHaveLength(1);
    first.failure = protocolError('NOT_COORDINATOR_FOR_GROUP');
    await expect(coordinator.addOffsetsToTxn()).rejects.toMatchObject({ type: 'NOT_COORDINATOR_FOR_GROUP' });
    const again = await find.call(cluster, { groupId: 'g', coordinatorType: 0 });
    expect(await again.addOffsetsToTxn()).toBe('ok from 2');
    expect(calls).toHaveLength(2);
    // A late failure of the forgotten coordinator does not evict its successor.
    await expect(coordinator.addOffsetsToTxn()).rejects.toThrow('NOT_COORDINATOR_FOR_GROUP');
    await find.call(cluster, { groupId: 'g', coordinatorType: 0 });
    expect(calls).toHaveLength(2);
  });

  it('forgets on the coordinator errors and on anything that is not a protocol error (a lost connection, a timeout)', () => {
    expect(invalidatesCoordinator(protocolError('NOT_COORDINATOR_FOR_GROUP'))).toBe(true);
    expect(invalidatesCoordinator(protocolError('GROUP_COORDINATOR_NOT_AVAILABLE'))).toBe(true);
    expect(invalidatesCoordinator(Object.assign(new Error('closed'), { name: 'KafkaJSConnectionError' }))).toBe(true);
    expect(invalidatesCoordinator(Object.assign(new Error('slow'), { name: 'KafkaJSRequestTimeoutError' }))).toBe(true);
    expect(invalidatesCoordinator(new Error('ECONNREFUSED'))).toBe(true);
    expect(invalidatesCoordinator(protocolError('CONCURRENT_TRANSACTIONS'))).toBe(false);
    expect(invalidatesCoordinator(protocolError('INVALID_PRODUCER_EPOCH'))).toBe(false);
    expect(invalidatesCoordinator(protocolError('GROUP_LOAD_IN_PROGRESS'))).toBe(false);
  });

  it('never remembers a failed lookup', async () => {
    const { calls, lookup } = lookupOver([]);
    const find = cachedCoordinatorLookup(lookup);
    const cluster = {};
    await expect(find.call(cluster, { groupId: 'g' })).rejects.toThrow('no coordinator');
    await expect(find.call(cluster, { groupId: 'g' })).rejects.toThrow('no coordinator');
    expect(calls).toHaveLength(2);
  });

  it('looks a coordinator up again after the time to live', async () => {
    let clock = 0;
    const { calls, lookup } = lookupOver([new FakeBroker(1), new FakeBroker(2)]);
    const find = cachedCoordinatorLookup(lookup, { ttlMs: 1_000, now: () => clock });
    const cluster = {};
    expect((await find.call(cluster, { groupId: 'g' })).nodeId).toBe(1);
    clock = 999;
    expect((await find.call(cluster, { groupId: 'g' })).nodeId).toBe(1);
    clock = 1_000;
    expect((await find.call(cluster, { groupId: 'g' })).nodeId).toBe(2);
    expect(calls).toHaveLength(2);
  });
});
