import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { Registry } from 'prom-client';

import { CopySink } from '../connectors/postgres-sink/src/app/copy-sink';
import { mappingsFor } from '../connectors/postgres-sink/src/app/sink-mappings';
import { EventProducer } from '../services/platform/src/events/event-producer';
import { silentLogger } from '../services/platform/src/logger';
import type { LedgerEntry } from '../services/platform/src/sdk/event-types.generated';
import { groupLag, resetGroupOffsets } from '../services/platform/src/topics/consumer-group-admin';
import { eventually, integrationEnv } from '../test/support/integration-env';
import { testDatabase } from '../test/support/sink-env';
import { writeResult } from './bench-results';
import { benchInteger } from './bench-env';

const run = promisify(execFile);

/**
 * Sink benchmark: ledger-entry events through the COPY sink into `ledger_entries`, in rows per second, against
 * `psql \copy` of the same rows from a CSV file into the same table definition (the ceiling) and row-by-row INSERT
 * on a sample (the floor); then the replay rate (offsets reset to earliest, table truncated, sink run again).
 */
const EVENTS = benchInteger(process.env, 'BENCH_SINK_EVENTS', 1_000_000, 1);
const SAMPLE = 50_000;

const entry = (i: number): LedgerEntry => ({
  entryId: `e-${i}`,
  postingId: `p-${i >> 1}`,
  commandId: `c-${i >> 1}`,
  accountId: `acct-${i % 10_000}`,
  counterpartyAccountId: i % 2 ? `acct-${(i + 7) % 10_000}` : 'system:transit:EUR',
  amountMinor: BigInt(i % 2 ? -(1 + (i % 500)) : 1 + (i % 500)),
  currency: 'EUR',
  kind: 'CHARGE',
  summary: i % 10 === 0 ? 'coffee' : null,
  postedAt: new Date(Date.UTC(2026, 10, 1 + (i % 28), 12, 0, 0, i % 1000)),
});

const COLUMNS = [
  'entry_id',
  'posting_id',
  'command_id',
  'account_id',
  'counterparty_account_id',
  'amount_minor',
  'currency',
  'kind',
  'summary',
  'posted_at',
];
const csvRow = (e: LedgerEntry) =>
  [
    e.entryId,
    e.postingId,
    e.commandId,
    e.accountId,
    e.counterpartyAccountId ?? '',
    e.amountMinor.toString(),
    e.currency,
    e.kind,
    e.summary ?? '',
    e.postedAt.toISOString(),
  ].join(',');

