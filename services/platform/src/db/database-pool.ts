import { Pool } from 'pg';

import type { Logger } from '../logger';

/**
 * A Postgres pool that never lets a lost connection crash the process.
 *
 * pg emits a connection's failure (a server restart's 57P01, a reset socket) as an 'error' event on the client, and
 * an 'error' event nobody listens to is thrown. The pool listens only while a client sits idle in it; a client that
 * is checked out, or one the pool is closing, has no listener of its own unless the caller adds one, and a server
 * restart reaches every connection at once. Here every client gets a listener for its whole life as it is created,
 * and the pool's own 'error' (an idle client lost) is logged. Nothing else changes: a query on a lost connection
 * still fails with its error, and the pool discards a client released after its connection failed.
 */
export function databasePool(options: { url: string; max: number; logger: Logger }): Pool {
  const pool = new Pool({ connectionString: options.url, max: options.max });
  pool.on('error', (err) => options.logger.warn('idle database connection failed', { error: err.message }));
  pool.on('connect', (client) => {
    client.on('error', (err) => options.logger.debug('database connection failed', { error: err.message }));
  });
  return pool;
}
