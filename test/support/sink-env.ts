import { randomBytes } from 'node:crypto';

import { Pool } from 'pg';

import { migrate } from '../../connectors/postgres-sink/src/adapters/migrations';
import type { TableMapping } from '../../connectors/postgres-sink/src/domain/table-mapping';
import { databasePool } from '../../services/platform/src/db/database-pool';
import { silentLogger } from '../../services/platform/src/logger';

/** A Postgres schema of a test's own, with every migration applied; dropped on cleanup. */
export async function testDatabase(
  label: string,
  baseUrl: string,
): Promise<{ url: string; pool: Pool; schema: string; cleanup(): Promise<void> }> {
  const schema = `t_${label.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
  const admin = new Pool({ connectionString: baseUrl, max: 1 });
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = `${baseUrl}${baseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const pool = databasePool({ url, max: 6, logger: silentLogger });
  await migrate(pool);
  return {
    url,
    pool,
    schema,
    async cleanup() {
      await pool.query(`drop schema ${schema} cascade`).catch(() => undefined);
      await pool.end();
    },
  };
}

/** The ledger's read-model tables and the columns that order their rows, for `tableChecksum`. */
export const LEDGER_READ_MODEL_TABLES: readonly (readonly [table: string, orderBy: string])[] = [
  ['balances', 'account_id'],
  ['wallets', 'wallet_id'],
  ['ledger_entries', 'entry_id'],
  ['operation_history', 'occurred_at, entry_id, wallet_id'],
  ['bulk_transfers', 'bulk_id'],
  ['ledger_results', 'command_id'],
  ['bulk_transfer_items', 'event_id'],
];

/** md5 of every row of a table, ordered by its key: equal checksums mean equal tables. */
export async function tableChecksum(
  pool: Pool,
  table: string,
  orderBy: string,
): Promise<{ rows: number; md5: string }> {
  const r = await pool.query<{ rows: string; md5: string }>(
    `select count(*)::text as rows, coalesce(md5(string_agg(t::text, '|' order by ${orderBy})), '') as md5 from "${table}" t`,
  );
  return { rows: Number(r.rows[0]?.rows ?? 0), md5: r.rows[0]?.md5 ?? '' };
}

/**
 * `topics` and every topic a sink on `mappings` reads, each once — for the ledger these include ledger.entries, which
 * the ledger no longer writes but the sink still reads (logs written when each entry was a record of its own).
 */
export function withSinkTopics(topics: readonly string[], mappings: readonly TableMapping[]): string[] {
  return [...new Set([...topics, ...mappings.map((m) => m.topic)])];
}
