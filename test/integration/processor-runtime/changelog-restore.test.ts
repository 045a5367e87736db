import type { AccountBalance } from '../../../services/platform/src/sdk/event-types.generated';
import { restorePartitions } from '../../../services/processor-runtime/src/changelog-restore';
import { integrationEnv } from '../../support/integration-env';

describe('changelog restore', () => {
  const env = integrationEnv('restore');
  beforeAll(() => env.provision(['ledger.balances']));
  afterAll(() => env.cleanup());

  const balance = (accountId: string, balanceMinor: bigint): AccountBalance => ({
    accountId,
    ownerKind: 'CLIENT',
    ownerId: 'o',
    currency: 'EUR',
    balanceMinor,
    allowNegative: false,
    closed: false,
    version: 1n,
    updatedAt: new Date('2026-11-24T10:00:00Z'),
    openedAt: new Date('2026-11-24T10:00:00Z'),
  });

  it('completes when a changelog partition ends with, or holds only, aborted transactions (a crashed writer), keeping committed state only', async () => {
    const topic = env.schemas.physicalTopic('ledger.balances');
    const producer = env.kafka.producer({
      transactionalId: `${env.prefix}restore-writer`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const send = async (commit: boolean, b: AccountBalance) => {
      const tx = await producer.transaction();
      await tx.send({
        topic,
        messages: [{ partition: 0, key: b.accountId, value: await env.schemas.encode('ledger.balances', b) }],
      });
      await (commit ? tx.commit() : tx.abort());
    };
    await send(true, balance('a', 10n));
    await send(false, balance('a', 999n));
    await send(false, balance('b', 5n));
    // Partition 1 holds nothing but an aborted transaction: a writer that crashed before its first commit.
    const tx = await producer.transaction();
    await tx.send({
      topic,
      messages: [{ partition: 1, key: 'c', value: await env.schemas.encode('ledger.balances', balance('c', 1n)) }],
    });
    await tx.abort();
    await producer.disconnect();

    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const states = await Promise.race([
      restorePartitions({
        kafka: env.kafka,
        schemas: env.schemas,
        stores: ['ledger.balances'],
        partitions: [0, 1],
        groupPrefix: env.prefix,
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('restore did not complete in 30 s')), 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(Date.now() - started).toBeLessThan(30_000);
    const state = states.get(0);
    expect(state?.get<AccountBalance>('ledger.balances', 'a')?.balanceMinor).toBe(10n);
    expect(state?.get('ledger.balances', 'b')).toBeUndefined();
    expect(states.get(1)?.size('ledger.balances')).toBe(0);
  });
});
