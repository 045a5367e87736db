import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { eventually, integrationEnv } from '../../support/integration-env';
import { cmd } from '../../support/ledger-model';
import {
  LEDGER_TOPICS,
  publishCommands,
  resultsOfCommands,
  startLedgerProcess,
  stopProcess,
} from '../../support/ledger-workload';

describe('paystream run: the local stack folder named by PAYSTREAM_STATE_DIR', () => {
  const env = integrationEnv('cli-run');
  const state = mkdtempSync(path.join(tmpdir(), 'paystream-state-'));
  const targets = path.join(state, 'data', 'prometheus', 'targets');
  beforeAll(async () => {
    mkdirSync(targets, { recursive: true });
    await env.provision(LEDGER_TOPICS);
  });
  afterAll(async () => {
    rmSync(state, { recursive: true, force: true });
    await env.cleanup();
  });

  it("registers the service's scrape target in that folder while it runs, its metrics there (what the ledger committed counted once), and removes it on a clean stop", async () => {
    const logs: string[] = [];
    const child = startLedgerProcess(env, logs, { PAYSTREAM_STATE_DIR: state });
    try {
      const file = path.join(targets, `ledger-${child.pid}.json`);
      await eventually(() => (existsSync(file) ? true : undefined), 60_000).catch((err: Error) => {
        throw new Error(`${err.message}; targets: ${readdirSync(targets).join(', ')}; logs: ${logs.join('')}`);
      });
      const [group] = JSON.parse(readFileSync(file, 'utf8')) as { targets: string[]; labels: { service: string } }[];
      expect(group?.labels.service).toBe('ledger');
      const port = Number(group?.targets[0]?.split(':').at(-1));
      expect(port).toBeGreaterThan(0);
      // The target names the running service's own metrics endpoint.
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('paystream_processor');
      // The target is written before the service starts, its stop signal handled once it has: wait for that.
      await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok ? true : undefined), 60_000);
      // The ledger counts what it commits: one opening and one deposit of 2.50, the deposit sent twice.
      const deposit = cmd.deposit('run-acct', 250n, 'EUR', 'run-dep');
      const commands = [cmd.open('run-acct', 'EUR', 'CLIENT', false, 'run-open'), deposit, deposit];
      await publishCommands(env, commands);
      await resultsOfCommands(env, commands);
      const counted = (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
        .split('\n')
        .filter((l) => /^paystream_ledger_(commands|volume_minor)_total\{/.test(l));
      expect(counted.sort()).toEqual([
        'paystream_ledger_commands_total{kind="deposit",outcome="ACCEPTED",currency="EUR",service="ledger"} 1',
        'paystream_ledger_commands_total{kind="open_account",outcome="ACCEPTED",currency="EUR",service="ledger"} 1',
        'paystream_ledger_volume_minor_total{kind="deposit",currency="EUR",service="ledger"} 250',
      ]);
      expect(await stopProcess(child)).toBe(0);
      expect(existsSync(file)).toBe(false);
    } finally {
      await stopProcess(child, 'SIGKILL', 1_000);
    }
  }, 120_000);

  it('a stop signal during start-up ends the process with 143 and removes the target', async () => {
    const logs: string[] = [];
    // No broker listens there: the start keeps retrying, so the signal surely comes during it.
    const child = startLedgerProcess(env, logs, { KAFKA_BROKERS: '127.0.0.1:1', PAYSTREAM_STATE_DIR: state });
    try {
      const file = path.join(targets, `ledger-${child.pid}.json`);
      await eventually(() => (existsSync(file) ? true : undefined), 60_000);
      const started = Date.now();
      expect(await stopProcess(child)).toBe(143);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(existsSync(file)).toBe(false);
      expect(logs.join('')).toContain('stopped during start-up');
    } finally {
      await stopProcess(child, 'SIGKILL', 1_000);
    }
  }, 120_000);
});
