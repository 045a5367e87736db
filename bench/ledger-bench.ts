import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { Pool } from 'pg';

import { loadConfig } from '../services/platform/src/config';
import { HEADER } from '../services/platform/src/events/event-headers';
import { EventProducer } from '../services/platform/src/events/event-producer';
import { silentLogger } from '../services/platform/src/logger';
import type { LedgerCommand } from '../services/platform/src/sdk/event-types.generated';
import { integrationEnv } from '../test/support/integration-env';
import type { IntegrationEnv } from '../test/support/integration-env';
import { cmd } from '../test/support/ledger-model';
import { LEDGER_TOPICS, oracle, seeded, startLedgerProcess, stopProcess } from '../test/support/ledger-workload';
import { percentile, writeResult } from './bench-results';
import { localStateDir } from '../services/platform/src/service/state-dir';
import { benchInteger } from './bench-env';

const run = promisify(execFile);

/**
 * Ledger benchmark: balance-checked charges per second end to end (publish → result visible to a read_committed
 * consumer) with exactly-once on, on 10,000 accounts with Zipf-skewed payers and one hot merchant taking half the
 * charges. In the same run: the seed's approach (one Postgres transaction with SELECT … FOR UPDATE per command, 32
 * concurrent clients) on the same charges, and Kafka's own ProducerPerformance with the same record size (ceiling).
 */
const ACCOUNTS = benchInteger(process.env, 'BENCH_LEDGER_ACCOUNTS', 10_000, 3);
const CHARGES = benchInteger(process.env, 'BENCH_LEDGER_CHARGES', 60_000, 1);
const PROCESSES = benchInteger(process.env, 'BENCH_LEDGER_PROCESSES', 2, 1);
const PG_CLIENTS = 32;
const LATENCY_RATE = benchInteger(process.env, 'BENCH_LEDGER_LATENCY_RATE', 1_000, 1);
/**
 * Charges run to completion before the measured phase, between accounts of their own (`w-…`, disjoint from the
 * workload's), on both sides alike. The services are long-running processes: without it, the measured seconds of fresh
 * ledger processes went for a sixth to V8's optimising compiler (perf, 3 s of the saturated phase), a start-up cost
 * rather than a per-charge one.
 */
const WARMUP_CHARGES = benchInteger(process.env, 'BENCH_LEDGER_WARMUP', 20_000, 0);
const LATENCY_SECONDS = 10;

interface Charge {
  payer: string;
  merchant: string;
  amount: bigint;
  id: string;
}

function zipf(n: number, s: number, random: () => number): () => number {
  const weights = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s);
  const total = weights.reduce((a, b) => a + b, 0);
  const cdf: number[] = [];
  let acc = 0;
  for (const w of weights) cdf.push((acc += w / total));
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] ?? 1) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function workload(label: string) {
  const random = seeded(2026);
  const merchants = Math.max(2, Math.floor(ACCOUNTS / 100));
  const clients = ACCOUNTS - merchants;
  const payer = zipf(clients, 1.1, random);
  const charges: Charge[] = [];
  for (let i = 0; i < CHARGES; i++) {
    charges.push({
      payer: `c-${payer()}`,
      merchant: random() < 0.5 ? 'm-0' : `m-${1 + Math.floor(random() * (merchants - 1))}`,
      amount: BigInt(1 + Math.floor(random() * 500)),
      id: `${label}-chg-${i}`,
    });
  }
  const deposits = Array.from({ length: clients }, (_, c) => ({
    id: `c-${c}`,
    amount: 20_000n + BigInt(Math.floor(random() * 80_000)),
  }));
  // Warm-up: 200 payers funded for every charge they make, paying 4 merchants, so every warm-up charge and its credit
  // are accepted — the same path the measured charges take.
  const warmupPayers = Array.from({ length: 200 }, (_, c) => `w-c-${c}`);
  const warmupMerchants = Array.from({ length: 4 }, (_, m) => `w-m-${m}`);
  const warmup: Charge[] = Array.from({ length: WARMUP_CHARGES }, (_, i) => ({
    payer: warmupPayers[i % warmupPayers.length] as string,
    merchant: warmupMerchants[i % warmupMerchants.length] as string,
    amount: BigInt(1 + (i % 500)),
    id: `${label}-warm-${i}`,
  }));
  const warmupDeposit = 500n * BigInt(Math.ceil(WARMUP_CHARGES / warmupPayers.length) + 1);
  return { merchants, clients, charges, deposits, warmup, warmupPayers, warmupMerchants, warmupDeposit };
}

