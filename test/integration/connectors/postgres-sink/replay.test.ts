import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { Registry } from 'prom-client';

import { CopySink } from '../../../../connectors/postgres-sink/src/app/copy-sink';
import { mappingsFor } from '../../../../connectors/postgres-sink/src/app/sink-mappings';
import { sinkGroupId } from '../../../../connectors/postgres-sink/src/app/sink-service';
import { silentLogger } from '../../../../services/platform/src/logger';
import type { LedgerCommand, LedgerResult } from '../../../../services/platform/src/sdk/event-types.generated';
import { groupLag } from '../../../../services/platform/src/topics/consumer-group-admin';
import { eventually, integrationEnv } from '../../../support/integration-env';
import {
  LEDGER_TOPICS,
  ledgerWorkload,
  oracle,
  publishCommands,
  startLedgerRuntime,
} from '../../../support/ledger-workload';
import { LEDGER_READ_MODEL_TABLES, tableChecksum, testDatabase, withSinkTopics } from '../../../support/sink-env';
import { localStateDir } from '../../../../services/platform/src/service/state-dir';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '../../../..');
const CLI = path.join(ROOT, 'bin/paystream.js');

describe('replay rebuilds the ledger read model identically', () => {
  const env = integrationEnv('replay');
  let db: Awaited<ReturnType<typeof testDatabase>>;
  const mappings = mappingsFor('ledger');
  const group = sinkGroupId(env.prefix);
  const topics = [...new Set(mappings.map((m) => env.schemas.physicalTopic(m.topic)))];
  let sink: CopySink | undefined;
  let live: Record<string, { rows: number; md5: string }>;
  let failedCharges = 0;
  const cliEnv = () => ({
    ...process.env,
    PAYSTREAM_TOPIC_PREFIX: env.prefix,
    DATABASE_URL: db.url,
    PAYSTREAM_LOG_LEVEL: 'warn',
  });

  const startSink = async () => {
    sink = new CopySink({
      kafka: env.kafka,
      schemas: env.schemas,
      pool: db.pool,
      logger: silentLogger,
      metrics: new Registry(),
      mappings,
      groupId: group,
    });
    await sink.start();
  };
  const stopSink = async () => {
    await sink?.stop();
    sink = undefined;
  };
  const caughtUp = () =>
    eventually(async () => ((await groupLag(env.kafka, group, topics)).lag === 0 ? true : undefined), 120_000);
  const checksums = async () => {
    const out: Record<string, { rows: number; md5: string }> = {};
    for (const [table, key] of LEDGER_READ_MODEL_TABLES) out[table] = await tableChecksum(db.pool, table, key);
    return out;
  };
  const truncate = () => db.pool.query(`truncate ${LEDGER_READ_MODEL_TABLES.map(([t]) => t).join(', ')}`);

  beforeAll(async () => {
    await env.provision(withSinkTopics(LEDGER_TOPICS, mappings));
    db = await testDatabase('replay', env.config.database.url);
    const commands: LedgerCommand[] = ledgerWorkload(3_000, 200, 11);
    const bulk: LedgerCommand = {
      commandId: 'bulk-cmd-1',
      accountId: 'c-0',
      issuedAt: new Date('2026-11-24T09:00:00Z'),
      command: {
        'paystream.ledger.BulkDebit': {
          bulkId: 'bulk-1',
          currency: 'EUR',
          credits: [
            {
              itemId: 'a',
              amountMinor: 10n,
              counterpartyName: 'Bip',
              counterpartyIban: 'DE89370400440532013000',
              counterpartyBic: 'COBADEFFXXX',
              description: 'x',
            },
          ],
        },
      },
    };
    const all = [...commands.slice(0, 400), bulk, ...commands.slice(400)];
    const expected = oracle(all);
    const runtime = await startLedgerRuntime(env);
    await publishCommands(env, all);
    await startSink();
    const processed: LedgerResult[] = [...expected.results.values()];
    const results = processed.length;
    failedCharges = processed.filter(
      (r) =>
        r.request?.kind === 'CHARGE' &&
        'paystream.ledger.CommandRejected' in r.outcome &&
        r.outcome['paystream.ledger.CommandRejected'].code === 'INSUFFICIENT_FUNDS',
    ).length;
    await eventually(
      async () => ((await tableChecksum(db.pool, 'ledger_results', 'command_id')).rows === results ? true : undefined),
      180_000,
    );
    await runtime.stop();
    await caughtUp();
    live = await checksums();
  }, 300_000);

  afterAll(async () => {
    await stopSink();
    await db.cleanup();
    await env.cleanup();
  });

  it('built a live read model of every table', () => {
    expect(live.balances?.rows).toBe(200);
    expect(live.wallets?.rows).toBe(200);
    expect(live.bulk_transfer_items?.rows).toBe(1);
    expect(live.ledger_entries?.rows).toBeGreaterThan(3_000);
    expect(live.bulk_transfers?.rows).toBe(1);
    // Every entry, plus each charge refused for insufficient funds, once in the payer's and once in the merchant's.
    expect(failedCharges).toBeGreaterThan(0);
    expect(live.operation_history?.rows).toBe((live.ledger_entries?.rows ?? 0) + 2 * failedCharges);
  });

  it('`paystream replay` refuses while the group has active members', async () => {
    const err = await run('node', [CLI, 'replay', '--group', group, '--to', 'earliest'], { env: cliEnv() }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(err).toMatchObject({ code: 1 });
    expect((err as { stderr: string }).stderr).toContain(`consumer group ${group} has 1 active member(s)`);
  });

  it('`paystream replay --to earliest` rebuilds identical tables, with a progress bar down to lag 0', async () => {
    await stopSink();
    await truncate();
    const child = spawn('node', [CLI, 'replay', '--group', group, '--to', 'earliest'], { env: cliEnv() });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await eventually(() => (out.includes('reset ') ? true : undefined));
    await startSink();
    expect(await exited).toBe(0);
    expect(out).toMatch(/\[#+-*\] +\d+% lag \d+/);
    expect(out).toContain('caught up: lag 0');
    expect(await checksums()).toEqual(live);
  });

  it("Kafka's own kafka-consumer-groups --reset-offsets --to-earliest gives the same tables", async () => {
    await stopSink();
    await truncate();
    const libs = path.join(localStateDir(process.env.PAYSTREAM_STATE_DIR), 'runtime', 'kafka', 'libs', '*');
    const { stdout } = await run('java', [
      '-cp',
      libs,
      'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
      '--bootstrap-server',
      env.config.kafka.brokers.join(','),
      '--group',
      group,
      '--reset-offsets',
      '--to-earliest',
      '--all-topics',
      '--execute',
    ]);
    expect(stdout).toContain(group);
    await startSink();
    await caughtUp();
    expect(await checksums()).toEqual(live);
  });

  it('`paystream db rebuild --domain ledger` truncates, replays and waits until caught up, with the same tables', async () => {
    await stopSink();
    await db.pool.query(`delete from balances where account_id = 'c-1'`);
    const { stderr } = await run('node', [CLI, 'db', 'rebuild', '--domain', 'ledger'], { env: cliEnv() });
    expect(stderr).toContain('caught up: lag 0');
    expect(await checksums()).toEqual(live);
  });
});
