import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { defaultSchemasDir } from '../services/platform/src/schemas/schema-catalogue';
import { SERVICE_NODE_FLAGS } from '../services/platform/src/service/node-flags';
import { integrationEnv } from '../test/support/integration-env';
import { startLedgerProcess, stopProcess } from '../test/support/ledger-workload';
import { testDatabase } from '../test/support/sink-env';
import { writeResult } from './bench-results';
import { cpuBetween, cpuSnapshot } from './process-cpu';
import type { CpuSnapshot } from './process-cpu';
import { DEFAULT_DRAIN_SECONDS, DEFAULT_LANES, DEFAULT_WARMUP_SECONDS, fixedRateLoad } from './fixed-rate';
import type { FixedRateOptions } from './fixed-rate';
import { bucketCount, bucketDelta, bucketQuantile, histogramBuckets, sampleValue } from './prometheus-histogram';
import { seedSchema } from './seed-charge-server';
import { localStateDir } from '../services/platform/src/service/state-dir';
import { benchInteger } from './bench-env';

/**
 * API benchmark: `POST /wallet/charge` at a fixed request rate for 30 s with autocannon, p50/p99 latency and errors,
 * through the whole platform (gateway → ledger.commands → ledger processor → ledger.results → gateway, waiting for
 * the merchant's credit too; the sink running alongside). In the same run, the same endpoint shape the seed's way:
 * one Postgres transaction per request with SELECT … FOR UPDATE on the payer's and the merchant's wallets.
 * Goal (issue #5): p99 ≤ 50 ms at 1,000 requests/s on this 2-core machine, zero errors.
 */
const RATE = benchInteger(process.env, 'BENCH_API_RATE', 1_000, 1);
const SECONDS = benchInteger(process.env, 'BENCH_API_SECONDS', 30, 1);
const WALLETS = benchInteger(process.env, 'BENCH_API_WALLETS', 1_000, 1);
const WARMUP_SECONDS = DEFAULT_WARMUP_SECONDS;
const ROOT = path.resolve(defaultSchemasDir(), '..');
const CLI = path.join(ROOT, 'bin', 'paystream.js');