/** Waits for the results of the given command ids; returns when each was seen (ms since epoch). */
function resultWatcher(env: IntegrationEnv, ids: Set<string>) {
  const seen = new Map<string, number>();
  const consumer = env.kafka.consumer({
    groupId: env.group(`bench-results-${Math.random()}`),
    readUncommitted: false,
    maxWaitTimeInMs: 10,
  });
  let resolveAll: () => void = () => undefined;
  const all = new Promise<void>((r) => (resolveAll = r));
  // Resolves on the first fetch after the watcher joined: it owns the results partitions and its position (the end
  // of each, a new group starting at the latest offsets) is resolved, so no latency includes its own group join and
  // no result of a command published afterwards can be missed. Starting at the end, not the beginning, keeps it
  // from reading every earlier phase's results before the ones it measures (which made the paced phase's p99 the
  // time to skim ~140,000 old results).
  let joinedGroup = false;
  const positioned = new Promise<void>((r) => {
    consumer.on(consumer.events.GROUP_JOIN, () => (joinedGroup = true));
    consumer.on(consumer.events.FETCH, () => {
      if (joinedGroup) r();
    });
  });
  const start = async () => {
    await consumer.connect();
    await consumer.subscribe({ topic: env.schemas.physicalTopic('ledger.results'), fromBeginning: false });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const now = Date.now();
        // The result's event id is `<commandId>:result`: reading the header keeps the watcher's CPU off the
        // machine the processors share (no Avro decoding here).
        for (const m of batch.messages) {
          const eventId = m.headers?.[HEADER.eventId]?.toString() ?? '';
          const commandId = eventId.endsWith(':result') ? eventId.slice(0, -':result'.length) : '';
          if (ids.has(commandId) && !seen.has(commandId)) seen.set(commandId, now);
        }
        await Promise.resolve();
        if (seen.size >= ids.size) resolveAll();
      },
    });
    await positioned;
  };
  return { start, all, seen, stop: () => consumer.disconnect() };
}

