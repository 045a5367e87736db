import { databasePool } from '../../../../services/platform/src/db/database-pool';
import { createLogger, silentLogger } from '../../../../services/platform/src/logger';
import { eventually, integrationEnv } from '../../../support/integration-env';

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
});
