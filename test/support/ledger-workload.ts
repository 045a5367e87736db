import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';

import type { Admin } from 'kafkajs';
import { Registry } from 'prom-client';

import { ledgerMovementCounters } from '../../services/ledger/src/app/ledger-metrics';
import { ledgerProcessor } from '../../services/ledger/src/domain/ledger';
import { EventProducer } from '../../services/platform/src/events/event-producer';
import { silentLogger } from '../../services/platform/src/logger';
import { defaultSchemasDir } from '../../services/platform/src/schemas/schema-catalogue';
import type {
  AccountBalance,
  LedgerCommand,
  LedgerEntry,
  LedgerResult,
} from '../../services/platform/src/sdk/event-types.generated';
import type { IntegrationEnv } from './integration-env';
import { cmd, LedgerModel } from './ledger-model';
import { readTopic } from './topic-reader';
import type { ReadRecord } from './topic-reader';
import { SERVICE_NODE_FLAGS } from '../../services/platform/src/service/node-flags';
import { ProcessorRuntime } from '../../services/processor-runtime/src/processor-runtime';
import type { ProcessorRuntimeOptions } from '../../services/processor-runtime/src/processor-runtime';

/** Every topic the ledger reads or writes. */
export const LEDGER_TOPICS = ['ledger.commands', 'ledger.results', 'ledger.balances', 'bulk.credit-transfers'];

/** A seeded generator, so a workload and its oracle are the same every run. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * `total` commands over `accounts` accounts: opens, deposits to clients, then charges from Zipf-skewed payers, half
 * of them to one hot merchant. Outcomes do not depend on how partitions interleave (a client's balance only depends
 * on its own partition; merchants only receive), so the in-memory model is an exact oracle.
 */
export function ledgerWorkload(total: number, accounts: number, seed = 7): LedgerCommand[] {
  const random = seeded(seed);
  const merchants = Math.max(2, Math.floor(accounts / 100));
  const clients = accounts - merchants;
  const commands: LedgerCommand[] = [];
  for (let m = 0; m < merchants; m++) commands.push(cmd.open(`m-${m}`, 'EUR', 'MERCHANT', false, `open-m-${m}`));
  for (let c = 0; c < clients; c++) commands.push(cmd.open(`c-${c}`, 'EUR', 'CLIENT', false, `open-c-${c}`));
  for (let c = 0; c < clients; c++) {
    commands.push(cmd.deposit(`c-${c}`, BigInt(1_000 + Math.floor(random() * 4_000)), 'EUR', `dep-c-${c}`));
  }
  for (let i = 0; commands.length < total; i++) {
    // Zipf-like payer: a few clients pay often.
    const payer = Math.min(clients - 1, Math.floor(clients * random() ** 2));
    const merchant = random() < 0.5 ? 0 : 1 + Math.floor(random() * (merchants - 1));
    commands.push(cmd.charge(`c-${payer}`, `m-${merchant}`, BigInt(1 + Math.floor(random() * 400)), 'EUR', `chg-${i}`));
  }
  return commands;
}

export function oracle(commands: LedgerCommand[]): LedgerModel {
  const model = new LedgerModel();
  model.run(commands);
  return model;
}

export async function publishCommands(env: IntegrationEnv, commands: LedgerCommand[]): Promise<void> {
  const producer = new EventProducer({ kafka: env.kafka, schemas: env.schemas, logger: silentLogger });
  try {
    for (let i = 0; i < commands.length; i += 2_000) {
      await producer.publishAll(
        commands
          .slice(i, i + 2_000)
          .map((c) => ({ topic: 'ledger.commands', key: c.accountId, value: c, eventId: c.commandId })),
      );
    }
  } finally {
    await producer.disconnect();
  }
}

/**
 * The ledger on the processor runtime in this process, on the test's topics, started as the ledger service runs it
 * (its business counters included): silent logs and a metrics registry of its own unless `options` say otherwise.
 */
export async function startLedgerRuntime(
  env: IntegrationEnv,
  options: Partial<ProcessorRuntimeOptions<LedgerCommand>> = {},
): Promise<ProcessorRuntime<LedgerCommand>> {
  const metrics = options.metrics ?? new Registry();
  const runtime = new ProcessorRuntime<LedgerCommand>({
    kafka: env.kafka,
    schemas: env.schemas,
    logger: silentLogger,
    definition: ledgerProcessor,
    committed: ledgerMovementCounters(metrics),
    ...options,
    metrics,
  });
  await runtime.start();
  return runtime;
}

/** `paystream run ledger` as a child process on the test's topic prefix; `extraEnv` adds or overrides variables. */
export function startLedgerProcess(
  env: IntegrationEnv,
  logs: string[],
  extraEnv: Record<string, string> = {},
): ChildProcess {
  return startServiceProcess(env, ['ledger'], logs, { PAYSTREAM_SESSION_TIMEOUT_MS: '6000', ...extraEnv });
}

