import { Directory } from '../../../../services/gateway/src/adapters/directory';
import { errorResponse } from '../../../../services/gateway/src/domain/api-error';
import { PaystreamError } from '../../../../services/platform/src/errors';
import { integrationEnv } from '../../../support/integration-env';
import { testDatabase } from '../../../support/sink-env';

const DAY = 24 * 3_600;

describe('Directory against real Postgres', () => {
  const { config } = integrationEnv('directory');
  let db: Awaited<ReturnType<typeof testDatabase>>;

  beforeAll(async () => {
    db = await testDatabase('directory', config.database.url);
    await db.pool.query(
      `insert into gateway_credentials (party_id, kind, email, password_hash, profile)
       values ('pty_owner', 'CLIENT', 'owner@example.com', 'x', '{}'), ('pty_other', 'CLIENT', 'other@example.com', 'x', '{}')`,
    );
  });
  afterAll(async () => {
    await db.cleanup();
  });

  it('a wallet creation Postgres aborts to break a deadlock is DATABASE_UNAVAILABLE (503, retry), and the retry succeeds', async () => {
    const directory = new Directory(db.pool);
    const other = await db.pool.connect();
    try {
      // Another transaction holds the new wallet's key, uncommitted…
      await other.query('begin');
      await other.query(
        `insert into gateway_wallets (wallet_id, owner_id, currency) values ('w_1', 'pty_other', 'EUR')`,
      );
      // …so the creation, holding its owner's row, waits for that key…
      const creation = directory.reserveWallet('pty_owner', 0, 'w_1', 'EUR').then(
        () => undefined,
        (e: unknown) => e,
      );
      // Polled closely: the cycle below must form within the creation's deadlock_timeout (1 s) of its wait starting.
      for (const started = Date.now(); ; await new Promise((r) => setTimeout(r, 10))) {
        const r = await db.pool.query<{ n: string }>(
          `select count(*) as n from pg_stat_activity
            where wait_event_type = 'Lock' and query like 'insert into gateway_wallets%' and datname = current_database()`,
        );
        if (r.rows[0]?.n === '1') break;
        if (Date.now() - started > 30_000) throw new Error('the wallet creation never waited for the key');
      }
      // …and the other transaction now asks for the owner's row: a cycle. The creation has waited longer, so its
      // deadlock check (deadlock_timeout after its wait began) runs first, finds the cycle, and Postgres aborts it
      // (40P01); the other transaction then gets the row.
      await other.query(`select 1 from gateway_credentials where party_id = 'pty_owner' for update`);
      const failure = await creation;
      expect(failure).toBeInstanceOf(PaystreamError);
      expect(failure).toMatchObject({ code: 'DATABASE_UNAVAILABLE', retryable: true });
      expect((failure as PaystreamError).message).toMatch(/deadlock detected/);
      expect(errorResponse(failure as PaystreamError).status).toBe(503);
      await other.query('rollback');
    } finally {
      other.release(true);
    }
    // The same creation, tried again, succeeds: the failure was the moment's, not the request's.
    await directory.reserveWallet('pty_owner', 0, 'w_1', 'EUR');
    expect(await directory.wallet('w_1')).toEqual({ ownerId: 'pty_owner', opened: false });
  });

  it('a failure that will not pass is INTERNAL (500), not a retry', async () => {
    const directory = new Directory(db.pool);
    // The connection this query releases is the one the creation takes next (the pool reuses the last released).
    const { rows } = await db.pool.query<{ pid: number }>('select pg_backend_pid() as pid');
    const connections = db.pool.totalCount;
    // The owner does not exist: the foreign key refuses the wallet every time (23503).
    const failure = await directory.reserveWallet('pty_nobody', 0, 'w_2', 'EUR').then(
      () => undefined,
      (e: unknown) => e,
    );
    // The refusal was rolled back on a healthy connection: the pool kept it rather than reconnect.
    expect(db.pool.totalCount).toBe(connections);
    expect(failure).toMatchObject({ code: 'INTERNAL', retryable: false });
    expect(errorResponse(failure as PaystreamError).status).toBe(500);
    expect(await directory.wallet('w_2')).toBeUndefined();
    const again = await db.pool.query<{ pid: number }>('select pg_backend_pid() as pid');
    expect(again.rows[0]?.pid).toBe(rows[0]?.pid);
  });

  it('keeps an operation answered 202 once: a second write under its id keeps the first', async () => {
    const directory = new Directory(db.pool);
    const first = {
      partyId: 'pty_owner',
      kind: 'DEPOSIT' as const,
      walletId: 'w_op',
      requestFingerprint: '9007199254740993',
      createdAt: '2026-12-07T06:00:00.000Z',
    };
    expect(await directory.savedOperation('dep:op-1', DAY)).toBeUndefined();
    await directory.saveOperation('dep:op-1', first, DAY);
    await directory.saveOperation(
      'dep:op-1',
      { ...first, partyId: 'pty_other', createdAt: '2026-12-07T06:01:00.000Z' },
      DAY,
    );
    expect(await directory.savedOperation('dep:op-1', DAY)).toEqual(first);
    expect(await directory.savedOperation('dep:op-2', DAY)).toBeUndefined();
  });

  it('answers a kept operation for the time it is kept, and deletes the expired ones when it keeps the next', async () => {
    const directory = new Directory(db.pool);
    const op = (walletId: string) => ({
      partyId: 'pty_owner',
      kind: 'DEPOSIT' as const,
      walletId,
      requestFingerprint: '1',
      createdAt: '2026-12-07T06:00:00.000Z',
    });
    await directory.saveOperation('exp:old', op('w_old'), DAY);
    await directory.saveOperation('exp:recent', op('w_recent'), DAY);
    await db.pool.query(
      `update gateway_operations set created_at = now() - interval '25 hours' where operation_id = 'exp:old'`,
    );
    await db.pool.query(
      `update gateway_operations set created_at = now() - interval '23 hours' where operation_id = 'exp:recent'`,
    );
    expect(await directory.savedOperation('exp:old', DAY)).toBeUndefined();
    expect(await directory.savedOperation('exp:recent', DAY)).toEqual(op('w_recent'));
    // Kept longer (a larger TTL), the same row is answered again: nothing was deleted by reading.
    expect(await directory.savedOperation('exp:old', 2 * DAY)).toEqual(op('w_old'));

    await directory.saveOperation('exp:next', op('w_next'), DAY);
    const left = await db.pool.query<{ operation_id: string }>(
      `select operation_id from gateway_operations where operation_id like 'exp:%' order by operation_id`,
    );
    expect(left.rows.map((r) => r.operation_id)).toEqual(['exp:next', 'exp:recent']);

    // An expired row under the id being kept is not deleted by that write: the first record stands, unanswered.
    await db.pool.query(
      `update gateway_operations set created_at = now() - interval '25 hours' where operation_id = 'exp:next'`,
    );
    await directory.saveOperation('exp:next', op('w_other'), DAY);
    const again = await db.pool.query<{ record: unknown }>(
      `select record from gateway_operations where operation_id = 'exp:next'`,
    );
    expect(again.rows).toEqual([{ record: op('w_next') }]);
  });

  it("names the wallet a request created before, under the owner's lock, instead of recording another", async () => {
    const directory = new Directory(db.pool);
    await db.pool.query(
      `insert into gateway_credentials (party_id, kind, email, password_hash, profile)
       values ('pty_shop', 'MERCHANT', 'shop@example.com', 'x', '{}')`,
    );
    expect(await directory.reserveWallet('pty_shop', 1, 'w_shop', 'EUR', 'req-1')).toEqual({
      walletId: 'w_shop',
      currency: 'EUR',
      opened: false,
      created: true,
    });
    // The same request, racing itself: one wallet, named to both, though the limit is one.
    const again = await Promise.all(
      ['w_other_1', 'w_other_2'].map((w) => directory.reserveWallet('pty_shop', 1, w, 'EUR', 'req-1')),
    );
    expect(again.map((r) => [r.walletId, r.created])).toEqual([
      ['w_shop', false],
      ['w_shop', false],
    ]);
    await directory.markWalletOpened('w_shop');
    expect(await directory.reserveWallet('pty_shop', 1, 'w_other_3', 'EUR', 'req-1')).toMatchObject({
      walletId: 'w_shop',
      opened: true,
    });
    // Another request, or none, is a new wallet: refused by the limit here.
    for (const requestId of ['req-2', undefined])
      await expect(directory.reserveWallet('pty_shop', 1, 'w_other_4', 'EUR', requestId)).rejects.toMatchObject({
        code: 'CONFLICT',
      });
  });
});