export async function sinkBench(): Promise<void> {
  console.log(`sink: ${EVENTS} ledger-entry events`);
  const env = integrationEnv('bench-sink');
  await env.provision(['ledger.entries']);
  const db = await testDatabase('bench_sink', env.config.database.url);
  const dir = mkdtempSync(path.join(tmpdir(), 'sink-bench-'));
  try {
    const producer = new EventProducer({ kafka: env.kafka, schemas: env.schemas, logger: silentLogger });
    const p0 = Date.now();
    for (let i = 0; i < EVENTS; i += 5_000) {
      const batch = Array.from({ length: Math.min(5_000, EVENTS - i) }, (_, k) => entry(i + k));
      await producer.publishAll(
        batch.map((e) => ({ topic: 'ledger.entries', key: e.accountId, value: e, eventId: e.entryId })),
      );
    }
    await producer.disconnect();
    console.log(`  produced in ${((Date.now() - p0) / 1000).toFixed(1)} s`);

    const mapping = mappingsFor('ledger').filter((m) => m.name === 'ledger_entries');
    const group = env.group('sink');
    const topic = env.schemas.physicalTopic('ledger.entries');
    const count = async () =>
      Number((await db.pool.query<{ n: string }>('select count(*) as n from ledger_entries')).rows[0]?.n);
    // Same conditions for every measured run: no autovacuum of the bench tables running alongside, and a checkpoint
    // first, so no run pays for the previous one's WAL.
    await db.pool.query('alter table ledger_entries set (autovacuum_enabled = false)');
    let checkpoints = true;
    const quiesce = async () => {
      if (!checkpoints) return;
      try {
        await db.pool.query('checkpoint');
      } catch (err) {
        checkpoints = false;
        console.log(`  (no checkpoint before runs: ${(err as Error).message}; npm run stack:up grants pg_checkpoint)`);
      }
    };
    const sinkRun = async () => {
      await quiesce();
      const sink = new CopySink({
        kafka: env.kafka,
        schemas: env.schemas,
        pool: db.pool,
        logger: silentLogger,
        metrics: new Registry(),
        mappings: mapping,
        groupId: group,
      });
      const t0 = Date.now();
      await sink.start();
      await eventually(
        async () => ((await groupLag(env.kafka, group, [topic])).lag === 0 ? true : undefined),
        1_800_000,
      );
      const seconds = (Date.now() - t0) / 1000;
      await sink.stop();
      if ((await count()) !== EVENTS) throw new Error(`sink wrote ${await count()} rows, expected ${EVENTS}`);
      return EVENTS / seconds;
    };
    const sinkRate = await sinkRun();
    console.log(`  COPY sink: ${sinkRate.toFixed(0)} rows/s`);

    await db.pool.query('truncate ledger_entries');
    await resetGroupOffsets(env.kafka, group, { earliest: true }, [topic]);
    const replayRate = await sinkRun();
    console.log(`  replay (reset to earliest, rebuild): ${replayRate.toFixed(0)} events/s`);

    // Ceiling: psql \copy of the same rows into the same table definition.
    const csv = path.join(dir, 'entries.csv');
    const lines: string[] = [];
    for (let i = 0; i < EVENTS; i++) lines.push(csvRow(entry(i)));
    writeFileSync(csv, `${lines.join('\n')}\n`);
    const url = new URL(env.config.database.url);
    const psqlArgs = [
      '-h',
      url.hostname,
      '-p',
      url.port || '5432',
      '-U',
      decodeURIComponent(url.username),
      '-d',
      url.pathname.slice(1),
      '-v',
      'ON_ERROR_STOP=1',
    ];
    const psql = (command: string) =>
      run('psql', [...psqlArgs, '-c', command], {
        env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password) },
      });
    /** Best of two timed `\copy … from <file>` runs, each into a fresh table: what Postgres can do, not did once. */
    const ceilingRuns = async (file: string, format: 'csv' | 'binary') => {
      const rates: number[] = [];
      for (let attempt = 0; attempt < 2; attempt++) {
        await db.pool.query('drop table if exists copy_ceiling');
        await db.pool.query('create table copy_ceiling (like ledger_entries including all)');
        await db.pool.query('alter table copy_ceiling set (autovacuum_enabled = false)');
        await quiesce();
        const c0 = Date.now();
        await psql(`\\copy ${db.schema}.copy_ceiling (${COLUMNS.join(', ')}) from '${file}' with (format ${format})`);
        rates.push(EVENTS / ((Date.now() - c0) / 1000));
      }
      return rates;
    };
    const psqlRates = await ceilingRuns(csv, 'csv');
    const psqlRate = Math.max(...psqlRates);
    console.log(`  psql \\copy: ${psqlRates.map((r) => r.toFixed(0)).join(' and ')} rows/s (best counts)`);
    // The sink COPYs in binary format; for reference, psql loading the same rows in that format.
    const bin = path.join(dir, 'entries.bin');
    await psql(`\\copy ${db.schema}.copy_ceiling (${COLUMNS.join(', ')}) to '${bin}' with (format binary)`);
    const binaryRates = await ceilingRuns(bin, 'binary');
    const binaryRate = Math.max(...binaryRates);
    console.log(
      `  psql \\copy (format binary): ${binaryRates.map((r) => r.toFixed(0)).join(' and ')} rows/s; sink at ${(sinkRate / binaryRate).toFixed(3)} of it`,
    );

    // Floor: one INSERT per row on a sample.
    await db.pool.query('create table insert_floor (like ledger_entries including all)');
    const client = await db.pool.connect();
    const f0 = Date.now();
    try {
      for (let i = 0; i < SAMPLE; i++) {
        const e = entry(i);
        await client.query(
          `insert into insert_floor (${COLUMNS.join(', ')}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
            e.entryId,
            e.postingId,
            e.commandId,
            e.accountId,
            e.counterpartyAccountId,
            e.amountMinor.toString(),
            e.currency,
            e.kind,
            e.summary,
            e.postedAt,
          ],
        );
      }
    } finally {
      client.release();
    }
    const insertRate = SAMPLE / ((Date.now() - f0) / 1000);
    console.log(`  row-by-row INSERT (${SAMPLE} rows): ${insertRate.toFixed(0)} rows/s`);

    const result = writeResult({
      suite: 'sink',
      metric: 'rows per second into Postgres through the COPY sink (Kafka → ledger_entries)',
      unit: 'rows/s',
      value: sinkRate,
      baseline: { name: `row-by-row INSERT, ${SAMPLE}-row sample`, value: Math.round(insertRate) },
      ceiling: { name: 'psql \\copy of the same rows from CSV into the same table', value: Math.round(psqlRate) },
      params: {
        events: EVENTS,
        table: 'ledger_entries (primary key + 2 indexes)',
        replay_events_per_s: Math.round(replayRate),
        ceiling_runs_rows_per_s: psqlRates.map((r) => Math.round(r)),
        sink_copy_format: 'binary',
        psql_binary_copy_rows_per_s: Math.round(binaryRate),
        ratio_vs_psql_binary_copy: Math.round((sinkRate / binaryRate) * 1000) / 1000,
        conditions: `${checkpoints ? 'checkpoint before every measured run; ' : ''}autovacuum off for the bench tables; ceiling = best of 2`,
      },
    });
    console.log(`  ratio vs INSERT: ${result.ratio_vs_baseline}×; vs psql \\copy: ${result.ratio_vs_ceiling}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await db.cleanup();
    await env.cleanup();
  }
}
