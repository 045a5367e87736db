import { isIP } from 'node:net';

import { z } from 'zod';

import { PaystreamError } from './errors';
import { LOG_LEVELS } from './logger';

/**
 * Platform configuration, parsed once at start-up from the environment into a frozen, typed object.
 *
 * The four connection strings keep their standard names (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL,
 * REDIS_URL); everything else is `PAYSTREAM_*`. An unknown `PAYSTREAM_*` variable is an error, so a typo fails at
 * start-up instead of silently falling back to a default. Every failure names the variable.
 * `.env.example` documents each variable below; a unit test keeps the two in step.
 */
const csv = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()))
  .refine((xs) => xs.length > 0 && xs.every((x) => /^[^\s:]+:\d+$/.test(x)), 'expected host:port[,host:port…]');
const url = (protocols: string[]) =>
  z
    .string()
    .url()
    .refine(
      (u) => {
        try {
          return protocols.includes(new URL(u).protocol);
        } catch {
          return false;
        }
      },
      `expected a ${protocols.join(' or ')} URL`,
    );
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/**
 * `192.0.2.1`, `2001:db8::1`, `10.0.0.0/8` or `2001:db8::/32`: an address or a network of proxies, no wider than the
 * widest private range of its family (10.0.0.0/8; fc00::/7). A wider one (`0.0.0.0/0`, say) would trust clients too,
 * and let each pick the address it is counted by.
 */
function isProxyAddressOrNetwork(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  const [widest, narrowest] = family === 6 ? [7, 128] : [8, 32];
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) >= widest && Number(prefix) <= narrowest);
}
const addressList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
  )
  .refine(
    (xs) => xs.every(isProxyAddressOrNetwork),
    'expected IP addresses or CIDR networks, comma-separated, none wider than /8 (IPv4) or /7 (IPv6)',
  );

export const CONFIG_SCHEMA = {
  KAFKA_BROKERS: csv.default('localhost:9092'),
  SCHEMA_REGISTRY_URL: url(['http:', 'https:']).default('http://localhost:8081/apis/ccompat/v7'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://paystream:paystream@127.0.0.1:5432/paystream'),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  PAYSTREAM_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/)
    .default('paystream'),
  PAYSTREAM_LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  PAYSTREAM_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/)
    .default(''),
  PAYSTREAM_METRICS_HOST: z.string().default('127.0.0.1'),
  PAYSTREAM_METRICS_PORT: int(0, 65535).default(9464),
  PAYSTREAM_SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(30_000),
  PAYSTREAM_SESSION_TIMEOUT_MS: int(6_000, 300_000).default(10_000),
  PAYSTREAM_SINK_SESSION_TIMEOUT_MS: int(6_000, 300_000).default(30_000),
  PAYSTREAM_PROCESSOR_MAX_BATCH: int(1, 100_000).default(1_000),
  // At most 1 s: kafkajs heartbeats between fetches, and a session may be as short as 6 s.
  PAYSTREAM_PROCESSOR_FETCH_MAX_WAIT_MS: int(1, 1_000).default(250),
  PAYSTREAM_PROCESSOR_FETCH_MIN_BYTES: int(1, 4 * 1024 * 1024).default(1),
  PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS: int(1, 3_650).default(30),
  PAYSTREAM_PROMETHEUS_URL: url(['http:', 'https:']).default('http://127.0.0.1:9090'),
  PAYSTREAM_GATEWAY_HOST: z.string().default('127.0.0.1'),
  PAYSTREAM_GATEWAY_PORT: int(0, 65535).default(8080),
  PAYSTREAM_AUTH_TOKEN_EXPIRATION_HOURS: int(1, 24 * 365).default(24),
  PAYSTREAM_MAX_WALLETS_BY_CLIENT: int(0, 1_000_000).default(0),
  PAYSTREAM_WALLET_CURRENCY: z.enum(['EUR', 'USD', 'MXN']).default('EUR'),
  PAYSTREAM_MAX_AMOUNT_MINOR: z
    .string()
    .regex(/^[1-9]\d{0,17}$/, 'expected a positive integer of minor units below 10^18')
    .transform((s) => BigInt(s))
    .default('100000000'),
  PAYSTREAM_REPLY_TIMEOUT_MS: int(100, 120_000).default(5_000),
  PAYSTREAM_BODY_LIMIT_BYTES: int(1_024, 10_000_000).default(65_536),
  PAYSTREAM_BULK_BODY_LIMIT_BYTES: int(1_024, 10_000_000).default(2_097_152),
  PAYSTREAM_RATE_LIMIT_PER_SECOND: int(1, 1_000_000).default(50),
  PAYSTREAM_TRUSTED_PROXY_HOPS: int(0, 10).default(0),
  PAYSTREAM_TRUSTED_PROXIES: addressList.default(''),
  PAYSTREAM_LOGIN_MAX_FAILURES: int(1, 1_000).default(10),
  PAYSTREAM_LOGIN_MAX_FAILURES_PER_EMAIL: int(1, 100_000).default(100),
  PAYSTREAM_LOGIN_LOCK_SECONDS: int(1, 86_400).default(900),
  PAYSTREAM_SIGNUPS_PER_ADDRESS_PER_HOUR: int(0, 1_000_000).default(20),
  PAYSTREAM_PASSWORD_HASH_CONCURRENCY: int(1, 64).default(2),
  PAYSTREAM_PASSWORD_HASH_QUEUE: int(0, 10_000).default(32),
  PAYSTREAM_IDEMPOTENCY_TTL_HOURS: int(1, 24 * 30).default(24),
  PAYSTREAM_REDIS_COMMAND_TIMEOUT_MS: int(10, 60_000).default(1_000),
  PAYSTREAM_DATABASE_CONNECT_TIMEOUT_MS: int(100, 120_000).default(5_000),
  PAYSTREAM_DATABASE_STATEMENT_TIMEOUT_MS: int(100, 600_000).default(10_000),
  // The local stack's folder (infra/stack.sh; the CLI keeps its logs and Prometheus targets there).
  PAYSTREAM_STATE_DIR: z.string().optional(),
  // Read by infra/stack.sh only; declared here so the typo check knows it.
  PAYSTREAM_REGISTRY_JAVA_HOME: z.string().optional(),
} as const;