/**
 * `paystream run sink --domain ledger` as a child process on the test's topic prefix, writing to `databaseUrl`;
 * `extraEnv` adds or overrides variables.
 */
export function startSinkProcess(
  env: IntegrationEnv,
  databaseUrl: string,
  logs: string[],
  extraEnv: Record<string, string> = {},
): ChildProcess {
  return startServiceProcess(env, ['sink', '--domain', 'ledger'], logs, { DATABASE_URL: databaseUrl, ...extraEnv });
}

/** `paystream run <service…>` as a child process, quiet but for warnings, its output collected in `logs`. */
function startServiceProcess(
  env: IntegrationEnv,
  service: string[],
  logs: string[],
  extraEnv: Record<string, string>,
): ChildProcess {
  // Found from the repository root, so this works from the sources (tests) and from dist/ (benchmarks).
  const cli = path.resolve(defaultSchemasDir(), '..', 'bin', 'paystream.js');
  const child = spawn('node', [...SERVICE_NODE_FLAGS, cli, 'run', ...service], {
    env: {
      ...process.env,
      PAYSTREAM_TOPIC_PREFIX: env.prefix,
      PAYSTREAM_METRICS_PORT: '0',
      PAYSTREAM_LOG_LEVEL: 'warn',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  return child;
}

/** Records on `ledger.commands` not yet committed by the ledger's group (transaction markers count too). */
export async function pendingCommands(env: IntegrationEnv, admin: Admin): Promise<number> {
  const input = env.schemas.physicalTopic('ledger.commands');
  const [ends, committed] = await Promise.all([
    admin.fetchTopicOffsets(input),
    admin.fetchOffsets({ groupId: `${env.prefix}paystream.ledger`, topics: [input] }),
  ]);
  const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Math.max(0, Number(p.offset))]));
  return ends.reduce((n, e) => n + Number(e.high) - (done.get(e.partition) ?? 0), 0);
}

/** Stops a child process; one that is still there after `graceMs` is killed, so a test never waits forever. */
export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 60_000,
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** The results of `commands` on ledger.results, in topic order, once there are at least as many as commands. */
export async function resultsOfCommands(
  env: IntegrationEnv,
  commands: readonly LedgerCommand[],
  timeoutMs = 60_000,
): Promise<LedgerResult[]> {
  const ids = new Set(commands.map((c) => c.commandId));
  const records = await readTopic<LedgerResult>(
    env,
    'ledger.results',
    (rs) => rs.filter((r) => r.value && ids.has(r.value.commandId)).length >= commands.length,
    { timeoutMs },
  );
  return records.map((r) => r.value).filter((v): v is LedgerResult => !!v && ids.has(v.commandId));
}

export interface LedgerOutcome {
  results: ReadRecord<LedgerResult>[];
  entries: LedgerEntry[];
  balances: AccountBalance[];
}

/**
 * Reads what the ledger committed: every result (until `expectedResults`), the entries the accepted ones carry, then
 * every balance record. A command's result and balance change are committed in one transaction, so once every result
 * is visible the versions the changelog must reach are known.
 */
export async function readLedger(
  env: IntegrationEnv,
  expectedResults: number,
  timeoutMs: number,
): Promise<LedgerOutcome> {
  const results = await readTopic<LedgerResult>(env, 'ledger.results', (rs) => rs.length >= expectedResults, {
    timeoutMs,
    settleMs: 3_000,
  });
  const entries: LedgerEntry[] = [];
  // The version each account's last accepted command left it at: the changelog must reach it (it holds each
  // account's last version per transaction, not every version).
  const versions = new Map<string, bigint>();
  for (const r of results) {
    const outcome = r.value?.outcome;
    if (r.value && !r.value.duplicate && outcome && 'paystream.ledger.CommandAccepted' in outcome) {
      const accepted = outcome['paystream.ledger.CommandAccepted'];
      entries.push(...accepted.entries);
      if (accepted.balanceVersion > (versions.get(r.value.accountId) ?? 0n))
        versions.set(r.value.accountId, accepted.balanceVersion);
    }
  }
  const balances = await readTopic<AccountBalance>(
    env,
    'ledger.balances',
    (rs) => {
      const seen = new Map<string, bigint>();
      for (const b of rs)
        if (b.value && b.value.version > (seen.get(b.value.accountId) ?? 0n))
          seen.set(b.value.accountId, b.value.version);
      return [...versions].every(([id, v]) => (seen.get(id) ?? 0n) >= v);
    },
    { timeoutMs },
  );
  return {
    results,
    entries,
    balances: balances.map((b) => b.value).filter((v): v is AccountBalance => v !== null),
  };
}
