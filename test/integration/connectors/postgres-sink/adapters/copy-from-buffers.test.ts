import { randomBytes } from 'node:crypto';

import { Pool } from 'pg';
import type { PoolClient } from 'pg';

import { copyFromBuffers } from '../../../../../connectors/postgres-sink/src/adapters/copy-from-buffers';
import { loadConfig } from '../../../../../services/platform/src/config';

/** COPY … FROM STDIN of in-memory chunks, against Postgres: what it copies, and how a refused COPY leaves the client. */
describe('copyFromBuffers', () => {
  const baseUrl = loadConfig(process.env).database.url;
  const schema = `t_copy_from_buffers_${randomBytes(4).toString('hex')}`;
  const url = `${baseUrl}${baseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  let pool: Pool;
  let client: PoolClient;

  beforeAll(async () => {
    const admin = new Pool({ connectionString: baseUrl, max: 1 });
    await admin.query(`create schema ${schema}`);
    await admin.end();
    pool = new Pool({ connectionString: url, max: 2 });
    await pool.query('create table t (id int primary key, note text)');
  });
  beforeEach(async () => {
    client = await pool.connect();
    await client.query('truncate t');
  });
  afterEach(() => client.release());
  afterAll(async () => {
    await pool.query(`drop schema ${schema} cascade`).catch(() => undefined);
    await pool.end();
  });

  const ids = async (db: Pool | PoolClient = client) =>
    (await db.query<{ id: number }>('select id from t order by id')).rows.map((r) => r.id);

  it('copies chunks that split rows anywhere, and answers the rows copied', async () => {
    const text = Array.from({ length: 3_000 }, (_, i) => `${i}\tnote ${i} ünïcödé\n`).join('');
    const bytes = Buffer.from(text);
    // Cuts inside rows and inside a multi-byte character: COPY reads one byte stream, whatever the messages.
    const cuts = [0, 1, 7, 4_000, 4_001, 50_000, bytes.length];
    const chunks = cuts.slice(1).map((end, k) => bytes.subarray(cuts[k], end));
    expect(chunks.some((c) => c.length === 0)).toBe(false);
    expect(await copyFromBuffers(client, 'copy t (id, note) from stdin', [...chunks, Buffer.alloc(0)])).toBe(3_000);
    expect(await ids()).toEqual(Array.from({ length: 3_000 }, (_, i) => i));
    const row = await client.query<{ note: string }>('select note from t where id = 2999');
    expect(row.rows[0]?.note).toBe('note 2999 ünïcödé');
  });

  it('rejects with the server error for refused data, and the transaction goes on from its savepoint', async () => {
    await client.query('begin');
    expect(await copyFromBuffers(client, 'copy t (id, note) from stdin', [Buffer.from('1\ta\n2\tb\n')])).toBe(2);
    await client.query('savepoint s');
    const refused = await copyFromBuffers(client, 'copy t (id, note) from stdin', [
      Buffer.from('3\tc\n1\tagain\n'),
    ]).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: '23505' });
    await client.query('rollback to savepoint s');
    expect(await copyFromBuffers(client, 'copy t (id, note) from stdin', [Buffer.from('3\tc\n')])).toBe(1);
    await client.query('commit');
    expect(await ids(pool)).toEqual([1, 2, 3]);
  });

  it('rejects a statement refused before any data is sent (no such table), and the client takes the next one', async () => {
    const refused = await copyFromBuffers(client, 'copy missing (id) from stdin', [Buffer.from('1\n')]).catch(
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({ code: '42P01' });
    expect(await copyFromBuffers(client, 'copy t (id) from stdin', [Buffer.from('9\n')])).toBe(1);
    expect(await ids()).toEqual([9]);
  });

  it("rejects with pg's read timeout when the server does not answer in time", async () => {
    // The client's deadline only (no statement_timeout, so the server never answers first).
    const slow = new Pool({ connectionString: url, max: 1, query_timeout: 300 });
    const holder = await pool.connect();
    try {
      // Another transaction holds the row's key, so the COPY waits on it past the client's deadline.
      await holder.query('begin');
      await holder.query(`insert into t (id) values (42)`);
      const c = await slow.connect();
      const started = Date.now();
      const refused = await copyFromBuffers(c, 'copy t (id) from stdin', [Buffer.from('42\n')]).catch(
        (e: unknown) => e,
      );
      c.release(true);
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toBe('Query read timeout');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await holder.query('rollback');
      holder.release();
      await slow.end();
    }
  });
});