export type ConfigKey = keyof typeof CONFIG_SCHEMA;

const schema = z.object(CONFIG_SCHEMA);
type Parsed = z.infer<typeof schema>;

export interface PlatformConfig {
  readonly kafka: { readonly brokers: readonly string[]; readonly clientId: string; readonly topicPrefix: string };
  readonly schemaRegistry: { readonly url: string };
  readonly database: {
    readonly url: string;
    /** Longest wait for a Postgres connection, in every process. */
    readonly connectTimeoutMs: number;
    /** Longest statement of the gateway's requests and the sink's writes (not of migrations or operator commands). */
    readonly statementTimeoutMs: number;
  };
  readonly redis: { readonly url: string; readonly commandTimeoutMs: number };
  readonly logLevel: Parsed['PAYSTREAM_LOG_LEVEL'];
  readonly metrics: { readonly host: string; readonly port: number };
  readonly shutdownTimeoutMs: number;
  /** The local stack's folder as configured (PAYSTREAM_STATE_DIR); undefined means `.paystream` in the checkout. */
  readonly stateDir: string | undefined;
  /** How long a sink process that died keeps its partitions before its group gives them to another (Kafka's session). */
  readonly sink: { readonly sessionTimeoutMs: number };
  readonly processor: {
    readonly sessionTimeoutMs: number;
    readonly maxBatchMessages: number;
    /** A fetch returns once it holds `fetchMinBytes` or after `fetchMaxWaitMs` (Kafka's fetch.min.bytes/max.wait). */
    readonly fetchMaxWaitMs: number;
    readonly fetchMinBytes: number;
  };
  readonly ledger: {
    /**
     * How long the ledger remembers a command id (by record time): a repeat within it is answered with the first
     * result. Never shorter than the gateway's idempotency TTL, whose retries re-send the same command id.
     */
    readonly dedupWindowMs: number;
  };
  readonly prometheusUrl: string;
  readonly gateway: {
    readonly host: string;
    readonly port: number;
    readonly sessionTtlSeconds: number;
    /** 0 = unlimited; a merchant always has exactly one wallet. */
    readonly maxWalletsPerClient: number;
    readonly currency: 'EUR' | 'USD' | 'MXN';
    readonly maxAmountMinor: bigint;
    readonly replyTimeoutMs: number;
    readonly bodyLimitBytes: number;
    /**
     * The body limit of `POST /bulk_transfer`, whose largest bulk (1,000 credit transfers) does not fit in
     * `bodyLimitBytes`: 2 MiB by default, enough for 1,000 transfers with every text field at its longest, each
     * character written as a `\u` escape.
     */
    readonly bulkBodyLimitBytes: number;
    readonly rateLimitPerSecond: number;
    /**
     * Proxies in front of the gateway that append to X-Forwarded-For; the client's address is the entry they wrote. 0:
     * the connection's peer is the client, and the header is ignored (unless `trustedProxies` names the proxies).
     */
    readonly trustedProxyHops: number;
    /**
     * The proxies' addresses and networks (IP or CIDR): only a request from one of them has its X-Forwarded-For read,
     * and the client is the last address in it that is not one of them. Empty: see `trustedProxyHops`.
     */
    readonly trustedProxies: readonly string[];
    /** Failed logins for one e-mail from one client address before that address's logins for it are refused. */
    readonly loginMaxFailures: number;
    /** Failed logins for one e-mail from all addresses together before every login for it is refused. */
    readonly loginMaxFailuresPerEmail: number;
    /** The window failed logins are counted in, from the first failure. */
    readonly loginLockSeconds: number;
    /** Sign-ups (client and company together) one client address may attempt per hour; 0: no limit. */
    readonly signupsPerAddressPerHour: number;
    /** Password hashes (sign-ups, logins) computed at once, and waiting; one more is refused (503). */
    readonly passwordHashConcurrency: number;
    readonly passwordHashQueue: number;
    readonly idempotencyTtlSeconds: number;
    /**
     * How long the ledger remembers a command id (PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS): an Idempotency-Key whose command
     * the read model shows processed longer ago is refused, since the ledger would take it for a new command.
     */
    readonly ledgerDedupWindowMs: number;
  };
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * @throws PaystreamError CONFIG_INVALID naming every bad or unknown variable.
 * @example loadConfig({ KAFKA_BROKERS: 'localhost:9092' }).kafka.brokers // ['localhost:9092']
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): PlatformConfig {
  const known = new Set<string>(Object.keys(CONFIG_SCHEMA));
  const problems: string[] = [];
  for (const key of Object.keys(env)) {
    if (key.startsWith('PAYSTREAM_') && !known.has(key)) problems.push(`${key}: unknown variable`);
  }
  const input: Record<string, string> = {};
  for (const key of known) {
    const v = env[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  if (problems.length > 0 || !parsed.success) {
    throw new PaystreamError('CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, {
      details: { variables: [...new Set(problems.map((p) => p.split(':')[0]))] },
    });
  }
  const c = parsed.data;
  if (c.PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS * 24 < c.PAYSTREAM_IDEMPOTENCY_TTL_HOURS) {
    // A client retrying with its Idempotency-Key re-sends the same command id as long as the gateway remembers the key;
    // the ledger must still remember the id then, or the retry would move the money a second time.
    throw new PaystreamError(
      'CONFIG_INVALID',
      `invalid configuration: PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS (${c.PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS} days) is ` +
        `shorter than PAYSTREAM_IDEMPOTENCY_TTL_HOURS (${c.PAYSTREAM_IDEMPOTENCY_TTL_HOURS} hours)`,
      { details: { variables: ['PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS', 'PAYSTREAM_IDEMPOTENCY_TTL_HOURS'] } },
    );
  }
  if (c.PAYSTREAM_TRUSTED_PROXY_HOPS > 0 && c.PAYSTREAM_TRUSTED_PROXIES.length > 0) {
    // Two descriptions of the same proxies could disagree about which X-Forwarded-For entry is the client's.
    throw new PaystreamError(
      'CONFIG_INVALID',
      'invalid configuration: set PAYSTREAM_TRUSTED_PROXY_HOPS or PAYSTREAM_TRUSTED_PROXIES, not both',
      { details: { variables: ['PAYSTREAM_TRUSTED_PROXY_HOPS', 'PAYSTREAM_TRUSTED_PROXIES'] } },
    );
  }
  return deepFreeze({
    kafka: { brokers: c.KAFKA_BROKERS, clientId: c.PAYSTREAM_CLIENT_ID, topicPrefix: c.PAYSTREAM_TOPIC_PREFIX },
    schemaRegistry: { url: c.SCHEMA_REGISTRY_URL.replace(/\/+$/, '') },
    database: {
      url: c.DATABASE_URL,
      connectTimeoutMs: c.PAYSTREAM_DATABASE_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: c.PAYSTREAM_DATABASE_STATEMENT_TIMEOUT_MS,
    },
    redis: { url: c.REDIS_URL, commandTimeoutMs: c.PAYSTREAM_REDIS_COMMAND_TIMEOUT_MS },
    logLevel: c.PAYSTREAM_LOG_LEVEL,
    metrics: { host: c.PAYSTREAM_METRICS_HOST, port: c.PAYSTREAM_METRICS_PORT },
    shutdownTimeoutMs: c.PAYSTREAM_SHUTDOWN_TIMEOUT_MS,
    stateDir: c.PAYSTREAM_STATE_DIR,
    sink: { sessionTimeoutMs: c.PAYSTREAM_SINK_SESSION_TIMEOUT_MS },
    processor: {
      sessionTimeoutMs: c.PAYSTREAM_SESSION_TIMEOUT_MS,
      maxBatchMessages: c.PAYSTREAM_PROCESSOR_MAX_BATCH,
      fetchMaxWaitMs: c.PAYSTREAM_PROCESSOR_FETCH_MAX_WAIT_MS,
      fetchMinBytes: c.PAYSTREAM_PROCESSOR_FETCH_MIN_BYTES,
    },
    ledger: { dedupWindowMs: c.PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS * 24 * 3_600_000 },
    prometheusUrl: c.PAYSTREAM_PROMETHEUS_URL,
    gateway: {
      host: c.PAYSTREAM_GATEWAY_HOST,
      port: c.PAYSTREAM_GATEWAY_PORT,
      sessionTtlSeconds: c.PAYSTREAM_AUTH_TOKEN_EXPIRATION_HOURS * 3600,
      maxWalletsPerClient: c.PAYSTREAM_MAX_WALLETS_BY_CLIENT,
      currency: c.PAYSTREAM_WALLET_CURRENCY,
      maxAmountMinor: c.PAYSTREAM_MAX_AMOUNT_MINOR,
      replyTimeoutMs: c.PAYSTREAM_REPLY_TIMEOUT_MS,
      bodyLimitBytes: c.PAYSTREAM_BODY_LIMIT_BYTES,
      bulkBodyLimitBytes: c.PAYSTREAM_BULK_BODY_LIMIT_BYTES,
      rateLimitPerSecond: c.PAYSTREAM_RATE_LIMIT_PER_SECOND,
      trustedProxyHops: c.PAYSTREAM_TRUSTED_PROXY_HOPS,
      trustedProxies: c.PAYSTREAM_TRUSTED_PROXIES,
      loginMaxFailures: c.PAYSTREAM_LOGIN_MAX_FAILURES,
      loginMaxFailuresPerEmail: c.PAYSTREAM_LOGIN_MAX_FAILURES_PER_EMAIL,
      loginLockSeconds: c.PAYSTREAM_LOGIN_LOCK_SECONDS,
      signupsPerAddressPerHour: c.PAYSTREAM_SIGNUPS_PER_ADDRESS_PER_HOUR,
      passwordHashConcurrency: c.PAYSTREAM_PASSWORD_HASH_CONCURRENCY,
      passwordHashQueue: c.PAYSTREAM_PASSWORD_HASH_QUEUE,
      idempotencyTtlSeconds: c.PAYSTREAM_IDEMPOTENCY_TTL_HOURS * 3600,
      ledgerDedupWindowMs: c.PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS * 24 * 3_600_000,
    },
  });
}
