import { Registry } from 'prom-client';

import { CopySink } from '../../../../connectors/postgres-sink/src/app/copy-sink';
import { mappingsFor } from '../../../../connectors/postgres-sink/src/app/sink-mappings';
import { sinkGroupId } from '../../../../connectors/postgres-sink/src/app/sink-service';
import { silentLogger } from '../../../../services/platform/src/logger';
import { groupLag } from '../../../../services/platform/src/topics/consumer-group-admin';
import { eventually, integrationEnv } from '../../../support/integration-env';
import {
  LEDGER_TOPICS,
  ledgerWorkload,
  oracle,
  publishCommands,
  startLedgerRuntime,
  startSinkProcess,
  stopProcess,
} from '../../../support/ledger-workload';
import { LEDGER_READ_MODEL_TABLES, tableChecksum, testDatabase, withSinkTopics } from '../../../support/sink-env';

// The workload has no bulk transfers, so their tables stay empty on both sides.
const TABLES = LEDGER_READ_MODEL_TABLES.filter(([table]) => !table.startsWith('bulk_'));

jest.setTimeout(300_000);

/**
 * SPEC §5: kill -9 of any process at any moment, and the Postgres read model still equals the log. Here the process is
 * the COPY sink (`paystream run sink`), killed twice while the ledger's results stream into it; whatever it had written
 * or committed when it died, the tables it ends with are those of a sink that never died.
 */
describe('the sink process killed with SIGKILL while results stream in', () => {
  const env = integrationEnv('sink-kill');
  const mappings = mappingsFor('ledger');
  let killed: Awaited<ReturnType<typeof testDatabase>>;
  let reference: Awaited<ReturnType<typeof testDatabase>>;
  const logs: string[] = [];

  beforeAll(async () => {
    await env.provision(withSinkTopics(LEDGER_TOPICS, mappings));
    killed = await testDatabase('sink-kill', env.config.database.url);
    reference = await testDatabase('sink-kill-ref', env.config.database.url);
  });
  afterAll(async () => {
    await killed.cleanup();
    await reference.cleanup();
    await env.cleanup();
  });

  // A dead member's partitions move after 10 s instead of the default 30 s.
  const startSink = () => startSinkProcess(env, killed.url, logs, { PAYSTREAM_SINK_SESSION_TIMEOUT_MS: '10000' });
  /** Rows in a table of the killed sink's database. */
  const rows = async (table: string) =>
    Number((await killed.pool.query<{ n: string }>(`select count(*)::text as n from ${table}`)).rows[0]?.n ?? 0);

  it('ends with exactly the tables of a sink that never died: no row lost, none twice', async () => {
    const commands = ledgerWorkload(6_000, 300, 23);
    const results = oracle(commands).results.size;
    const runtime = await startLedgerRuntime(env);
    let sink = startSink();
    try {
      // The commands arrive in slices while the sink writes, so the kills land in the middle of its work.
      const slices = 6;
      const publishing = (async () => {
        for (let i = 0; i < slices; i++) {
          const size = Math.ceil(commands.length / slices);
          await publishCommands(env, commands.slice(i * size, (i + 1) * size));
          await new Promise((r) => setTimeout(r, 700));
        }
      })();
      for (let kill = 0; kill < 2; kill++) {
        // Killed once it has written more than it had before: it is running, and more is on the way.
        const before = await rows('ledger_results');
        await eventually(async () => ((await rows('ledger_results')) > before ? true : undefined), 120_000);
        expect(await stopProcess(sink, 'SIGKILL')).toBeNull();
        sink = startSink();
      }
      await publishing;
      // Its group's dead members time out (10 s each here) before the last process gets the partitions.
      await eventually(async () => ((await rows('ledger_results')) === results ? true : undefined), 240_000).catch(
        (err: Error) => {
          throw new Error(`${err.message}; sink logs: ${logs.join('').slice(-3_000)}`);
        },
      );
      const topics = [...new Set(mappings.map((m) => env.schemas.physicalTopic(m.topic)))];
      await eventually(
        async () => ((await groupLag(env.kafka, sinkGroupId(env.prefix), topics)).lag === 0 ? true : undefined),
        120_000,
      );
    } finally {
      await runtime.stop();
      await stopProcess(sink);
    }

    // The same topics, read once by a sink that never died, into a database of its own.
    const once = new CopySink({
      kafka: env.kafka,
      schemas: env.schemas,
      pool: reference.pool,
      logger: silentLogger,
      metrics: new Registry(),
      mappings,
      groupId: `${env.prefix}reference-sink`,
    });
    await once.start();
    try {
      await eventually(async () => {
        const n = await reference.pool.query<{ n: string }>('select count(*)::text as n from ledger_results');
        return Number(n.rows[0]?.n) === results ? true : undefined;
      }, 120_000);
      const topics = [...new Set(mappings.map((m) => env.schemas.physicalTopic(m.topic)))];
      await eventually(
        async () => ((await groupLag(env.kafka, `${env.prefix}reference-sink`, topics)).lag === 0 ? true : undefined),
        120_000,
      );
    } finally {
      await once.stop();
    }
    for (const [table, key] of TABLES) {
      const [got, want] = [
        await tableChecksum(killed.pool, table, key),
        await tableChecksum(reference.pool, table, key),
      ];
      expect({ table, ...got }).toEqual({ table, ...want });
      expect(got.rows).toBeGreaterThan(0);
    }
  });
});