async function kafkaRun(): Promise<{
  throughput: number;
  credits: number;
  saturatedP50: number;
  saturatedP99: number;
  p50: number;
  p99: number;
  recordBytes: number;
}> {
  const env = integrationEnv('bench-ledger');
  await env.provision(LEDGER_TOPICS);
  const logs: string[] = [];
  const procs = Array.from({ length: PROCESSES }, () => startLedgerProcess(env, logs));
  let stopping = false;
  // A ledger process that dies during the run makes the numbers meaningless: fail loudly with its output.
  const died = new Promise<never>((_, reject) => {
    for (const p of procs) {
      p.once('exit', (code) => {
        if (!stopping) reject(new Error(`a ledger process exited with ${code}: ${logs.join('').slice(-2000)}`));
      });
    }
  });
  died.catch(() => undefined);
  const guard = <T>(work: Promise<T>) => Promise.race([work, died]);
  const producer = new EventProducer({ kafka: env.kafka, schemas: env.schemas, logger: silentLogger });
  const publish = (commands: LedgerCommand[]) =>
    producer.publishAll(
      commands.map((c) => ({ topic: 'ledger.commands', key: c.accountId, value: c, eventId: c.commandId })),
    );
  try {
    const w = workload('kafka');
    // Setup (not measured): accounts and deposits.
    const setup: LedgerCommand[] = [];
    for (let m = 0; m < w.merchants; m++) setup.push(cmd.open(`m-${m}`, 'EUR', 'MERCHANT', false, `open-m-${m}`));
    for (let c = 0; c < w.clients; c++) setup.push(cmd.open(`c-${c}`, 'EUR', 'CLIENT', false, `open-c-${c}`));
    for (const d of w.deposits) setup.push(cmd.deposit(d.id, d.amount, 'EUR', `dep-${d.id}`));
    for (const m of w.warmupMerchants) setup.push(cmd.open(m, 'EUR', 'MERCHANT', false, `open-${m}`));
    for (const c of w.warmupPayers) {
      setup.push(cmd.open(c, 'EUR', 'CLIENT', false, `open-${c}`));
      setup.push(cmd.deposit(c, w.warmupDeposit, 'EUR', `dep-${c}`));
    }
    const setupIds = new Set(setup.map((c) => c.commandId));
    const setupWatch = resultWatcher(env, setupIds);
    await setupWatch.start();
    for (let i = 0; i < setup.length; i += 2_000) await publish(setup.slice(i, i + 2_000));
    await guard(setupWatch.all);
    await setupWatch.stop();

    // Warm-up (not measured): every warm-up charge and its merchant credit.
    const warmup = w.warmup.map((c) => cmd.charge(c.payer, c.merchant, c.amount, 'EUR', c.id));
    if (warmup.length > 0) {
      const warmupWatch = resultWatcher(env, new Set(warmup.flatMap((c) => [c.commandId, `${c.commandId}:credit`])));
      await warmupWatch.start();
      for (let i = 0; i < warmup.length; i += 1_000) await publish(warmup.slice(i, i + 1_000));
      await guard(warmupWatch.all);
      await warmupWatch.stop();
    }

    // Throughput: publish every charge as fast as possible, measure until the last result is visible — including
    // the merchants' credits (known from the in-memory oracle), so the work counted is the whole work.
    const charges = w.charges.map((c) => cmd.charge(c.payer, c.merchant, c.amount, 'EUR', c.id));
    const recordBytes = (await env.schemas.encode('ledger.commands', charges[0])).length;
    const model = oracle([...setup, ...charges]);
    const credits = charges.map((c) => `${c.commandId}:credit`).filter((id) => model.result(id) !== undefined);
    const watch = resultWatcher(env, new Set([...charges.map((c) => c.commandId), ...credits]));
    await watch.start();
    const sent = new Map<string, number>();
    const t0 = Date.now();
    for (let i = 0; i < charges.length; i += 1_000) {
      const chunk = charges.slice(i, i + 1_000);
      const at = Date.now();
      for (const c of chunk) sent.set(c.commandId, at);
      await publish(chunk);
    }
    await guard(watch.all);
    // A loop, not Math.max(...values): spreading hundreds of thousands of arguments overflows the stack.
    let last = t0;
    for (const t of watch.seen.values()) if (t > last) last = t;
    const elapsed = (last - t0) / 1000;
    const saturated = [...watch.seen.entries()]
      .filter(([id]) => sent.has(id))
      .map(([id, t]) => t - (sent.get(id) ?? t))
      .sort((a, b) => a - b);
    await watch.stop();

    // Latency at a fixed rate well below saturation.
    const paced = Array.from({ length: LATENCY_RATE * LATENCY_SECONDS }, (_, i) => {
      const c = w.charges[i % w.charges.length] as Charge;
      return cmd.charge(c.payer, c.merchant, 1n, 'EUR', `paced-${i}`);
    });
    const pacedWatch = resultWatcher(env, new Set(paced.map((c) => c.commandId)));
    await pacedWatch.start();
    const pacedSent = new Map<string, number>();
    const tick = 20;
    const perTick = Math.max(1, Math.round((LATENCY_RATE * tick) / 1000));
    const p0 = Date.now();
    for (let i = 0, n = 0; i < paced.length; i += perTick, n++) {
      const wait = p0 + n * tick - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const chunk = paced.slice(i, i + perTick);
      const at = Date.now();
      for (const c of chunk) pacedSent.set(c.commandId, at);
      await publish(chunk);
    }
    await guard(pacedWatch.all);
    const lat = [...pacedWatch.seen.entries()].map(([id, t]) => t - (pacedSent.get(id) ?? t)).sort((a, b) => a - b);
    await pacedWatch.stop();
    // The paced phase starts on a drained pipeline; its latency is charge → result (credits land after).
    return {
      throughput: charges.length / elapsed,
      credits: credits.length,
      saturatedP50: percentile(saturated, 50),
      saturatedP99: percentile(saturated, 99),
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      recordBytes,
    };
  } finally {
    stopping = true;
    await producer.disconnect();
    await Promise.all(procs.map((p) => stopProcess(p)));
    await env.cleanup();
  }
}

/** The seed's approach: one Postgres transaction per charge, SELECT … FOR UPDATE on the payer, 32 clients. */
async function postgresRun(): Promise<number> {
  const config = loadConfig(process.env);
  const pool = new Pool({ connectionString: config.database.url, max: PG_CLIENTS });
  const schema = `bench_ledger_${Date.now()}`;
  const w = workload('pg');
  try {
    await pool.query(`create schema ${schema}`);
    await pool.query(`create table ${schema}.accounts (id text primary key, balance bigint not null)`);
    await pool.query(
      `create table ${schema}.operations (id bigserial primary key, command_id text unique not null, source text, target text not null, amount bigint not null, success boolean not null, created_at timestamptz not null default now())`,
    );
    const ids = [
      ...Array.from({ length: w.merchants }, (_, m) => [`m-${m}`, 0n] as const),
      ...w.deposits.map((d) => [d.id, d.amount] as const),
      ...w.warmupMerchants.map((m) => [m, 0n] as const),
      ...w.warmupPayers.map((c) => [c, w.warmupDeposit] as const),
    ];
    for (let i = 0; i < ids.length; i += 1_000) {
      const chunk = ids.slice(i, i + 1_000);
      await pool.query(`insert into ${schema}.accounts (id, balance) select * from unnest($1::text[], $2::bigint[])`, [
        chunk.map((x) => x[0]),
        chunk.map((x) => x[1].toString()),
      ]);
    }
    let next = 0;
    const worker = async (charges: Charge[]) => {
      const client = await pool.connect();
      try {
        for (let i = next++; i < charges.length; i = next++) {
          const c = charges[i] as Charge;
          await client.query('begin');
          const { rows } = await client.query<{ balance: string }>(
            `select balance from ${schema}.accounts where id = $1 for update`,
            [c.payer],
          );
          const ok = rows[0] !== undefined && BigInt(rows[0].balance) >= c.amount;
          if (ok) {
            await client.query(`update ${schema}.accounts set balance = balance - $2 where id = $1`, [
              c.payer,
              c.amount.toString(),
            ]);
            await client.query(`update ${schema}.accounts set balance = balance + $2 where id = $1`, [
              c.merchant,
              c.amount.toString(),
            ]);
          }
          await client.query(
            `insert into ${schema}.operations (command_id, source, target, amount, success) values ($1, $2, $3, $4, $5)`,
            [c.id, c.payer, c.merchant, c.amount.toString(), ok],
          );
          await client.query('commit');
        }
      } finally {
        client.release();
      }
    };
    // Warm-up (not measured), as on the Kafka side.
    await Promise.all(Array.from({ length: PG_CLIENTS }, () => worker(w.warmup)));
    next = 0;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: PG_CLIENTS }, () => worker(w.charges)));
    return w.charges.length / ((Date.now() - t0) / 1000);
  } finally {
    await pool.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await pool.end();
  }
}

