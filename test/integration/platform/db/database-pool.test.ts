import { missedClientDeadline } from '../../../../services/platform/src/db/database-failures';
import { databasePool } from '../../../../services/platform/src/db/database-pool';
import { createLogger, silentLogger } from '../../../../services/platform/src/logger';
import { eventually, integrationEnv } from '../../../support/integration-env';
import { tcpProxyFor } from '../../../support/tcp-proxy';

/** A logger that keeps its records, to see what the pool reported. */
function recordingLogger() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', stream: { write: (l: string) => lines.push(l) } });
  const records = () => lines.map((l) => JSON.parse(l) as { level: string; msg: string; error?: unknown });
  return { logger, records };
}

describe('databasePool', () => {
  const { config } = integrationEnv('db-pool');

  it('a checked-out connection the server terminates between statements fails its next query, not the process', async () => {
    const { logger, records } = recordingLogger();
    const pool = databasePool({ url: config.database.url, max: 2, logger });
    try {
      const client = await pool.connect();
      await client.query('begin');
      const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
      expect(typeof pid).toBe('number');
      // What a server restart does to every backend: FATAL 57P01 to a client that has no query running.
      const killed = await pool.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [pid]);
      expect(killed.rows[0]?.ok).toBe(true);
      await eventually(() =>
        records().some((r) => r.msg === 'database connection failed' && /terminating connection/.test(String(r.error)))
          ? true
          : undefined,
      );
      await expect(client.query('select 1')).rejects.toThrow();
      client.release();
      // The pool dropped the dead connection and serves the next query on a fresh one.
      const after = await pool.query<{ pid: number }>('select pg_backend_pid() as pid');
      expect(after.rows[0]?.pid).not.toBe(pid);
    } finally {
      await pool.end();
    }
  });

  it('an idle connection the server terminates is dropped and reported as a warning', async () => {
    const { logger, records } = recordingLogger();
    const pool = databasePool({ url: config.database.url, max: 1, logger });
    const other = databasePool({ url: config.database.url, max: 1, logger: silentLogger });
    try {
      const pid = (await pool.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
      await other.query('select pg_terminate_backend($1)', [pid]);
      await eventually(() => (records().some((r) => r.level === 'warn') ? true : undefined));
      expect(records().find((r) => r.level === 'warn')?.msg).toBe('idle database connection failed');
      expect((await pool.query<{ n: number }>('select 1 as n')).rows[0]?.n).toBe(1);
    } finally {
      await pool.end();
      await other.end();
    }
  });

  /** How long `work` took to settle, in ms, and its error if it failed. */
  const settle = async (work: () => Promise<unknown>) => {
    const started = Date.now();
    try {
      await work();
      return { ms: Date.now() - started, error: undefined };
    } catch (error) {
      return { ms: Date.now() - started, error: error as Error & { code?: string } };
    }
  };

  it('the server cancels a statement past statementTimeoutMs (57014) and the connection serves the next one', async () => {
    const pool = databasePool({ url: config.database.url, max: 1, logger: silentLogger, statementTimeoutMs: 300 });
    const client = await pool.connect();
    try {
      const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
      const slow = await settle(() => client.query('select pg_sleep(5)'));
      expect(slow.error?.code).toBe('57014');
      expect(slow.ms).toBeGreaterThanOrEqual(250);
      expect(slow.ms).toBeLessThan(2_000);
      // A cancelled statement leaves its connection usable; a statement under the deadline is untouched.
      const next = await client.query<{ pid: number }>('select pg_backend_pid() as pid, pg_sleep(0.1)');
      expect(next.rows[0]?.pid).toBe(pid);
    } finally {
      client.release();
      await pool.end();
    }
  });

  it('a transaction left idle past statementTimeoutMs is ended by the server, releasing its locks', async () => {
    const { logger, records } = recordingLogger();
    const pool = databasePool({ url: config.database.url, max: 2, logger, statementTimeoutMs: 300 });
    const table = `idle_tx_${Date.now()}`;
    await pool.query(`create table ${table} (id text primary key)`);
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(`insert into ${table} values ('k')`);
      // The client goes quiet inside its transaction, holding the row's lock; the server gives up on it.
      await eventually(() =>
        records().some((r) => /idle-in-transaction timeout/.test(String(r.error))) ? true : undefined,
      );
      await expect(client.query('select 1')).rejects.toThrow();
      // Its insert was rolled back and its lock released: the same key goes in at once.
      const other = await settle(() => pool.query(`insert into ${table} values ('k')`));
      expect(other.error).toBeUndefined();
      expect(other.ms).toBeLessThan(1_000);
    } finally {
      client.release(true);
      await pool.query(`drop table ${table}`);
      await pool.end();
    }
  });

  it('a connection that went silent fails its statement a second after statementTimeoutMs and is dropped', async () => {
    const { proxy, url } = await tcpProxyFor(config.database.url);
    const pool = databasePool({ url, max: 1, logger: silentLogger, statementTimeoutMs: 300 });
    try {
      expect((await pool.query<{ n: number }>('select 1 as n')).rows[0]?.n).toBe(1);
      proxy.blackhole();
      const silent = await settle(() => pool.query('select 1'));
      expect(missedClientDeadline(silent.error)).toBe(true);
      expect(silent.ms).toBeGreaterThanOrEqual(1_250);
      expect(silent.ms).toBeLessThan(3_000);
      // The pool dropped the silent connection: the next statement goes out on a new one, and is answered.
      expect((await pool.query<{ n: number }>('select 2 as n')).rows[0]?.n).toBe(2);
      expect(proxy.connections()).toBe(2);
    } finally {
      await pool.end();
      await proxy.close();
    }
  });

  it('getting a connection fails after connectTimeoutMs when the server never answers the start-up', async () => {
    const { proxy, url } = await tcpProxyFor(config.database.url, { swallow: () => true });
    const pool = databasePool({ url, max: 1, logger: silentLogger, connectTimeoutMs: 300 });
    try {
      const stuck = await settle(() => pool.query('select 1'));
      expect(stuck.error?.message).toMatch(/Connection terminated due to connection timeout/);
      expect(stuck.ms).toBeGreaterThanOrEqual(250);
      expect(stuck.ms).toBeLessThan(2_000);
    } finally {
      await pool.end();
      await proxy.close();
    }
  });

  it('waiting for a free connection fails after connectTimeoutMs when every one is busy', async () => {
    const pool = databasePool({ url: config.database.url, max: 1, logger: silentLogger, connectTimeoutMs: 300 });
    const held = await pool.connect();
    try {
      const waiting = await settle(() => pool.query('select 1'));
      expect(waiting.error?.message).toMatch(/timeout exceeded when trying to connect/);
      expect(waiting.ms).toBeGreaterThanOrEqual(250);
      expect(waiting.ms).toBeLessThan(2_000);
    } finally {
      held.release();
      await pool.end();
    }
  });
});
