import { Pool } from 'pg';

import type { PlatformConfig } from '../config';
import type { Logger } from '../logger';

export interface DatabasePoolOptions {
  url: string;
  max: number;
  logger: Logger;
  /** Longest wait for a connection: a free one from the pool, or a new one's connect and start-up. */
  connectTimeoutMs?: number;
  /** Longest a statement may take; unset for migrations and operator commands, whose statements may be long. */
  statementTimeoutMs?: number;
}

/** A pool for a service's requests or writes: every statement is held to the configured deadline. */
export function servicePoolOptions(
  database: PlatformConfig['database'],
  logger: Logger,
  max: number,
): DatabasePoolOptions {
  return { ...operatorPoolOptions(database, logger, max), statementTimeoutMs: database.statementTimeoutMs };
}

/** A pool for migrations and operator commands: a deadline to connect, none per statement (they may be long). */
export function operatorPoolOptions(
  database: PlatformConfig['database'],
  logger: Logger,
  max: number,
): DatabasePoolOptions {
  return { url: database.url, max, logger, connectTimeoutMs: database.connectTimeoutMs };
}

/** How much longer than the server's statement_timeout the client waits before giving the connection up. */
const CLIENT_DEADLINE_MARGIN_MS = 1_000;

/**
 * A Postgres pool with deadlines, that never lets a lost connection crash the process.
 *
 * pg emits a connection's failure (a server restart's 57P01, a reset socket) as an 'error' event on the client, and
 * an 'error' event nobody listens to is thrown. The pool listens only while a client sits idle in it; a client that
 * is checked out, or one the pool is closing, has no listener of its own unless the caller adds one, and a server
 * restart reaches every connection at once. Here every client gets a listener for its whole life as it is created,
 * and the pool's own 'error' (an idle client lost) is logged. Nothing else changes: a query on a lost connection
 * still fails with its error, and the pool discards a client released after its connection failed.
 *
 * Deadlines:
 * - getting a connection fails after `connectTimeoutMs`: "timeout exceeded when trying to connect" while every pooled
 *   one is busy, "Connection terminated due to connection timeout" when a new one's start-up has not finished;
 * - with `statementTimeoutMs`, the server cancels a statement running longer (SQLSTATE 57014; the connection stays
 *   usable), and the client gives up on one whose answer has not come a second later ("Query read timeout": a server
 *   or network that went silent). A connection that timed out that way is still busy: callers holding a client
 *   release it with the error (`release(err)`), so the pool drops it; `pool.query` does so itself. The server also
 *   ends a session left idle inside a transaction for that long (25P03), so a client that vanished mid-transaction (a
 *   network that went silent, a process frozen) holds its row locks no longer than that.
 * Without a deadline a silent peer holds the caller for ever: TCP keep-alive (on here) only notices a peer that
 * stopped acknowledging, and on Linux's defaults only after two hours.
 */
export function databasePool(options: DatabasePoolOptions): Pool {
  const statementMs = options.statementTimeoutMs;
  const pool = new Pool({
    connectionString: options.url,
    max: options.max,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 0,
    keepAlive: true,
    ...(statementMs === undefined
      ? {}
      : {
          statement_timeout: statementMs,
          query_timeout: statementMs + CLIENT_DEADLINE_MARGIN_MS,
          idle_in_transaction_session_timeout: statementMs,
        }),
  });
  pool.on('error', (err) => options.logger.warn('idle database connection failed', { error: err.message }));
  pool.on('connect', (client) => {
    client.on('error', (err) => options.logger.debug('database connection failed', { error: err.message }));
  });
  return pool;
}

/**
 * Runs `use` on a pool of its own, closed afterwards: for migrations, whose statements are not held to a service's
 * deadlines.
 */
export async function withDatabasePool<T>(options: DatabasePoolOptions, use: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = databasePool(options);
  try {
    return await use(pool);
  } finally {
    await pool.end();
  }
}
