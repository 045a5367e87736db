import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { mappingsFor } from '../../../connectors/postgres-sink/src/app/sink-mappings';

import { eventually, integrationEnv } from '../../support/integration-env';
import type { IntegrationEnv } from '../../support/integration-env';
import { checkLedgerInvariants, lastBalances } from './ledger-invariants';
import {
  LEDGER_TOPICS,
  ledgerWorkload,
  oracle,
  pendingCommands,
  publishCommands,
  readLedger,
  startLedgerProcess,
  startSinkProcess,
  stopProcess,
} from '../../support/ledger-workload';
import type { LedgerOutcome } from '../../support/ledger-workload';
import { privateBroker } from '../../support/private-broker';
import type { PrivateBroker } from '../../support/private-broker';
import { paystreamCli } from '../../support/paystream-cli';
import { testDatabase, withSinkTopics } from '../../support/sink-env';

const COMMANDS = 30_000;
const ACCOUNTS = 1_000;
const commands = ledgerWorkload(COMMANDS, ACCOUNTS, 11);
const expected = oracle(commands);

/**
 * SPEC §5: the broker killed outright (SIGKILL) while the ledger processes commands, and started again on the same
 * data: the ledger's processes and the sink's carry on by themselves — nobody restarts them — and the run ends with
 * every command applied exactly once, as an in-memory run of the same commands says, and the Postgres read model equal
 * to the changelog. On a broker of this test's own, so the kill disturbs no other test.
 */
describe('ledger: the broker killed with SIGKILL mid-run and started again', () => {
  let broker: PrivateBroker;
  let env: IntegrationEnv;
  const logs: string[] = [];
  let procs: ChildProcess[] = [];
  let outcome: LedgerOutcome;
  let db: Awaited<ReturnType<typeof testDatabase>>;
  let pendingAtKill = 0;
  let exitedOnTheirOwn: (number | null)[] = [];

  const count = async (table: string) =>
    Number((await db.pool.query<{ n: string }>(`select count(*)::text as n from ${table}`)).rows[0]?.n ?? 0);

  beforeAll(async () => {
    broker = await privateBroker('restart');
    await broker.start();
    env = integrationEnv('broker-restart', { KAFKA_BROKERS: broker.address });
    await env.provision(withSinkTopics(LEDGER_TOPICS, mappingsFor('ledger')));
    db = await testDatabase('broker_restart', env.config.database.url);
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      procs = [
        ...[0, 1].map(() => startLedgerProcess(env, logs, { KAFKA_BROKERS: broker.address })),
        startSinkProcess(env, db.url, logs, { KAFKA_BROKERS: broker.address }),
      ];
      await publishCommands(env, commands);
      // Mid-run: once the ledger has committed some of the commands, while many are still waiting.
      pendingAtKill = await eventually(async () => {
        const n = await pendingCommands(env, admin);
        return n < COMMANDS ? n : undefined;
      }, 120_000);
      await admin.disconnect();
      await broker.kill();
      await sleep(5_000);
      await broker.start();
      const restarted = Date.now();
      try {
        outcome = await readLedger(env, expected.results.size, 240_000);
        console.log(
          `broker killed with ${pendingAtKill} commands pending, started again 5 s later; every result read ` +
            `${Date.now() - restarted} ms after its restart; the services logged ${
              logs
                .join('')
                .split('\n')
                .filter((l) => l.includes('"level":"warn"') || l.includes('"level":"error"')).length
            } warnings and errors`,
        );
      } catch (err) {
        const tail = logs.join('').split('\n').slice(-40).join('\n');
        throw new Error(
          `${(err as Error).message}\nthe services (ledger, sink):\n${tail}\nbroker:\n${broker.logTail()}`,
        );
      }
      // The sink has written every result and the last balance of every account.
      const last = lastBalances(outcome.balances);
      await eventually(
        async () => ((await count('ledger_results')) === expected.results.size ? true : undefined),
        120_000,
      );
      await eventually(async () => {
        const rows = await db.pool.query<{ account_id: string; version: string }>(
          'select account_id, version::text from balances',
        );
        return rows.rows.length === last.size &&
          rows.rows.every((r) => last.get(r.account_id)?.version === BigInt(r.version))
          ? true
          : undefined;
      }, 120_000);
      exitedOnTheirOwn = procs.map((p) => p.exitCode ?? (p.signalCode ? -1 : null)).filter((c) => c !== null);
    } finally {
      await Promise.all(procs.map((p) => stopProcess(p)));
    }
  }, 600_000);
  afterAll(async () => {
    await db?.cleanup();
    await env?.cleanup().catch(() => undefined);
    await broker?.cleanup();
  });

  it('was killed while the ledger had commands to process, and neither the ledger processes nor the sink exited', () => {
    expect(pendingAtKill).toBeGreaterThan(1_000);
    expect(exitedOnTheirOwn).toEqual([]);
  });

  it('applied every command exactly once: the same results, balances and entries as the oracle', () => {
    checkLedgerInvariants(outcome, expected, ACCOUNTS);
  });

  it('left the read model equal to the log: every balance, result and entry once', async () => {
    const last = lastBalances(outcome.balances);
    const balances = await db.pool.query<{ account_id: string; balance_minor: string; version: string }>(
      'select account_id, balance_minor::text, version::text from balances order by account_id',
    );
    expect(balances.rows).toEqual(
      [...last.values()]
        .sort((a, b) => (a.accountId < b.accountId ? -1 : 1))
        .map((b) => ({ account_id: b.accountId, balance_minor: String(b.balanceMinor), version: String(b.version) })),
    );
    expect(await count('ledger_results')).toBe(expected.results.size);
    const entries = await db.pool.query<{ rows: string; ids: string }>(
      'select count(*)::text as rows, count(distinct entry_id)::text as ids from ledger_entries',
    );
    expect(entries.rows[0]).toEqual({ rows: String(outcome.entries.length), ids: String(outcome.entries.length) });
  });

  it('left a read model `paystream ledger check` finds sound, the balances table at the results’ versions', async () => {
    const check = paystreamCli({ ...process.env, DATABASE_URL: db.url, PAYSTREAM_LOG_LEVEL: 'warn' });
    const out = await check('ledger', 'check');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(
      /^balances table: \d+ at their latest result's version, 0 differing from it; 0 at another/m,
    );
    expect(out.stdout.trim().split('\n').at(-1)).toBe('ok: the read model holds every guarantee checked');
  });
});
