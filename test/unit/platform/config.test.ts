import { readFileSync } from 'node:fs';
import path from 'node:path';

import { CONFIG_SCHEMA, loadConfig } from '../../../services/platform/src/config';
import { PaystreamError } from '../../../services/platform/src/errors';

function configError(env: Record<string, string>): PaystreamError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof PaystreamError) return err;
    throw err;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('fills defaults for the local stack and freezes the result', () => {
    const c = loadConfig({});
    expect(c.kafka.brokers).toEqual(['localhost:9092']);
    expect(c.schemaRegistry.url).toBe('http://localhost:8081/apis/ccompat/v7');
    expect(c.database.url).toBe('postgres://paystream:paystream@127.0.0.1:5432/paystream');
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.redis.commandTimeoutMs).toBe(1_000);
    expect(loadConfig({ PAYSTREAM_REDIS_COMMAND_TIMEOUT_MS: '250' }).redis.commandTimeoutMs).toBe(250);
    expect(c.database.connectTimeoutMs).toBe(5_000);
    expect(c.database.statementTimeoutMs).toBe(10_000);
    const db = loadConfig({
      PAYSTREAM_DATABASE_CONNECT_TIMEOUT_MS: '400',
      PAYSTREAM_DATABASE_STATEMENT_TIMEOUT_MS: '2500',
    }).database;
    expect([db.connectTimeoutMs, db.statementTimeoutMs]).toEqual([400, 2_500]);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.kafka.brokers)).toBe(true);
  });

  it('parses the standard connection variables', () => {
    const c = loadConfig({
      KAFKA_BROKERS: 'k1:9092, k2:9093',
      SCHEMA_REGISTRY_URL: 'http://reg:8081/apis/ccompat/v7/',
      PAYSTREAM_METRICS_PORT: '9500',
    });
    expect(c.kafka.brokers).toEqual(['k1:9092', 'k2:9093']);
    expect(c.schemaRegistry.url).toBe('http://reg:8081/apis/ccompat/v7');
    expect(c.metrics.port).toBe(9500);
  });

  it.each([
    ['KAFKA_BROKERS', 'not a broker list'],
    ['DATABASE_URL', 'mysql://x/y'],
    ['REDIS_URL', 'nonsense'],
    ['PAYSTREAM_LOG_LEVEL', 'loud'],
    ['PAYSTREAM_METRICS_PORT', '70000'],
    ['PAYSTREAM_SHUTDOWN_TIMEOUT_MS', 'soon'],
    ['PAYSTREAM_PROCESSOR_FETCH_MAX_WAIT_MS', '0'],
    ['PAYSTREAM_PROCESSOR_FETCH_MAX_WAIT_MS', '5000'],
    ['PAYSTREAM_PROCESSOR_FETCH_MIN_BYTES', '8388608'],
    ['PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS', '0'],
    ['PAYSTREAM_REDIS_COMMAND_TIMEOUT_MS', '0'],
    ['PAYSTREAM_DATABASE_CONNECT_TIMEOUT_MS', '0'],
    ['PAYSTREAM_DATABASE_STATEMENT_TIMEOUT_MS', '1h'],
    ['PAYSTREAM_TRUSTED_PROXIES', '10.0.0.0/33'],
    ['PAYSTREAM_TRUSTED_PROXIES', '10.0.0.1, proxy.internal'],
    ['PAYSTREAM_TRUSTED_PROXIES', '2001:db8::/129'],
    ['PAYSTREAM_TRUSTED_PROXIES', '10.0.0.0/8/8'],
    ['PAYSTREAM_TRUSTED_PROXIES', '10.0.0.0/'],
    ['PAYSTREAM_TRUSTED_PROXIES', '0.0.0.0/0'],
    ['PAYSTREAM_TRUSTED_PROXIES', '10.0.0.0/8, 128.0.0.0/1'],
    ['PAYSTREAM_TRUSTED_PROXIES', '::/0'],
    ['PAYSTREAM_TRUSTED_PROXIES', 'fc00::/6'],
  ])('fails fast naming %s when it is invalid', (key, value) => {
    const err = configError({ [key]: value });
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain(key);
    expect(err.details.variables).toEqual([key]);
  });

  it("reads the processors' fetch settings, by default a fetch that returns as soon as a record is there", () => {
    expect(loadConfig({}).processor).toMatchObject({ fetchMaxWaitMs: 250, fetchMinBytes: 1 });
    const c = loadConfig({ PAYSTREAM_PROCESSOR_FETCH_MAX_WAIT_MS: '10', PAYSTREAM_PROCESSOR_FETCH_MIN_BYTES: '16384' });
    expect(c.processor).toMatchObject({ fetchMaxWaitMs: 10, fetchMinBytes: 16384 });
  });

  it("reads the sink's session timeout, 30 s by default, at least 6 s", () => {
    expect(loadConfig({}).sink.sessionTimeoutMs).toBe(30_000);
    expect(loadConfig({ PAYSTREAM_SINK_SESSION_TIMEOUT_MS: '10000' }).sink.sessionTimeoutMs).toBe(10_000);
    expect(() => loadConfig({ PAYSTREAM_SINK_SESSION_TIMEOUT_MS: '5999' })).toThrow(
      /PAYSTREAM_SINK_SESSION_TIMEOUT_MS/,
    );
  });

  it('reads the body limits: 64 KiB for every route but the bulk transfer, 2 MiB for it', () => {
    expect(loadConfig({}).gateway).toMatchObject({ bodyLimitBytes: 65_536, bulkBodyLimitBytes: 2_097_152 });
    expect(loadConfig({ PAYSTREAM_BULK_BODY_LIMIT_BYTES: '4194304' }).gateway.bulkBodyLimitBytes).toBe(4_194_304);
    expect(() => loadConfig({ PAYSTREAM_BULK_BODY_LIMIT_BYTES: '1023' })).toThrow(/PAYSTREAM_BULK_BODY_LIMIT_BYTES/);
  });

  it("reads the ledger's dedup window in days, 30 by default", () => {
    expect(loadConfig({}).ledger.dedupWindowMs).toBe(30 * 24 * 3_600_000);
    expect(loadConfig({ PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS: '7' }).ledger.dedupWindowMs).toBe(7 * 24 * 3_600_000);
  });

  it('reads the sign-ups allowed per address and hour, 20 by default, 0 for no limit', () => {
    expect(loadConfig({}).gateway.signupsPerAddressPerHour).toBe(20);
    expect(loadConfig({ PAYSTREAM_SIGNUPS_PER_ADDRESS_PER_HOUR: '0' }).gateway.signupsPerAddressPerHour).toBe(0);
    for (const bad of ['-1', '2.5', 'many'])
      expect(configError({ PAYSTREAM_SIGNUPS_PER_ADDRESS_PER_HOUR: bad }).message).toContain(
        'PAYSTREAM_SIGNUPS_PER_ADDRESS_PER_HOUR',
      );
  });

  it("refuses a dedup window shorter than the gateway's idempotency TTL, naming both variables", () => {
    // Seven days of Idempotency-Key retries re-send command ids the ledger would have forgotten after two.
    const err = configError({ PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS: '2', PAYSTREAM_IDEMPOTENCY_TTL_HOURS: '168' });
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.details.variables).toEqual(['PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS', 'PAYSTREAM_IDEMPOTENCY_TTL_HOURS']);
    // Equal is enough: the key is forgotten when the id may be.
    expect(
      loadConfig({ PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS: '7', PAYSTREAM_IDEMPOTENCY_TTL_HOURS: '168' }).ledger,
    ).toEqual({ dedupWindowMs: 7 * 24 * 3_600_000 });
  });

  it('reads the trusted proxies as addresses and networks, none by default, and refuses them beside a hop count', () => {
    expect(loadConfig({}).gateway).toMatchObject({ trustedProxyHops: 0, trustedProxies: [] });
    expect(
      loadConfig({ PAYSTREAM_TRUSTED_PROXIES: ' 10.0.0.0/8, 192.168.1.7,2001:db8::/32 ,fc00::/7' }).gateway
        .trustedProxies,
    ).toEqual(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', 'fc00::/7']);
    const err = configError({ PAYSTREAM_TRUSTED_PROXY_HOPS: '1', PAYSTREAM_TRUSTED_PROXIES: '10.0.0.1' });
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.details.variables).toEqual(['PAYSTREAM_TRUSTED_PROXY_HOPS', 'PAYSTREAM_TRUSTED_PROXIES']);
  });

  it("passes the local stack's folder through as configured, undefined by default", () => {
    expect(loadConfig({}).stateDir).toBeUndefined();
    expect(loadConfig({ PAYSTREAM_STATE_DIR: '/var/lib/paystream' }).stateDir).toBe('/var/lib/paystream');
  });

  it('refuses an unknown PAYSTREAM_ variable (a typo must not fall back to a default)', () => {
    const err = configError({ PAYSTREAM_LOG_LEVLE: 'debug' });
    expect(err.message).toContain('PAYSTREAM_LOG_LEVLE: unknown variable');
  });

  it('.env.example documents every variable and nothing else', () => {
    const text = readFileSync(path.join(__dirname, '../../../.env.example'), 'utf8');
    const documented = [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.keys(CONFIG_SCHEMA).sort());
  });
});
