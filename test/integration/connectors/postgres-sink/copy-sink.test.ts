import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

import { Registry } from 'prom-client';

import { CopyWriter } from '../../../../connectors/postgres-sink/src/adapters/copy-writer';
import { CopySink } from '../../../../connectors/postgres-sink/src/app/copy-sink';
import type { CopySinkOptions } from '../../../../connectors/postgres-sink/src/app/copy-sink';
import { mappingsFor } from '../../../../connectors/postgres-sink/src/app/sink-mappings';
import type { Cell, TableMapping } from '../../../../connectors/postgres-sink/src/domain/table-mapping';
import { DLQ_HEADER } from '../../../../services/platform/src/events/event-headers';
import { EventProducer } from '../../../../services/platform/src/events/event-producer';
import { silentLogger } from '../../../../services/platform/src/logger';
import type {
  AccountBalance,
  CreditTransferRequested,
  LedgerEntry,
} from '../../../../services/platform/src/sdk/event-types.generated';
import { dlqTopic, eventually, integrationEnv } from '../../../support/integration-env';
import { tableChecksum, testDatabase } from '../../../support/sink-env';
import { databasePool } from '../../../../services/platform/src/db/database-pool';
import { tcpProxyFor } from '../../../support/tcp-proxy';
import { readTopic } from '../../../support/topic-reader';

const run = promisify(execFile);
const ledger = mappingsFor('ledger');
const mapping = (name: string) => ledger.find((m) => m.name === name) as TableMapping;

const entry = (i: number, month = 10): LedgerEntry => ({
  entryId: `e-${i}`,
  postingId: `p-${Math.floor(i / 2)}`,
  commandId: `c-${Math.floor(i / 2)}`,
  accountId: `acct-${i % 50}`,
  counterpartyAccountId: i % 2 ? null : `acct-${(i + 1) % 50}`,
  amountMinor: BigInt(i % 2 ? -(i + 1) : i + 1),
  currency: 'EUR',
  kind: 'CHARGE',
  summary: i % 7 === 0 ? 'tab\there, newline\nthere, back\\slash' : null,
  postedAt: new Date(Date.UTC(2026, month, 1 + (i % 28), 12, 0, 0, i % 1000)),
});