/** The broker's pid when `infra/stack.sh` started it (its pid file), else undefined. */
function brokerPid(): number | undefined {
  const state = localStateDir(process.env.PAYSTREAM_STATE_DIR);
  try {
    const pid = Number(readFileSync(path.join(state, 'pids', 'kafka.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitFor(url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url, { method: 'GET' });
      if (r.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function post(base: string, p: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const r = await fetch(`${base}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Token ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = (await r.json()) as Record<string, unknown>;
  if (r.status >= 300) throw new Error(`${p}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

/**
 * The gateway's own latency histograms, as its /metrics shows them now, and its event-loop delay p99 and max since the
 * previous scrape (prom-client resets that monitor on every scrape), in seconds.
 */
async function gatewayHistograms(metricsUrl: string) {
  const text = await (await fetch(metricsUrl)).text();
  return {
    eventLoopP99: sampleValue(text, 'nodejs_eventloop_lag_p99_seconds'),
    eventLoopMax: sampleValue(text, 'nodejs_eventloop_lag_max_seconds'),
    request: histogramBuckets(text, 'paystream_gateway_request_seconds', { method: 'POST', route: '/wallet/charge' }),
    reply: histogramBuckets(text, 'paystream_gateway_ledger_reply_seconds'),
    followUp: histogramBuckets(text, 'paystream_gateway_ledger_follow_up_seconds'),
  };
}

/**
 * Where a charge's time went between two scrapes, as the gateway measured it (milliseconds, estimated from histogram
 * buckets, so only as fine as they are): the whole request inside the gateway; the charge command → its result (the
 * payer's ledger hop); the charge's result → its credit's result (the merchant's hop, which the response waits for).
 */
function gatewayBreakdown(
  before: Awaited<ReturnType<typeof gatewayHistograms>>,
  after: Awaited<ReturnType<typeof gatewayHistograms>>,
) {
  const ms = (v: number | undefined) => (v === undefined ? null : Math.round(v * 1000));
  const of = (key: 'request' | 'reply' | 'followUp') => {
    const d = bucketDelta(before[key], after[key]);
    return { count: bucketCount(d), p50: ms(bucketQuantile(d, 0.5)), p99: ms(bucketQuantile(d, 0.99)) };
  };
  return {
    request: of('request'),
    payerHop: of('reply'),
    merchantHop: of('followUp'),
    eventLoop: { p99: ms(after.eventLoopP99), max: ms(after.eventLoopMax) },
  };
}

async function inParallel<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

function load(
  base: string,
  token: string,
  wallets: string[],
  window: Pick<FixedRateOptions, 'onWindowStart' | 'onWindowEnd'> = {},
) {
  let i = 0;
  return fixedRateLoad({
    url: base,
    rate: RATE,
    seconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    ...window,
    request: {
      method: 'POST',
      path: '/wallet/charge',
      headers: { 'content-type': 'application/json', authorization: `Token ${token}` },
      setupRequest: (req) => ({
        ...req,
        body: JSON.stringify({ wallet: wallets[i++ % wallets.length], amount: '0.01', summary: 'bench' }),
      }),
    },
  });
}

export async function apiBench(): Promise<void> {
  const env = integrationEnv('bench-api');
  // Every topic of the catalogue, as a deployment has them: the sink reads topics the ledger no longer writes.
  await env.provision();
  const db = await testDatabase('bench_api', env.config.database.url);
  const logs: string[] = [];
  const children: ChildProcess[] = [];
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serviceEnv = {
    ...process.env,
    PAYSTREAM_TOPIC_PREFIX: env.prefix,
    DATABASE_URL: db.url,
    PAYSTREAM_METRICS_PORT: '0',
    PAYSTREAM_LOG_LEVEL: 'warn',
    PAYSTREAM_GATEWAY_PORT: String(port),
    PAYSTREAM_RATE_LIMIT_PER_SECOND: '1000000',
    PAYSTREAM_MAX_WALLETS_BY_CLIENT: '0',
  };
  // Whose CPU the benchmark reports over the measured window: the services, the broker (when this stack started it)
  // and the load generator, which is this process.
  const pids = new Map<string, number | undefined>([
    ['broker', brokerPid()],
    ['load generator', process.pid],
  ]);
  // A service that exits before the benchmark stops it invalidates the run (the sink once failed at start-up for a
  // missing topic and the benchmark measured without it): the run fails with the service's last log lines.
  const exits: string[] = [];
  let stopping = false;
  const watch = (name: string, child: ChildProcess) => {
    children.push(child);
    pids.set(name, child.pid);
    child.once('exit', (code, signal) => {
      if (!stopping) exits.push(`${name} exited during the benchmark (code ${code}, signal ${signal})`);
    });
  };
  const servicesAlive = () => {
    if (exits.length > 0) throw new Error(exits.join('; '));
  };
  const spawnService = (name: string, extraEnv: Record<string, string> = {}) => {
    const child = spawn('node', [...SERVICE_NODE_FLAGS, CLI, 'run', name], {
      env: { ...serviceEnv, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
    watch(name, child);
  };
  try {
    watch('ledger', startLedgerProcess(env, logs));
    spawnService('sink');
    const gatewayMetrics = `http://127.0.0.1:${await freePort()}/metrics`;
    spawnService('gateway', { PAYSTREAM_METRICS_PORT: new URL(gatewayMetrics).port });
    await waitFor(`${base}/status`);
    servicesAlive();

    console.log(`api bench: setting up ${WALLETS} funded wallets`);
    const merchant = (
      await post(base, '/company/signup', {
        email: `merchant-${env.prefix}@bench.example`,
        password: 'bench password',
        company: {
          name: 'Bench Shop',
          url: 'https://bench.example',
          first_name: 'B',
          last_name: 'S',
          phone_number: '+34600000000',
        },
      })
    ).token as string;
    await post(base, '/wallet/create', {}, merchant);
    const clients = await inParallel(
      10,
      4,
      async (c) =>
        (
          await post(base, '/client/signup', {
            email: `client-${c}-${env.prefix}@bench.example`,
            password: 'bench password',
            client: { first_name: 'C', last_name: String(c), phone_number: '+34600000001' },
          })
        ).token as string,
    );
    const wallets = await inParallel(WALLETS, 20, async (i) => {
      const token = clients[i % clients.length]!;
      const wallet = (await post(base, '/wallet/create', {}, token)).wallet as string;
      await post(base, '/wallet/deposit', { wallet, amount: '1000.00' }, token);
      return wallet;
    });

    console.log(
      `api bench: paystream gateway, ${RATE} req/s for ${SECONDS} s (after ${WARMUP_SECONDS} s of the same load)`,
    );
    // The gateway's histograms and the load generator's own event-loop delay over the measured window only.
    let scraped: Awaited<ReturnType<typeof gatewayHistograms>> | undefined;
    let inside: ReturnType<typeof gatewayBreakdown> | undefined;
    let cpuAtStart: CpuSnapshot | undefined;
    let cpu: ReturnType<typeof cpuBetween> | undefined;
    const generatorLoop = monitorEventLoopDelay({ resolution: 10 });
    const ours = await load(base, merchant, wallets, {
      onWindowStart: async () => {
        cpuAtStart = cpuSnapshot(pids);
        generatorLoop.enable();
        scraped = await gatewayHistograms(gatewayMetrics);
      },
      onWindowEnd: async () => {
        generatorLoop.disable();
        if (cpuAtStart) cpu = cpuBetween(cpuAtStart, cpuSnapshot(pids));
        const now = await gatewayHistograms(gatewayMetrics);
        if (scraped) inside = gatewayBreakdown(scraped, now);
      },
    });
    if (!inside) throw new Error('the gateway was not scraped at both ends of the measured window');
    const generator = {
      p99: Math.round(generatorLoop.percentile(99) / 1e6),
      max: Math.round(generatorLoop.max / 1e6),
    };
    console.log(
      `  p50 ${ours.p50} ms, p99 ${ours.p99} ms, ${ours.rps} req/s, errors ${ours.errors}, non-2xx ${ours.non2xx}`,
    );
    console.log(
      `  as the gateway measured it (from histogram buckets): request p50 ${inside.request.p50} / p99 ${inside.request.p99} ms; ` +
        `charge → its result p50 ${inside.payerHop.p50} / p99 ${inside.payerHop.p99} ms; ` +
        `that result → the credit's result p50 ${inside.merchantHop.p50} / p99 ${inside.merchantHop.p99} ms; ` +
        `event-loop delay p99 ${inside.eventLoop.p99} / max ${inside.eventLoop.max} ms`,
    );
    console.log(`  the load generator's event-loop delay: p99 ${generator.p99} / max ${generator.max} ms`);
    const cpuShares = Object.entries(cpu?.processes ?? {})
      .map(([name, pct]) => `${name} ${pct}%`)
      .join(', ');
    if (cpu)
      console.log(
        `  CPU over the window, % of one core: ${cpuShares}; the machine's ${os.cpus().length} cores were ${cpu.machine?.busy ?? '?'}% busy and ${cpu.machine?.steal ?? '?'}% stolen by the hypervisor`,
      );
    console.log(
      `  the ${WARMUP_SECONDS} s warm-up before the window (not in the result): p50 ${ours.warmup.p50} ms, p99 ${ours.warmup.p99} ms, max ${ours.warmup.max} ms`,
    );

    servicesAlive();
    stopping = true;
    for (const child of children.splice(0)) await stopProcess(child, 'SIGTERM', 30_000);

    console.log(`api bench: the seed's way (Postgres transaction per request, SELECT … FOR UPDATE)`);
    const seedDb = await testDatabase('bench_seed', env.config.database.url);
    try {
      await seedDb.pool.query(seedSchema);
      await seedDb.pool.query(`insert into seed_auth_tokens values ('merchant-token', 'merchant', true)`);
      await seedDb.pool.query(`insert into seed_wallets values ('merchant-wallet', 'merchant', 0)`);
      await seedDb.pool.query(`insert into seed_wallets select w, 'client', 100000 from unnest($1::text[]) as w`, [
        wallets,
      ]);
      const seedPort = await freePort();
      const seed = spawn('node', [path.join(ROOT, 'dist', 'bench', 'seed-charge-server.js'), String(seedPort)], {
        env: { ...process.env, DATABASE_URL: seedDb.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      seed.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
      children.push(seed);
      const seedBase = `http://127.0.0.1:${seedPort}`;
      await waitFor(seedBase);
      const theirs = await load(seedBase, 'merchant-token', wallets);
      console.log(
        `  p50 ${theirs.p50} ms, p99 ${theirs.p99} ms, ${theirs.rps} req/s, errors ${theirs.errors}, non-2xx ${theirs.non2xx}`,
      );

      const r = writeResult({
        suite: 'api',
        metric: `p99 latency of POST /wallet/charge at ${RATE} requests/s for ${SECONDS} s (lower is better)`,
        unit: 'ms',
        value: ours.p99,
        baseline: {
          name: 'seed approach: Postgres transaction per request with SELECT … FOR UPDATE',
          value: theirs.p99,
        },
        ceiling: null,
        params: {
          rate_per_s: RATE,
          seconds: SECONDS,
          load: `autocannon split into ${DEFAULT_LANES} instances started 1/${DEFAULT_LANES} s apart, one request per connection per second; one continuous load: ${WARMUP_SECONDS} s warm-up, the measured ${SECONDS} s (requests sent in it), ${DEFAULT_DRAIN_SECONDS} s drain; errors counted over the whole load`,
          wallets: WALLETS,
          p50_ms: ours.p50,
          p99_ms: ours.p99,
          max_ms: ours.max,
          warmup_seconds: WARMUP_SECONDS,
          warmup_p50_ms: ours.warmup.p50,
          warmup_p99_ms: ours.warmup.p99,
          warmup_max_ms: ours.warmup.max,
          achieved_rps: ours.rps,
          requests: ours.requests,
          errors: ours.errors,
          non_2xx: ours.non2xx,
          gateway_request_p50_ms: inside.request.p50,
          gateway_request_p99_ms: inside.request.p99,
          payer_hop_p50_ms: inside.payerHop.p50,
          payer_hop_p99_ms: inside.payerHop.p99,
          merchant_hop_p50_ms: inside.merchantHop.p50,
          merchant_hop_p99_ms: inside.merchantHop.p99,
          gateway_event_loop_delay_p99_ms: inside.eventLoop.p99,
          gateway_event_loop_delay_max_ms: inside.eventLoop.max,
          generator_event_loop_delay_p99_ms: generator.p99,
          generator_event_loop_delay_max_ms: generator.max,
          cpu_percent_of_one_core: cpu?.processes ?? null,
          machine_busy_percent: cpu?.machine?.busy ?? null,
          machine_steal_percent: cpu?.machine?.steal ?? null,
          gateway_breakdown: `the gateway's histograms over the measured ${SECONDS} s, quantiles interpolated inside buckets: request = the whole request in the gateway; payer hop = charge command published → its result received; merchant hop = that result → the credit's result received; event-loop delay = the gateway's, over the same ${SECONDS} s`,
          seed_p50_ms: theirs.p50,
          seed_p99_ms: theirs.p99,
          seed_achieved_rps: theirs.rps,
          seed_errors: theirs.errors,
          seed_non_2xx: theirs.non2xx,
          path: 'gateway → Kafka → ledger (exactly-once) → Kafka → gateway, charge and merchant credit; sink running',
          goal: 'p99 ≤ 50 ms, zero errors',
        },
      });
      console.log(`api: p99 ${r.value} ms vs seed ${r.baseline.value} ms (× ${r.ratio_vs_baseline})`);
    } finally {
      await seedDb.cleanup();
    }
  } catch (err) {
    console.error(logs.slice(-40).join(''));
    throw err;
  } finally {
    for (const child of children) await stopProcess(child, 'SIGTERM', 30_000);
    await db.cleanup();
    await env.cleanup();
  }
}
