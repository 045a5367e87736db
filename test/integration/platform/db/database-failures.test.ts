import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

import type { PoolClient } from 'pg';

import { transientDatabaseFailure } from '../../../../services/platform/src/db/database-failures';
import { databasePool } from '../../../../services/platform/src/db/database-pool';
import { silentLogger } from '../../../../services/platform/src/logger';
import { eventually, integrationEnv } from '../../../support/integration-env';
import { testDatabase } from '../../../support/sink-env';

/** The failure `work` ends with; the test fails if it succeeds. */
async function failureOf(work: Promise<unknown>): Promise<{ code?: string; message: string }> {
  const outcome = await work.then(
    (value: unknown) => ({ succeeded: value }),
    (e: unknown) => ({ failed: e as { code?: string; message: string } }),
  );
  if (!('failed' in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.succeeded)}`);
  return outcome.failed;
}

/** A port nothing listens on: one the system just gave out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The failures real Postgres and the real pg driver produce, read by `transientDatabaseFailure`: those that pass are
 * shown to pass (the same statement then succeeds), and those that do not are not taken for passing ones.
 */
describe('transientDatabaseFailure on real failures', () => {
  const { config } = integrationEnv('db-failures');
  let db: Awaited<ReturnType<typeof testDatabase>>;
  const held: PoolClient[] = [];
  const client = async () => {
    const c = await db.pool.connect();
    held.push(c);
    return c;
  };

  beforeAll(async () => {
    db = await testDatabase('db_failures', config.database.url);
    await db.pool.query('create table accounts (id int primary key, n int not null)');
    await db.pool.query('insert into accounts values (1, 0), (2, 0)');
  });
  afterEach(() => {
    for (const c of held.splice(0)) c.release(true);
  });
  afterAll(async () => {
    await db.cleanup();
  });

  it('a deadlock Postgres broke (40P01) is transient, and the broken transaction then succeeds alone', async () => {
    const [a, b] = [await client(), await client()];
    await a.query('begin');
    await b.query('begin');
    await a.query('update accounts set n = n + 1 where id = 1');
    await b.query('update accounts set n = n + 1 where id = 2');
    // Each now waits for the row the other holds; after deadlock_timeout Postgres aborts one of them.
    const crossed = [
      a.query('update accounts set n = n + 1 where id = 2'),
      b.query('update accounts set n = n + 1 where id = 1'),
    ];
    const settled = await Promise.allSettled(crossed);
    const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(failures).toHaveLength(1);
    const deadlock = failures[0]?.reason as Error & { code?: string };
    expect(deadlock.code).toBe('40P01');
    expect(transientDatabaseFailure(deadlock)).toBe(true);
    const [winner, loser] = settled[0]?.status === 'fulfilled' ? [a, b] : [b, a];
    await loser.query('rollback');
    await winner.query('commit');
    // What "may pass" means: the loser's transaction, run again, succeeds.
    await loser.query('begin');
    await loser.query('update accounts set n = n + 1 where id in (1, 2)');
    await loser.query('commit');
    const rows = await db.pool.query<{ n: number }>('select n from accounts order by id');
    expect(rows.rows.map((r) => r.n)).toEqual([2, 2]);
  });

  it('a serialization failure (40001) is transient', async () => {
    const [a, b] = [await client(), await client()];
    await a.query('begin isolation level repeatable read');
    await a.query('select n from accounts where id = 1');
    await b.query('update accounts set n = n + 1 where id = 1');
    const conflict = await failureOf(a.query('update accounts set n = n + 1 where id = 1'));
    await a.query('rollback');
    expect(conflict.code).toBe('40001');
    expect(transientDatabaseFailure(conflict)).toBe(true);
  });

  it('a backend terminated under a running statement (57P01) is transient; the pool serves the next one', async () => {
    const a = await client();
    const pid = (await a.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
    const running = failureOf(a.query('select pg_sleep(10)'));
    await eventually(async () => {
      const r = await db.pool.query<{ state: string }>('select state from pg_stat_activity where pid = $1', [pid]);
      return r.rows[0]?.state === 'active' ? true : undefined;
    });
    await db.pool.query('select pg_terminate_backend($1)', [pid]);
    const terminated = await running;
    expect(terminated.code).toBe('57P01');
    expect(transientDatabaseFailure(terminated)).toBe(true);
    expect((await db.pool.query<{ n: number }>('select 1 as n')).rows[0]?.n).toBe(1);
  });

  it('a server that refuses the connection (ECONNREFUSED) is transient', async () => {
    const url = new URL(config.database.url);
    url.hostname = '127.0.0.1';
    url.port = String(await closedPort());
    const pool = databasePool({ url: url.toString(), max: 1, logger: silentLogger, connectTimeoutMs: 2_000 });
    try {
      const refused = await failureOf(pool.query('select 1'));
      expect(refused.code).toBe('ECONNREFUSED');
      expect(transientDatabaseFailure(refused)).toBe(true);
    } finally {
      await pool.end();
    }
  });

  it.each([
    ['a duplicate key', 'insert into accounts values (1, 0)', '23505'],
    ['a value that does not parse', "select 'x'::int", '22P02'],
    ['a missing table', 'select * from no_such_table', '42P01'],
    ['a syntax error', 'selec 1', '42601'],
    ['a write in a read-only transaction', 'set transaction read only; insert into accounts values (9, 0)', '25006'],
  ])('%s fails the same way every time: not transient', async (_what, sql, code) => {
    const a = await client();
    await a.query('begin');
    const failure = await failureOf(a.query(sql));
    await a.query('rollback');
    expect(failure.code).toBe(code);
    expect(transientDatabaseFailure(failure)).toBe(false);
  });
});
