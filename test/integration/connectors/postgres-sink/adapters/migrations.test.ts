import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Pool } from 'pg';

import { migrate, MIGRATIONS_DIR } from '../../../../../connectors/postgres-sink/src/adapters/migrations';
import { loadConfig } from '../../../../../services/platform/src/config';

/**
 * Migrations applied to a database that already holds data, as an upgrade meets it: each test starts from the
 * migrations before the one it checks, writes rows the way the earlier release did, then migrates to the end.
 */
describe('migrations on a database in use', () => {
  const baseUrl = loadConfig(process.env).database.url;
  const schema = `t_migrations_${randomBytes(4).toString('hex')}`;
  const earlier = mkdtempSync(path.join(tmpdir(), 'paystream-migrations-'));
  let pool: Pool;

  beforeAll(async () => {
    const admin = new Pool({ connectionString: baseUrl, max: 1 });
    await admin.query(`create schema ${schema}`);
    await admin.end();
    pool = new Pool({
      connectionString: `${baseUrl}${baseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      max: 2,
    });
  });
  afterAll(async () => {
    await pool.query(`drop schema ${schema} cascade`).catch(() => undefined);
    await pool.end();
    rmSync(earlier, { recursive: true, force: true });
  });

  it('0005 marks the wallets the read model holds an account for as opened, and leaves the others to the sweep', async () => {
    for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f < '0005'))
      copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(earlier, f));
    expect((await migrate(pool, earlier)).applied).toEqual([
      '0001_ledger_read_models.sql',
      '0002_wallet_api.sql',
      '0003_ledger_results_version.sql',
      '0004_party_events_published.sql',
    ]);
    await pool.query(
      `insert into gateway_credentials (party_id, kind, email, password_hash, profile)
       values ('pty_1', 'CLIENT', 'one@example.com', 'x', '{}')`,
    );
    // Two wallets from before: one whose account the sink has seen opened, one whose OpenAccount never landed.
    await pool.query(
      `insert into gateway_wallets (wallet_id, owner_id, currency, created_at)
       values ('w_open', 'pty_1', 'EUR', '2026-11-01T10:00:00Z'), ('w_orphan', 'pty_1', 'EUR', '2026-11-02T10:00:00Z')`,
    );
    await pool.query(
      `insert into balances (account_id, owner_kind, owner_id, currency, balance_minor, allow_negative, closed, version, updated_at)
       values ('w_open', 'CLIENT', 'pty_1', 'EUR', 1250, false, false, 2, now())`,
    );

    const report = await migrate(pool);
    expect(report.applied).toEqual([
      '0005_wallet_opened.sql',
      '0006_ledger_results_request_fingerprint.sql',
      '0007_gateway_operations.sql',
      '0008_wallet_request.sql',
      '0009_gateway_operations_expiry.sql',
      '0010_signup_request.sql',
    ]);
    const rows = await pool.query<{ wallet_id: string; opened_at: Date | null }>(
      'select wallet_id, opened_at from gateway_wallets order by wallet_id',
    );
    expect(rows.rows).toEqual([
      { wallet_id: 'w_open', opened_at: new Date('2026-11-01T10:00:00Z') },
      { wallet_id: 'w_orphan', opened_at: null },
    ]);
    // A second run applies nothing.
    expect((await migrate(pool)).applied).toEqual([]);
  });
});
