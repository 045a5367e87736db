import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import type { Pool } from 'pg';

import { defaultSchemasDir } from '../../../../services/platform/src/schemas/schema-catalogue';

/**
 * Ordered SQL migrations (`NNNN_name.sql`), each applied once in its own transaction and recorded in
 * `schema_migrations`. Concurrent runs serialise on an advisory lock, so two processes starting together apply each
 * file once. A recorded file whose content changed is an error: migrations are append-only.
 */
export const MIGRATIONS_DIR = path.resolve(defaultSchemasDir(), '..', 'connectors', 'postgres-sink', 'migrations');
const LOCK_ID = 727_172_001;

export interface MigrationReport {
  applied: string[];
  skipped: string[];
}

export async function migrate(pool: Pool, dir = MIGRATIONS_DIR): Promise<MigrationReport> {
  const files = readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
  const client = await pool.connect();
  const report: MigrationReport = { applied: [], skipped: [] };
  try {
    await client.query('select pg_advisory_lock($1)', [LOCK_ID]);
    await client.query(
      `create table if not exists schema_migrations (
         name text primary key, checksum text not null, applied_at timestamptz not null default now())`,
    );
    const done = new Map(
      (await client.query<{ name: string; checksum: string }>('select name, checksum from schema_migrations')).rows.map(
        (r) => [r.name, r.checksum],
      ),
    );
    for (const file of files) {
      const sql = readFileSync(path.join(dir, file), 'utf8');
      const checksum = (await client.query<{ md5: string }>('select md5($1) as md5', [sql])).rows[0]?.md5 ?? '';
      const recorded = done.get(file);
      if (recorded !== undefined) {
        if (recorded !== checksum)
          throw new Error(`migration ${file} changed after it was applied; add a new file instead`);
        report.skipped.push(file);
        continue;
      }
      await client.query('begin');
      try {
        await client.query(sql);
        await client.query('insert into schema_migrations (name, checksum) values ($1, $2)', [file, checksum]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw new Error(`migration ${file} failed: ${(err as Error).message}`);
      }
      report.applied.push(file);
    }
    return report;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [LOCK_ID]).catch(() => undefined);
    client.release();
  }
}
