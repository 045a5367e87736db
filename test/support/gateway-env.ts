import { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';

import { CopySink } from '../../connectors/postgres-sink/src/app/copy-sink';
import { mappingsFor } from '../../connectors/postgres-sink/src/app/sink-mappings';
import { sinkGroupId } from '../../connectors/postgres-sink/src/app/sink-service';
import { startGateway } from '../../services/gateway/src/app/gateway';
import type { Gateway } from '../../services/gateway/src/app/gateway';
import { loadConfig } from '../../services/platform/src/config';
import { silentLogger } from '../../services/platform/src/logger';
import type { Logger } from '../../services/platform/src/logger';
import type { LedgerCommand } from '../../services/platform/src/sdk/event-types.generated';
import type { ProcessorRuntime, ProcessorRuntimeOptions } from '../../services/processor-runtime/src/processor-runtime';
import { eventually, integrationEnv } from './integration-env';
import type { IntegrationEnv } from './integration-env';
import { LEDGER_TOPICS, startLedgerRuntime } from './ledger-workload';
import { paystreamCli } from './paystream-cli';
import type { CliOutcome } from './paystream-cli';
import { testDatabase, withSinkTopics } from './sink-env';
import { tcpProxyFor } from './tcp-proxy';
import type { TcpProxy } from './tcp-proxy';

/**
 * The whole wallet platform for one test file, on the real stack: its own topics, Postgres schema and Redis prefix;
 * the ledger processor and the COPY sink in this process; gateways started with `gateway(env overrides)`.
 */
export interface WalletPlatform {
  env: IntegrationEnv;
  db: Awaited<ReturnType<typeof testDatabase>>;
  redis: Redis;
  redisPrefix: string;
  /**
   * A gateway with these environment variables; `kafka`, when given, is the client it reaches the broker with, and
   * `logger` the one it writes to (silent by default).
   */
  /** A gateway on this platform; its sweeps run only with `sweeps` (tests otherwise run them by hand). */
  gateway(
    overrides?: Record<string, string>,
    kafka?: Kafka,
    logger?: Logger,
    sweeps?: boolean,
  ): Promise<Gateway & { url: string }>;
  /** Starts the in-process ledger (unless running), as the ledger service runs it unless `options` say otherwise. */
  startLedger(options?: Partial<ProcessorRuntimeOptions<LedgerCommand>>): Promise<void>;
  stopLedger(): Promise<void>;
  /** The in-process ledger's metrics (its business counters among them), kept across its restarts. */
  ledgerMetrics: Registry;
  /** The read model's sink, stopped (it falls behind) and started again in its consumer group (it catches up). */
  startSink(): Promise<void>;
  stopSink(): Promise<void>;
  /** `node bin/paystream.js <args>` on this platform's topics and database, as an operator runs it. */
  cli(...args: string[]): Promise<CliOutcome>;
  /** The account's balance in the read model (minor units, as text) once it is `expected`. */
  settledBalance(accountId: string, expected: string): Promise<string>;
  cleanup(): Promise<void>;
}

export async function walletPlatform(label: string): Promise<WalletPlatform> {
  const env = integrationEnv(label);
  const mappings = [...mappingsFor('ledger'), ...mappingsFor('identity')];
  await env.provision(withSinkTopics([...LEDGER_TOPICS, 'identity.parties'], mappings));
  const db = await testDatabase(label, env.config.database.url);
  const redisPrefix = `test:${env.prefix}`;
  const redis = new Redis(env.config.redis.url);
  let ledger: ProcessorRuntime<LedgerCommand> | undefined;
  const ledgerMetrics = new Registry();
  const startLedger = async (options: Partial<ProcessorRuntimeOptions<LedgerCommand>> = {}) => {
    if (ledger) return;
    ledger = await startLedgerRuntime(env, { maxBatchMessages: 500, metrics: ledgerMetrics, ...options });
  };
  await startLedger();
  let sink: CopySink | undefined;
  const startSink = async () => {
    if (sink) return;
    sink = new CopySink({
      kafka: env.kafka,
      schemas: env.schemas,
      pool: db.pool,
      logger: silentLogger,
      metrics: new Registry(),
      mappings,
      groupId: sinkGroupId(env.prefix),
    });
    await sink.start();
  };
  await startSink();
  const gateways: Gateway[] = [];
  return {
    env,
    db,
    redis,
    redisPrefix,
    async gateway(overrides = {}, kafka = env.kafka, logger = silentLogger, sweeps = false) {
      const config = loadConfig({
        ...process.env,
        PAYSTREAM_TOPIC_PREFIX: env.prefix,
        DATABASE_URL: db.url,
        PAYSTREAM_GATEWAY_PORT: '0',
        PAYSTREAM_LOG_LEVEL: 'warn',
        // Tests sign up many parties from one address; the limit's own test sets it.
        PAYSTREAM_SIGNUPS_PER_ADDRESS_PER_HOUR: '0',
        ...overrides,
      });
      const gw = await startGateway({
        config,
        logger,
        metrics: new Registry(),
        kafka,
        schemas: env.schemas,
        redisPrefix,
        sweeps,
      });
      gateways.push(gw);
      return Object.assign(gw, { url: `http://127.0.0.1:${gw.port}` });
    },
    startLedger,
    ledgerMetrics,
    async stopLedger() {
      await ledger?.stop();
      ledger = undefined;
    },
    startSink,
    async stopSink() {
      await sink?.stop();
      sink = undefined;
    },
    cli: paystreamCli({
      ...process.env,
      PAYSTREAM_TOPIC_PREFIX: env.prefix,
      DATABASE_URL: db.url,
      PAYSTREAM_LOG_LEVEL: 'warn',
    }),
    settledBalance: (accountId, expected) =>
      eventually(async () => {
        const r = await db.pool.query<{ b: string }>(
          'select balance_minor::text as b from balances where account_id = $1',
          [accountId],
        );
        return r.rows[0]?.b === expected ? expected : undefined;
      }),
    async cleanup() {
      for (const gw of gateways) await gw.stop().catch(() => undefined);
      await ledger?.stop().catch(() => undefined);
      await sink?.stop().catch(() => undefined);
      const keys = await redis.keys(`${redisPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await db.cleanup();
      await env.cleanup();
    },
  };
}

export interface HttpReply<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** What a test's HTTP client saw, for checking every answer against the OpenAPI document. */
export type HttpRecorder = (request: { method: string; path: string }, reply: HttpReply) => void;

/** A small JSON HTTP client for the gateway; `record` sees every request and its reply. */
export function httpClient(base: string, record?: HttpRecorder) {
  // Response bodies are untyped JSON: tests assert their shape.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return async <T = any>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string } = {},
  ): Promise<HttpReply<T>> => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.token) headers.authorization = `Token ${options.token}`;
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body });
    const text = await res.text();
    const reply = { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
    record?.({ method, path }, reply);
    return reply;
  };
}

/** A client sign-up body (seed 004's fields) for `email`. */
export const clientSignUp = (email: string) => ({
  email,
  password: 'correct horse battery',
  client: { first_name: 'Ana', last_name: 'García', phone_number: '+34666666666' },
});

/** A company sign-up body (seed 004's fields) for `email`. */
export const companySignUp = (email: string) => ({
  email,
  password: 'correct horse battery',
  company: {
    name: 'Tienda SL',
    url: 'https://tienda.example',
    first_name: 'Luis',
    last_name: 'Pérez',
    phone_number: '+34611111111',
  },
});

/** Signs a client up and returns its session token; anything but 201 fails the test. */
export async function signUpClient(api: ReturnType<typeof httpClient>, email: string): Promise<string> {
  const reply = await api<{ token: string }>('POST', '/client/signup', { body: clientSignUp(email) });
  if (reply.status !== 201) throw new Error(`sign-up of ${email}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body.token;
}

/**
 * A gateway of `p` that reaches one dependency (the URL in `variable`) through a TCP proxy, for faults the real
 * server cannot be asked to make; `overrides` are further environment variables (its deadlines, say).
 */
export async function gatewayBehindProxy(
  p: WalletPlatform,
  variable: 'DATABASE_URL' | 'REDIS_URL',
  overrides: Record<string, string>,
  logger?: Logger,
  record?: HttpRecorder,
): Promise<{ proxy: TcpProxy; api: ReturnType<typeof httpClient> }> {
  const { proxy, url } = await tcpProxyFor(variable === 'DATABASE_URL' ? p.db.url : p.env.config.redis.url);
  const gw = await p.gateway({ [variable]: url, ...overrides }, undefined, logger);
  return { proxy, api: httpClient(gw.url, record) };
}