describe('Postgres COPY sink', () => {
  const env = integrationEnv('sink');
  let db: Awaited<ReturnType<typeof testDatabase>>;
  const producer = new EventProducer({ kafka: env.kafka, schemas: env.schemas, logger: silentLogger });

  beforeAll(async () => {
    await env.provision(['ledger.entries', 'ledger.balances', 'bulk.credit-transfers']);
    db = await testDatabase('sink', env.config.database.url);
  });
  afterAll(async () => {
    await producer.disconnect();
    await db.cleanup();
    await env.cleanup();
  });

  /** A sink on this file's topics and database; each test names its own group, mappings and metrics. */
  const copySink = (
    options: Pick<CopySinkOptions, 'metrics' | 'mappings' | 'groupId' | 'maxRows' | 'maxBytes' | 'random'>,
  ) => new CopySink({ kafka: env.kafka, schemas: env.schemas, pool: db.pool, logger: silentLogger, ...options });

  const count = async (table: string) =>
    Number((await db.pool.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]?.n);

  /** The rows `mapping` makes of entries from..to (posted in `month`, 0-based). */
  const rows = (m: TableMapping, from = 0, to = 300, month = 10) =>
    Array.from({ length: to - from }, (_, k) =>
      Object.values(m.columns).map(
        (src) =>
          (entry(from + k, month) as unknown as Record<string, unknown>)[src] ?? (src === '$const:t' ? 't' : null),
      ),
    ) as Cell[][];

  /** Publishes entries first … first + n - 1 to ledger.entries. */
  const publishEntries = (first: number, n: number) =>
    producer.publishAll(
      Array.from({ length: n }, (_, k) => entry(first + k)).map((e) => ({
        topic: 'ledger.entries',
        key: e.accountId,
        value: e,
        eventId: e.entryId,
      })),
    );

  /** Entries first … first + n - 1 are in ledger_entries, each exactly once. */
  const expectEntriesOnce = async (first: number, n: number) => {
    const ids = Array.from({ length: n }, (_, k) => `e-${first + k}`);
    const stats = await db.pool.query<{ rows: string; ids: string }>(
      'select count(*) as rows, count(distinct entry_id) as ids from ledger_entries where entry_id = any($1)',
      [ids],
    );
    expect(stats.rows[0]).toEqual({ rows: String(n), ids: String(n) });
  };

  /** The samples of `name` in `metrics`, summed; with `reason`, only those of that reason. */
  const metricSum = async (metrics: Registry, name: string, reason?: string) =>
    ((await metrics.getSingleMetric(name)?.get())?.values ?? [])
      .filter((v) => reason === undefined || v.labels.reason === reason)
      .reduce((sum, v) => sum + v.value, 0);

  const balance = (accountId: string, version: bigint, openedAt: Date | null): AccountBalance => ({
    accountId,
    ownerKind: 'CLIENT',
    ownerId: `owner-${accountId}`,
    currency: 'EUR',
    balanceMinor: version * 100n,
    allowNegative: false,
    closed: false,
    version,
    updatedAt: new Date(Date.UTC(2026, 10, 24, 9, 0, Number(version))),
    openedAt,
  });

  it('the same batch delivered twice leaves one row per event', async () => {
    const fallbacks: string[] = [];
    const writer = new CopyWriter(db.pool, { onFallback: (table) => fallbacks.push(table) });
    const batch = [
      { mapping: mapping('ledger_entries'), rows: rows(mapping('ledger_entries')) },
      { mapping: mapping('operation_history'), rows: rows(mapping('operation_history')) },
    ];
    expect(await writer.write(batch)).toBe(600);
    expect(fallbacks).toEqual([]); // all new: the optimistic COPY took them
    expect(await writer.write(batch)).toBe(0);
    expect(fallbacks).toEqual(['ledger_entries']); // all present: the COPY failed, staging skipped every row
    expect(await count('ledger_entries')).toBe(300);
    expect(await count('operation_history')).toBe(300);
    // Half re-delivered, half new: only the new half is written.
    expect(
      await writer.write([{ mapping: mapping('ledger_entries'), rows: rows(mapping('ledger_entries'), 150, 450) }]),
    ).toBe(150);
    expect(await count('ledger_entries')).toBe(450);
    // A key twice within one batch (a producer's retry): the direct COPY fails on it, staging keeps the first.
    const twice = rows(mapping('ledger_entries'), 450, 451);
    expect(await writer.write([{ mapping: mapping('ledger_entries'), rows: [...twice, ...twice] }])).toBe(1);
    expect(fallbacks).toEqual(['ledger_entries', 'ledger_entries', 'ledger_entries']);
    expect(await count('ledger_entries')).toBe(451);
    const summary = await db.pool.query<{ summary: string }>(
      `select summary from ledger_entries where entry_id = 'e-0'`,
    );
    expect(summary.rows[0]?.summary).toBe('tab\there, newline\nthere, back\\slash');
    await db.pool.query('truncate ledger_entries, operation_history');
  });

  it('a connection keeps its staging tables across transactions, empty at each start', async () => {
    // One connection, so every write below reuses the staging table the first one created.
    const pool = databasePool({ url: db.url, max: 1, logger: silentLogger });
    try {
      const writer = new CopyWriter(pool);
      const history = mapping('operation_history');
      expect(await writer.write([{ mapping: history, rows: rows(history, 0, 200) }])).toBe(200);
      const stages = await pool.query<{ n: string }>(
        `select count(*) as n from pg_class where relname = 'stage_operation_history' and relnamespace = pg_my_temp_schema()`,
      );
      expect(stages.rows[0]?.n).toBe('1');
      // Rows the previous transaction staged must not come back: after a truncate only the new batch is there.
      await db.pool.query('truncate operation_history');
      expect(await writer.write([{ mapping: history, rows: rows(history, 200, 250) }])).toBe(50);
      expect(await count('operation_history')).toBe(50);
      const staged = await pool.query<{ n: string }>('select count(*) as n from stage_operation_history');
      expect(staged.rows[0]?.n).toBe('0');
    } finally {
      await pool.end();
      await db.pool.query('truncate operation_history');
    }
  });

  it('a monthly partition dropped after the writer created it: the write is retryable, and the retry recreates it', async () => {
    const writer = new CopyWriter(db.pool);
    const history = mapping('operation_history');
    expect(await writer.write([{ mapping: history, rows: rows(history, 0, 10, 4) }])).toBe(10);
    await db.pool.query('drop table operation_history_2026_05');
    const refused = await writer.write([{ mapping: history, rows: rows(history, 10, 20, 4) }]).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'DATABASE_REFUSED', retryable: true });
    expect(await writer.write([{ mapping: history, rows: rows(history, 10, 20, 4) }])).toBe(10);
    expect(await count('operation_history_2026_05')).toBe(10);
    await db.pool.query('drop table operation_history_2026_05');
  });

  it('binary and text COPY write identical tables, and a column type changed underneath falls back to text', async () => {
    const m = mapping('ledger_entries');
    const rows = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, k) => {
        const e = {
          ...entry(from + k),
          ...(k % 5 === 0 ? { summary: `ünïcödé — 名前 ${k}` } : {}),
          ...(k % 9 === 0 ? { postedAt: new Date(Date.UTC(1987, 2, 4, 5, 6, 7, k)) } : {}),
        };
        return Object.values(m.columns).map((src) => (e as unknown as Record<string, unknown>)[src] ?? null);
      }) as never;
    const binary = new CopyWriter(db.pool);
    const text = new CopyWriter(db.pool, { format: 'text' });
    expect(await binary.write([{ mapping: m, rows: rows(0, 400) }])).toBe(400);
    const viaBinary = await tableChecksum(db.pool, 'ledger_entries', 'entry_id');
    await db.pool.query('truncate ledger_entries');
    expect(await text.write([{ mapping: m, rows: rows(0, 400) }])).toBe(400);
    expect(await tableChecksum(db.pool, 'ledger_entries', 'entry_id')).toEqual(viaBinary);
    expect(viaBinary.rows).toBe(400);
    // The binary writer read amount_minor as int8; now it is numeric, which refuses int8's binary form (22P03).
    await db.pool.query('alter table ledger_entries alter column amount_minor type numeric');
    try {
      expect(await binary.write([{ mapping: m, rows: rows(400, 500) }])).toBe(100);
      const sum = await db.pool.query<{ s: string }>(
        'select sum(amount_minor)::text as s from ledger_entries where entry_id = any($1)',
        [Array.from({ length: 100 }, (_, k) => `e-${400 + k}`)],
      );
      const expected = Array.from({ length: 100 }, (_, k) => entry(400 + k).amountMinor).reduce((a, b) => a + b, 0n);
      expect(sum.rows[0]?.s).toBe(expected.toString());
    } finally {
      await db.pool.query('alter table ledger_entries alter column amount_minor type bigint');
    }
    await db.pool.query('truncate ledger_entries');
  });

  it('survives a Postgres restart mid-run: every row present exactly once', async () => {
    const n = 20_000;
    const metrics = new Registry();
    for (let i = 0; i < n; i += 2_000) {
      await producer.publishAll(
        Array.from({ length: 2_000 }, (_, k) => entry(i + k, 9 + ((i + k) % 3))).map((e) => ({
          topic: 'ledger.entries',
          key: e.accountId,
          value: e,
          eventId: e.entryId,
        })),
      );
    }
    const sink = copySink({
      metrics,
      mappings: [mapping('ledger_entries'), mapping('operation_history')],
      groupId: env.group('sink-restart'),
      maxRows: 500,
      maxBytes: 64 * 1024,
    });
    await sink.start();
    try {
      const before = await eventually(async () => {
        const c = await count('ledger_entries').catch(() => 0);
        return c > 0 ? c : undefined;
      });
      expect(before).toBeLessThan(n);
      const cluster = readdirSync('/etc/postgresql')[0] ?? '15';
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', cluster, 'main', 'restart']);
      await eventually(async () => ((await count('ledger_entries').catch(() => 0)) === n ? true : undefined), 120_000);
      const stats = await db.pool.query<{ rows: string; ids: string }>(
        'select count(*) as rows, count(distinct entry_id) as ids from ledger_entries',
      );
      expect(stats.rows[0]).toEqual({ rows: String(n), ids: String(n) });
      expect(await count('operation_history')).toBe(n);
      // The restart really hit the sink: it retried at least one batch.
      const retries = (await metrics.getSingleMetric('paystream_sink_retries_total')?.get())?.values ?? [];
      expect(retries.reduce((sum, v) => sum + v.value, 0)).toBeGreaterThan(0);
      const partitions = await db.pool.query<{ name: string }>(
        `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
         join pg_namespace s on s.oid = p.relnamespace where p.relname = 'operation_history' and s.nspname = $1 order by 1`,
        [db.schema],
      );
      expect(partitions.rows.map((r) => r.name)).toEqual([
        'operation_history_2026_10',
        'operation_history_2026_11',
        'operation_history_2026_12',
      ]);
    } finally {
      await sink.stop();
    }
  });

  it('waits out a statement the database refuses for a reason that is not the rows (table renamed away), dead-lettering nothing', async () => {
    const n = 3_000;
    const metrics = new Registry();
    await publishEntries(100_000, n);
    const before = await count('ledger_entries');
    await db.pool.query('alter table ledger_entries rename to ledger_entries_away');
    const sink = copySink({
      metrics,
      mappings: [mapping('ledger_entries')],
      groupId: env.group('sink-refused'),
      maxRows: 500,
    });
    const total = (name: string, reason?: string) => metricSum(metrics, name, reason);
    await sink.start();
    try {
      // The sink keeps retrying while the table is missing (42P01), and sends nothing to the DLQ.
      await eventually(async () =>
        (await total('paystream_sink_retries_total', 'DATABASE_REFUSED')) >= 2 ? true : undefined,
      );
      expect(await total('paystream_sink_dead_letters_total')).toBe(0);
      await db.pool.query('alter table ledger_entries_away rename to ledger_entries');
      await eventually(async () => ((await count('ledger_entries')) === before + n ? true : undefined), 60_000);
    } finally {
      await sink.stop();
    }
    await expectEntriesOnce(100_000, n);
    expect(await total('paystream_sink_dead_letters_total')).toBe(0);
    // The topic also holds the earlier test's entries, already in the table: only the new ones count as written.
    expect(await total('paystream_sink_rows_total')).toBe(n);
  });

  it('while a write is retried, the lag counts the records waiting and those published meanwhile, then falls to 0', async () => {
    const n = 2_000;
    const metrics = new Registry();
    await publishEntries(150_000, n);
    await db.pool.query('alter table ledger_entries rename to ledger_entries_away');
    const sink = copySink({
      metrics,
      mappings: [mapping('ledger_entries')],
      groupId: env.group('sink-lag-retrying'),
      maxRows: 500,
    });
    const lag = async () => metricSum(metrics, 'paystream_sink_lag');
    await sink.start();
    try {
      await eventually(async () =>
        (await metricSum(metrics, 'paystream_sink_retries_total', 'DATABASE_REFUSED')) >= 2 ? true : undefined,
      );
      // A new group reads the topic from its start and writes nothing meanwhile: every record counts.
      await eventually(async () => ((await lag()) >= n ? true : undefined), 20_000);
      const behind = await lag();
      await publishEntries(160_000, n);
      await eventually(async () => ((await lag()) >= behind + n ? true : undefined), 30_000);
      await db.pool.query('alter table ledger_entries_away rename to ledger_entries');
      await eventually(async () => ((await lag()) === 0 ? true : undefined), 60_000);
    } finally {
      await sink.stop();
    }
    await expectEntriesOnce(150_000, n);
    await expectEntriesOnce(160_000, n);
  });

  it('wallets and balances come from the latest balance record alone (the changelog is compacted)', async () => {
    const opened = new Date('2026-11-01T08:00:00Z');
    // acct-a: compaction removed versions 1–6; acct-b: a version 1 written before openedAt existed.
    const records = [balance('acct-a', 7n, opened), balance('acct-b', 1n, null)];
    await producer.publishAll(
      records.map((b) => ({
        topic: 'ledger.balances',
        key: b.accountId,
        value: b,
        eventId: `${b.accountId}:${b.version}`,
      })),
    );
    const sink = copySink({
      metrics: new Registry(),
      mappings: [mapping('balances'), mapping('wallets')],
      groupId: env.group('sink-balances'),
    });
    await sink.start();
    try {
      await eventually(async () => ((await count('wallets')) === 2 ? true : undefined));
      // A later version of a wallet already known changes its balance, never its wallet row.
      await producer.publishAll([
        { topic: 'ledger.balances', key: 'acct-a', value: balance('acct-a', 8n, opened), eventId: 'acct-a:8' },
      ]);
      await eventually(async () => {
        const r = await db.pool.query<{ version: string }>(
          `select version::text from balances where account_id = 'acct-a'`,
        );
        return r.rows[0]?.version === '8' ? true : undefined;
      });
    } finally {
      await sink.stop();
    }
    const wallets = await db.pool.query<{ wallet_id: string; owner_id: string; opened_at: Date }>(
      'select wallet_id, owner_id, opened_at from wallets order by wallet_id',
    );
    expect(wallets.rows).toEqual([
      { wallet_id: 'acct-a', owner_id: 'owner-acct-a', opened_at: opened },
      { wallet_id: 'acct-b', owner_id: 'owner-acct-b', opened_at: new Date(Date.UTC(2026, 10, 24, 9, 0, 1)) },
    ]);
    expect(await count('balances')).toBe(2);
  });

  it('sends a row the database can never take, and an undecodable record, to the DLQ and keeps going', async () => {
    const transfer = (i: number, amount: bigint): CreditTransferRequested => ({
      eventId: `ct-${i}`,
      bulkId: 'bulk-1',
      itemId: `i-${i}`,
      organizationAccountId: 'org-1',
      amountMinor: amount,
      currency: 'EUR',
      counterpartyName: 'Bip Bip',
      counterpartyIban: 'FR1420041010050500013M02606',
      counterpartyBic: 'CRLYFRPPTOU',
      description: 'Wonderland',
      requestedAt: new Date('2026-11-24T10:00:00Z'),
    });
    const publish = (items: CreditTransferRequested[]) =>
      producer.publishAll(
        items.map((t) => ({ topic: 'bulk.credit-transfers', key: t.bulkId, value: t, eventId: t.eventId })),
      );
    await publish([transfer(1, 10n), transfer(2, 0n), transfer(3, 30n)]);
    const raw = env.kafka.producer();
    await raw.connect();
    await raw.send({
      topic: env.schemas.physicalTopic('bulk.credit-transfers'),
      messages: [{ key: 'bulk-1', value: Buffer.from('not avro') }],
    });
    await raw.disconnect();
    const sink = copySink({
      metrics: new Registry(),
      mappings: [mapping('bulk_transfer_items')],
      groupId: env.group('sink-poison'),
    });
    await sink.start();
    try {
      await eventually(async () => ((await count('bulk_transfer_items')) === 2 ? true : undefined));
      await publish([transfer(4, 40n)]);
      await eventually(async () => ((await count('bulk_transfer_items')) === 3 ? true : undefined));
    } finally {
      await sink.stop();
    }
    const ids = await db.pool.query<{ event_id: string }>('select event_id from bulk_transfer_items order by event_id');
    expect(ids.rows.map((r) => r.event_id)).toEqual(['ct-1', 'ct-3', 'ct-4']);
    const letters = await readTopic(
      env,
      dlqTopic(env.schemas.physicalTopic('bulk.credit-transfers')),
      (rs) => rs.length >= 2,
      {
        raw: true,
        physical: true,
      },
    );
    // Decoding comes first (the whole fetched batch), the database's verdict second.
    expect(letters.map((l) => l.headers[DLQ_HEADER.errorCode])).toEqual(['DECODE_FAILED', 'ROW_REJECTED']);
    expect(letters[0]?.raw?.toString()).toBe('not avro');
    expect(letters[1]?.headers[DLQ_HEADER.errorMessage]).toMatch(/check constraint/);
    expect(letters[1]?.headers['event-id']).toBe('ct-2');
    for (const l of letters)
      expect(l.headers[DLQ_HEADER.sourceTopic]).toBe(env.schemas.physicalTopic('bulk.credit-transfers'));
  });

  it('stops at once while a write waits out a refused statement, instead of sleeping out its backoff', async () => {
    const metrics = new Registry();
    await publishEntries(400_000, 50);
    await db.pool.query('alter table ledger_entries rename to ledger_entries_away');
    try {
      // The longest waits the backoff allows: 0.2, 0.4, 0.8, 1.6, 3.2, then 5 s.
      const sink = copySink({
        metrics,
        mappings: [mapping('ledger_entries')],
        groupId: env.group('sink-stop-waiting'),
        random: () => 0.99,
      });
      await sink.start();
      let stopped = false;
      try {
        await eventually(async () =>
          (await metricSum(metrics, 'paystream_sink_retries_total', 'DATABASE_REFUSED')) >= 1 ? true : undefined,
        );
        // Each partition's write has failed 4 times by now (waits of 0.2, 0.4, 0.8 and 1.6 s), and sleeps in its fifth.
        await sleep(3_500);
        const began = performance.now();
        await sink.stop();
        stopped = true;
        // Leaving the group takes a few hundred ms; the old sink slept out the rest of its 3.2 s first.
        expect(performance.now() - began).toBeLessThan(1_500);
      } finally {
        if (!stopped) await sink.stop();
      }
      expect(await metricSum(metrics, 'paystream_sink_dead_letters_total')).toBe(0);
    } finally {
      await db.pool.query('alter table ledger_entries_away rename to ledger_entries');
    }
    // Nothing was committed: the group's next sink reads the records again and writes each once.
    const next = copySink({
      metrics: new Registry(),
      mappings: [mapping('ledger_entries')],
      groupId: env.group('sink-stop-waiting'),
    });
    await next.start();
    try {
      const written = async () =>
        Number(
          (
            await db.pool.query<{ n: string }>(
              `select count(*) as n from ledger_entries where entry_id like 'e-4000__'`,
            )
          ).rows[0]?.n,
        );
      await eventually(async () => ((await written()) === 50 ? true : undefined), 20_000);
    } finally {
      await next.stop();
    }
    await expectEntriesOnce(400_000, 50);
  }, 40_000);

  it('keeps writing the other partitions while one waits out a refused statement', async () => {
    const n = 3_000;
    const metrics = new Registry();
    const accounts = Array.from({ length: 10 }, (_, k) => `iso-acct-${k}`);
    const isolated = async () =>
      Number(
        (
          await db.pool.query<{ n: string }>('select count(*) as n from balances where account_id = any($1)', [
            accounts,
          ])
        ).rows[0]?.n,
      );
    await publishEntries(300_000, n);
    const before = await count('ledger_entries');
    await db.pool.query('alter table ledger_entries rename to ledger_entries_away');
    // Chunks of 100 rows: each partition of ledger.entries has several, so the next one is ready while the first
    // write is being retried.
    const sink = copySink({
      metrics,
      mappings: [mapping('ledger_entries'), mapping('balances')],
      groupId: env.group('sink-isolated'),
      maxRows: 100,
    });
    await sink.start();
    try {
      await eventually(async () =>
        (await metricSum(metrics, 'paystream_sink_retries_total', 'DATABASE_REFUSED')) >= 2 ? true : undefined,
      );
      // Published while ledger_entries is missing: the balances' partitions are written all the same.
      await producer.publishAll(
        accounts.map((a) => ({ topic: 'ledger.balances', key: a, value: balance(a, 1n, null), eventId: `${a}:1` })),
      );
      await eventually(async () => ((await isolated()) === accounts.length ? true : undefined), 20_000);
      const missing = await db.pool.query<{ t: string | null }>(`select to_regclass('ledger_entries')::text as t`);
      expect(missing.rows[0]?.t).toBeNull();
      await db.pool.query('alter table ledger_entries_away rename to ledger_entries');
      await eventually(async () => ((await count('ledger_entries')) === before + n ? true : undefined), 60_000);
    } finally {
      await sink.stop();
    }
    await expectEntriesOnce(300_000, n);
    expect(await isolated()).toBe(accounts.length);
  });

  it('gives up a write whose connection went silent and writes it again on a new one: every row once', async () => {
    const { proxy, url } = await tcpProxyFor(db.url);
    const pool = databasePool({
      url,
      max: 2,
      logger: silentLogger,
      connectTimeoutMs: 500,
      statementTimeoutMs: 500,
    });
    const metrics = new Registry();
    const sink = new CopySink({
      kafka: env.kafka,
      schemas: env.schemas,
      pool,
      logger: silentLogger,
      metrics,
      mappings: [mapping('ledger_entries')],
      groupId: env.group('sink-silent'),
      maxRows: 100,
    });
    await sink.start();
    try {
      const written = async (first: number, n: number) =>
        Number(
          (
            await db.pool.query<{ n: string }>('select count(*) as n from ledger_entries where entry_id = any($1)', [
              Array.from({ length: n }, (_, k) => `e-${first + k}`),
            ])
          ).rows[0]?.n,
        );
      await publishEntries(400_000, 200);
      await eventually(async () => ((await written(400_000, 200)) === 200 ? true : undefined), 30_000);
      // The sink's pooled connections now lead nowhere: no answer, no reset. Its next write waits on one of them.
      proxy.blackhole();
      await publishEntries(400_200, 200);
      await eventually(async () => ((await written(400_200, 200)) === 200 ? true : undefined), 30_000);
      expect(await metricSum(metrics, 'paystream_sink_retries_total', 'DATABASE_UNAVAILABLE')).toBeGreaterThan(0);
    } finally {
      await sink.stop();
      await pool.end();
      await proxy.close();
    }
    await expectEntriesOnce(400_000, 400);
  });

  it('two writes sharing rows, given in opposite orders, wait for each other instead of deadlocking', async () => {
    const m = mapping('ledger_entries');
    const ascending = rows(m, 500_000, 500_200);
    const descending = [...ascending].reverse();
    const cols = Object.keys(m.columns);
    // A third transaction holds a row in the middle: each write gets that far, then waits on it.
    const middle = ascending[100] as Cell[];
    const holder = await db.pool.connect();
    try {
      await holder.query('begin');
      await holder.query(
        `insert into ledger_entries (${cols.map((c) => `"${c}"`).join(', ')}) values (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
        middle.map((c) => (typeof c === 'bigint' ? c.toString() : c)),
      );
      const writer = new CopyWriter(db.pool);
      const outcome = (w: Promise<number>) =>
        w.then(
          () => 'written',
          (err: Error) => err.message,
        );
      const writes = Promise.all([
        outcome(writer.write([{ mapping: m, rows: ascending }])),
        outcome(writer.write([{ mapping: m, rows: descending }])),
      ]);
      await eventually(async () => {
        const waiting = await db.pool.query<{ n: string }>(
          `select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and query like 'copy "ledger_entries"%'`,
        );
        return Number(waiting.rows[0]?.n) === 2 ? true : undefined;
      });
      // Released: in the given orders the two would now each hold rows the other waits for (40P01 after 1 s).
      await holder.query('rollback');
      expect(await writes).toEqual(['written', 'written']);
    } finally {
      holder.release();
    }
    await expectEntriesOnce(500_000, 200);
  });
});