/** Kafka's own producer performance tool, same record size, acks=all: what the broker can take on this machine. */
async function kafkaCeiling(recordBytes: number): Promise<number> {
  const env = integrationEnv('bench-ceiling');
  await env.provision(['ledger.commands']);
  try {
    const libs = path.join(localStateDir(process.env.PAYSTREAM_STATE_DIR), 'runtime', 'kafka', 'libs', '*');
    const { stdout } = await run(
      'java',
      [
        '-Xmx512m',
        '-cp',
        libs,
        'org.apache.kafka.tools.ProducerPerformance',
        '--topic',
        env.schemas.physicalTopic('ledger.commands'),
        '--num-records',
        '500000',
        '--record-size',
        String(recordBytes),
        '--throughput',
        '-1',
        '--producer-props',
        `bootstrap.servers=${env.config.kafka.brokers.join(',')}`,
        'acks=all',
        'enable.idempotence=true',
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    const last = stdout.trim().split('\n').pop() ?? '';
    const m = /([\d.]+) records\/sec/.exec(last);
    if (!m?.[1]) throw new Error(`unexpected ProducerPerformance output: ${last}`);
    return Number(m[1]);
  } finally {
    await env.cleanup();
  }
}

export async function ledgerBench(): Promise<void> {
  console.log(
    `ledger: ${ACCOUNTS} accounts, ${CHARGES} charges after ${WARMUP_CHARGES} warm-up charges, ${PROCESSES} ledger processes (exactly-once)`,
  );
  const k = await kafkaRun();
  console.log(
    `  paystream: ${k.throughput.toFixed(0)} charges/s; saturated p50 ${k.saturatedP50} ms p99 ${k.saturatedP99} ms; at ${LATENCY_RATE}/s p50 ${k.p50} ms p99 ${k.p99} ms`,
  );
  const pg = await postgresRun();
  console.log(`  postgres SELECT … FOR UPDATE, ${PG_CLIENTS} clients: ${pg.toFixed(0)} charges/s`);
  const ceiling = await kafkaCeiling(k.recordBytes);
  console.log(`  kafka ProducerPerformance (${k.recordBytes} B records, acks=all): ${ceiling.toFixed(0)} records/s`);
  const result = writeResult({
    suite: 'ledger',
    metric: 'balance-checked charges per second, end to end, exactly-once',
    unit: 'commands/s',
    value: k.throughput,
    baseline: {
      name: `postgres transaction per command with SELECT … FOR UPDATE, ${PG_CLIENTS} clients`,
      value: Math.round(pg),
    },
    ceiling: { name: `kafka ProducerPerformance, ${k.recordBytes}-byte records, acks=all`, value: Math.round(ceiling) },
    params: {
      accounts: ACCOUNTS,
      charges: CHARGES,
      warmup_charges_not_measured: WARMUP_CHARGES,
      merchant_credits_included: k.credits,
      payer_distribution: 'zipf s=1.1',
      hot_merchant_share: 0.5,
      ledger_processes: PROCESSES,
      partitions: 6,
      p50_ms_at_fixed_rate: k.p50,
      p99_ms_at_fixed_rate: k.p99,
      fixed_rate_per_s: LATENCY_RATE,
      p50_ms_saturated: k.saturatedP50,
      p99_ms_saturated: k.saturatedP99,
    },
  });
  console.log(`  ratio vs postgres: ${result.ratio_vs_baseline}×; ratio vs kafka ceiling: ${result.ratio_vs_ceiling}`);
}
