import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

import { migrate } from '../../../../connectors/postgres-sink/src/adapters/migrations';
import { Bulkhead } from '../../../platform/src/bulkhead';
import type { PlatformConfig } from '../../../platform/src/config';
import { PaystreamError } from '../../../platform/src/errors';
import {
  databasePool,
  operatorPoolOptions,
  servicePoolOptions,
  withDatabasePool,
} from '../../../platform/src/db/database-pool';
import { EventProducer } from '../../../platform/src/events/event-producer';
import type { EventSchemas } from '../../../platform/src/events/event-schemas';
import type { Logger } from '../../../platform/src/logger';
import type { LedgerCommand } from '../../../platform/src/sdk/event-types.generated';
import type { RunningService, ServiceDefinition } from '../../../platform/src/service/service';
import { Directory } from '../adapters/directory';
import { HEARTBEAT_INTERVAL_MS, IdempotencyStore } from '../adapters/idempotency-store';
import { LedgerClient } from '../adapters/ledger-client';
import { hashPassword, verifyPassword } from '../adapters/password-hasher';
import {
  BalanceCache,
  LastWrites,
  LoginThrottle,
  OperationStore,
  RateLimiter,
  SignupLimiter,
} from '../adapters/redis-state';
import { SessionStore } from '../adapters/session-store';
import { ApiError, invalid } from '../domain/api-error';
import { firstUseVerdict } from '../domain/outcomes';
import { isValidBic, isValidIban, normaliseIban } from '../domain/bank-identifiers';
import { textValue } from '../domain/requests';
import { partyRegisteredEvent } from '../domain/party-event';
import { clientErrorAnswer } from '../http/client-error';
import { requestLifetimeBoundSeconds } from '../http/context';
import type { GatewayDeps } from '../http/context';
import { createGatewayApp } from '../http/gateway-app';
import { PARTY_EVENT_SWEEP_MS, republishPartyEvents } from './party-events';
import { never, repeatedly } from './repeatedly';
import { openLeftWallets, WALLET_OPENING_SWEEP_MS } from './wallet-openings';

export interface GatewayOptions {
  config: PlatformConfig;
  logger: Logger;
  metrics: Registry;
  kafka: Kafka;
  schemas: EventSchemas;
  /** Redis key prefix (tests isolate themselves with their own). */
  redisPrefix?: string;
  /** Whether this gateway runs the party-event and wallet-opening sweeps (default true; tests run them by hand). */
  sweeps?: boolean;
}

export interface Gateway {
  port: number;
  /** Every route the HTTP app serves (the OpenAPI document must describe exactly these). */
  routes: readonly { method: string; path: string }[];
  deps: GatewayDeps;
  ready(): boolean;
  stop(): Promise<void>;
}

/**
 * Builds and starts the gateway: Postgres (migrations applied first), Redis, the ledger request/reply client, then
 * the HTTP server. Stopping closes the server (in-flight requests finish), then the clients.
 */
/** Where the gateways of one deployment (one topic prefix) keep their state in Redis: sessions, limits, locks. */
export function gatewayRedisPrefix(config: PlatformConfig): string {
  return `paystream:${config.kafka.topicPrefix}`;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, logger, metrics, kafka, schemas } = options;
  const prefix = options.redisPrefix ?? gatewayRedisPrefix(config);
  // Every statement of a request has a deadline: a database that does not answer gives 503, not a request held.
  const pool = databasePool(servicePoolOptions(config.database, logger, 10));
  // Auto-pipelining: the commands of every request handled in one turn of the event loop go to Redis in one write.
  // A command Redis does not answer within commandTimeoutMs fails (503) instead of holding its request for ever.
  const redis = new Redis(config.redis.url, {
    maxRetriesPerRequest: 2,
    commandTimeout: config.redis.commandTimeoutMs,
    enableOfflineQueue: true,
    lazyConnect: false,
    enableAutoPipelining: true,
  });
  redis.on('error', (err: Error) => logger.warn('redis error', { error: err.message }));
  const ledger = new LedgerClient({ kafka, schemas, logger, metrics, topicPrefix: config.kafka.topicPrefix });
  const events = new EventProducer({ kafka, schemas, logger });
  let server: http.Server | undefined;
  let heartbeat: { stop(): Promise<void> } | undefined;
  try {
    await withDatabasePool(operatorPoolOptions(config.database, logger, 1), migrate);
    await ledger.start();
    await events.connect();
    const gw = config.gateway;
    const deps: GatewayDeps = {
      config: gw,
      logger,
      metrics,
      directory: new Directory(pool),
      sessions: new SessionStore(redis, gw.sessionTtlSeconds, prefix),
      idempotency: new IdempotencyStore(
        redis,
        gw.idempotencyTtlSeconds,
        prefix,
        requestLifetimeBoundSeconds(gw.replyTimeoutMs),
        randomUUID(),
      ),
      balances: new BalanceCache(redis, prefix),
      lastWrites: new LastWrites(redis, prefix),
      rateLimiter: new RateLimiter(redis, prefix, gw.rateLimitPerSecond),
      loginThrottle: new LoginThrottle(redis, prefix, {
        maxPerAddress: gw.loginMaxFailures,
        maxPerEmail: gw.loginMaxFailuresPerEmail,
        windowSeconds: gw.loginLockSeconds,
      }),
      signupLimiter: new SignupLimiter(redis, prefix, { max: gw.signupsPerAddressPerHour, windowSeconds: 3_600 }),
      operations: new OperationStore(redis, prefix, gw.idempotencyTtlSeconds),
      ledger,
      events,
      passwords: boundedPasswords(gw, metrics),
      now: () => new Date(),
      newId: randomUUID,
    };
    // Alive before it claims any key, so no retry takes over a claim of this gateway while it serves; a heartbeat
    // Redis does not take is retried each second, and until then this gateway's claims may be taken over (harmless:
    // the command ids are the same).
    await deps.idempotency
      .heartbeat()
      .catch((err: Error) => logger.warn('gateway heartbeat failed; retrying', { error: err.message }));
    heartbeat = repeatedly(
      HEARTBEAT_INTERVAL_MS,
      HEARTBEAT_INTERVAL_MS,
      () => deps.idempotency.heartbeat(),
      (err) => logger.warn('gateway heartbeat failed; retrying', { error: err.message }),
    );
    const { app, routes } = createGatewayApp(deps);
    const callback = app.callback();
    const s = http.createServer((req, res) => void callback(req, res));
    server = s;
    s.keepAliveTimeout = 65_000;
    s.requestTimeout = gw.replyTimeoutMs + 30_000;
    s.on('clientError', clientErrorAnswer(metrics));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(gw.port, gw.host, () => resolve());
    });
    const port = (s.address() as AddressInfo).port;
    logger.info('gateway listening', { url: `http://${gw.host}:${port}` });
    // Every gateway runs both sweeps (unless told not to, as tests do); the event id and the command id make a second
    // publish or send harmless.
    // Parties whose event a crash left unpublished get it here…
    const sweeping = options.sweeps ?? true;
    const partySweep = (sweeping ? repeatedly : never)(
      PARTY_EVENT_SWEEP_MS,
      FIRST_SWEEP_AFTER_MS,
      () => republishPartyEvents(deps),
      (err) => logger.warn('party event sweep failed; retrying at the next one', { error: err.message }),
    );
    // …and wallets whose ledger account was not seen opened have it opened.
    // Taken only once no creation can still be running, so the sweep never races a live request.
    const grace = requestLifetimeBoundSeconds(gw.replyTimeoutMs);
    const walletSweep = (sweeping ? repeatedly : never)(
      WALLET_OPENING_SWEEP_MS,
      FIRST_SWEEP_AFTER_MS,
      () => openLeftWallets(deps, { graceSeconds: grace, replyTimeoutMs: gw.replyTimeoutMs }),
      (err) => logger.warn('wallet opening sweep failed; retrying at the next one', { error: err.message }),
    );
    return {
      port,
      routes: routes.map((r) => ({ method: r.method, path: r.path })),
      deps,
      ready: () => ledger.ready(),
      async stop() {
        await Promise.all([partySweep.stop(), walletSweep.stop()]);
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeIdleConnections();
        });
        // Every request has ended: none of this gateway's claims is running.
        await heartbeat?.stop();
        await deps.idempotency.stopHeartbeat().catch(() => undefined);
        await ledger.stop();
        await events.disconnect();
        redis.disconnect();
        await pool.end();
      },
    };
  } catch (err) {
    await heartbeat?.stop();
    server?.close();
    await ledger.stop().catch(() => undefined);
    await events.disconnect().catch(() => undefined);
    redis.disconnect();
    await pool.end().catch(() => undefined);
    throw err;
  }
}

/**
 * scrypt, bounded: each hash takes tens of milliseconds of a core and 32 MiB, so a flood of sign-ups or logins (from
 * many addresses, past every per-address limit) would take the cores the money requests need. At most
 * `passwordHashConcurrency` hashes run at once and `passwordHashQueue` wait; the next sign-up or login is answered 503
 * (retry shortly) at once, counted in `paystream_gateway_password_hashes_refused_total`.
 */
function boundedPasswords(gw: PlatformConfig['gateway'], metrics: Registry): GatewayDeps['passwords'] {
  const bulkhead = new Bulkhead(gw.passwordHashConcurrency, gw.passwordHashQueue, 'sign-ups and logins');
  const refused = new Counter({
    name: 'paystream_gateway_password_hashes_refused_total',
    help: 'Sign-ups and logins answered 503 because as many password hashes as allowed were running and waiting',
    registers: [metrics],
  });
  const bounded = async <T>(task: () => Promise<T>): Promise<T> => {
    try {
      return await bulkhead.run(task);
    } catch (err) {
      if (err instanceof PaystreamError && err.code === 'OVERLOADED') refused.inc();
      throw err;
    }
  };
  return {
    hash: (password) => bounded(() => hashPassword(password)),
    verify: (password, stored) => bounded(() => verifyPassword(password, stored)),
  };
}

/** When a gateway's sweeps first run after it started; then each at its own interval. */
export const FIRST_SWEEP_AFTER_MS = 1_000;

/** `gateway`: the wallet and bulk-transfer HTTP API on PAYSTREAM_GATEWAY_PORT (8080). */
export const gatewayService: ServiceDefinition = {
  name: 'gateway',
  description: 'wallet (seed 004) and bulk-transfer (seed 003) HTTP API on the ledger',
  async start({ config, logger, metrics, kafka, schemas }): Promise<RunningService> {
    const gateway = await startGateway({ config, logger, metrics, kafka, schemas });
    return { ready: () => gateway.ready(), stop: () => gateway.stop() };
  },
};

export interface NewOrganization {
  name: string;
  iban: string;
  bic: string;
  currency: string;
  /** Opening deposit in minor units (e.g. seed 003's 7777777 cents). */
  depositMinor: bigint;
}

/**
 * Provisions an organization for bulk transfers: opens its ledger account (and deposits the opening balance),
 * records its IBAN/BIC and the SHA-256 of a new API key, publishes its PartyRegistered event. Returns the API key,
 * which is shown once and stored nowhere in clear.
 */
export async function provisionOrganization(
  deps: Pick<GatewayDeps, 'directory' | 'ledger' | 'events'>,
  org: NewOrganization,
  timeoutMs = 15_000,
): Promise<{ organizationId: string; accountId: string; apiKey: string; balanceMinor: bigint }> {
  const name = textValue(org.name, 'name', { max: 200 });
  const iban = operatorIban(org.iban);
  const bic = org.bic.trim().toUpperCase();
  if (!isValidBic(bic)) throw invalid('bic', 'is not a valid BIC');
  // Checked before the ledger account is opened, so a repeated command leaves no orphan account behind (the unique
  // index still decides a race between two operators).
  if (await deps.directory.organizationIbanTaken(iban))
    throw new ApiError('CONFLICT', 'ORGANIZATION_EXISTS', `an organization with IBAN ${iban} exists`, 'iban');
  const organizationId = `org_${randomBytes(12).toString('hex')}`;
  const accountId = `acct_${organizationId}`;
  const apiKey = newApiKey();
  const deadline = Date.now() + timeoutMs;
  const open = await deps.ledger.request(
    {
      commandId: `open:${accountId}`,
      accountId,
      issuedAt: new Date(),
      command: {
        'paystream.ledger.OpenAccount': {
          ownerKind: 'ORGANIZATION',
          ownerId: organizationId,
          currency: org.currency,
          allowNegative: false,
        },
      },
    },
    deadline,
  );
  if (!open || !('paystream.ledger.CommandAccepted' in open.outcome))
    throw new Error(`opening the organization account failed: ${JSON.stringify(open?.outcome ?? 'timeout')}`);
  let balanceMinor = 0n;
  if (org.depositMinor > 0n) {
    const dep = await deps.ledger.request(
      {
        commandId: `dep:${accountId}:opening`,
        accountId,
        issuedAt: new Date(),
        command: {
          'paystream.ledger.Deposit': {
            amountMinor: org.depositMinor,
            currency: org.currency,
            reference: 'opening balance',
          },
        },
      },
      deadline,
    );
    if (!dep || !('paystream.ledger.CommandAccepted' in dep.outcome))
      throw new Error(`the opening deposit failed: ${JSON.stringify(dep?.outcome ?? 'timeout')}`);
    balanceMinor = dep.outcome['paystream.ledger.CommandAccepted'].balanceAfterMinor;
  }
  await deps.directory.createOrganization({
    organizationId,
    name,
    iban,
    bic,
    accountId,
    currency: org.currency,
    apiKey,
  });
  await deps.events.publish(
    partyRegisteredEvent({
      partyId: organizationId,
      kind: 'ORGANIZATION',
      email: null,
      displayName: name,
      registeredAt: new Date(),
    }),
  );
  await deps.directory.markPartyPublished(organizationId, 'ORGANIZATION');
  return { organizationId, accountId, apiKey, balanceMinor };
}

/**
 * Gives an organization a new API key and refuses its old one from the next request on (gateways read the key's
 * digest from Postgres on every request; nothing caches it). For a key that leaked, or an operator's routine rotation.
 * The key is returned once; only its SHA-256 is kept.
 */
export async function rotateOrganizationKey(
  deps: Pick<GatewayDeps, 'directory'>,
  ibanText: string,
): Promise<{ organizationId: string; apiKey: string }> {
  const org = await organizationWithIban(deps.directory, operatorIban(ibanText));
  const apiKey = newApiKey();
  if (!(await deps.directory.replaceOrganizationKey(org.organizationId, apiKey))) throw noOrganization(org.iban);
  return { organizationId: org.organizationId, apiKey };
}

const newApiKey = () => `psk_${randomBytes(32).toString('base64url')}`;

const noOrganization = (iban: string) =>
  new ApiError('NOT_FOUND', 'ORGANIZATION_NOT_FOUND', `no organization has IBAN ${iban}`, 'iban');

/** An IBAN an operator typed, in any grouping or letter case, in its electronic form; refused unless valid. */
function operatorIban(text: string): string {
  const iban = normaliseIban(text);
  if (!isValidIban(iban)) throw invalid('iban', 'is not a valid IBAN (check digits)');
  return iban;
}

/** The organization whose account has this IBAN (electronic form). */
async function organizationWithIban(directory: GatewayDeps['directory'], iban: string) {
  const org = await directory.organizationByIban(iban);
  if (!org) throw noOrganization(iban);
  return org;
}

export interface OrganizationFunding {
  /** The organization's account IBAN, as `org create` recorded it (any grouping or letter case). */
  iban: string;
  amountMinor: bigint;
  /** What the money is (a bank statement line, say); kept with the ledger entry. */
  reference: string;
  /** The operator's id for this funding: the same id funds the account once, however often it is run. */
  fundingId: string;
}

function fundingIdReused(fundingId: string): ApiError {
  return new ApiError(
    'UNPROCESSABLE',
    'FUNDING_ID_REUSED',
    `funding ${fundingId} was applied before with another amount or reference; nothing was applied now (give a ` +
      'different funding a new --id)',
    'id',
  );
}

/** Operator ids for fundings: they become part of a ledger command id. */
const FUNDING_ID = /^[A-Za-z0-9._:-]{1,100}$/;

/**
 * Credits an organization's account (an operator's action, for money that reached it outside the platform, such as
 * an incoming transfer): a ledger Deposit whose command id is derived from the funding id, so running it again with
 * the same id (after a timeout, say) funds the account once and reports the ledger's first result (`repeated`). The
 * same id with another amount or reference is refused, and so is any funding under an id first applied longer ago
 * than the ledger remembers command ids (`ledgerDedupWindowMs`): the ledger would take it for a new funding.
 */
export async function fundOrganization(
  deps: Pick<GatewayDeps, 'directory' | 'ledger'>,
  funding: OrganizationFunding,
  options: { ledgerDedupWindowMs: number; timeoutMs?: number },
): Promise<{ organizationId: string; accountId: string; balanceMinor: bigint; repeated: boolean }> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const iban = operatorIban(funding.iban);
  if (funding.amountMinor <= 0n) throw invalid('amount', 'must be greater than zero');
  const reference = textValue(funding.reference, 'reference', { max: 140 });
  if (!FUNDING_ID.test(funding.fundingId)) throw invalid('id', 'must be 1–100 of A-Z a-z 0-9 . _ : -');
  const org = await organizationWithIban(deps.directory, iban);
  const command: LedgerCommand = {
    commandId: `fund:${org.accountId}:${funding.fundingId}`,
    accountId: org.accountId,
    issuedAt: new Date(),
    command: {
      'paystream.ledger.Deposit': { amountMinor: funding.amountMinor, currency: org.currency, reference },
    },
  };
  const first = await deps.directory.ledgerResult(command.commandId);
  const verdict = firstUseVerdict(first, command, new Date(), options.ledgerDedupWindowMs);
  if (verdict === 'OTHER_REQUEST') throw fundingIdReused(funding.fundingId);
  if (first && verdict === 'FORGOTTEN')
    throw new ApiError(
      'UNPROCESSABLE',
      'FUNDING_ID_REUSED',
      `funding ${funding.fundingId} was applied at ${first.processedAt.toISOString()}, longer ago than the ledger ` +
        `remembers commands (${options.ledgerDedupWindowMs / 86_400_000} days); nothing was applied now (give a new ` +
        'funding a new --id)',
      'id',
    );
  const result = await deps.ledger.request(command, Date.now() + timeoutMs);
  if (!result)
    throw new PaystreamError(
      'KAFKA_UNAVAILABLE',
      `the ledger did not answer within ${timeoutMs / 1000} s (is it running?); run the same command again, with ` +
        'the same id: it funds the account at most once',
      { retryable: true },
    );
  if (
    'paystream.ledger.CommandRejected' in result.outcome &&
    result.outcome['paystream.ledger.CommandRejected'].code === 'COMMAND_ID_REUSED'
  )
    throw fundingIdReused(funding.fundingId);
  if (!('paystream.ledger.CommandAccepted' in result.outcome))
    throw new ApiError(
      'UNPROCESSABLE',
      result.outcome['paystream.ledger.CommandRejected'].code,
      `the ledger refused the funding: ${result.outcome['paystream.ledger.CommandRejected'].code}`,
    );
  return {
    organizationId: org.organizationId,
    accountId: org.accountId,
    balanceMinor: result.outcome['paystream.ledger.CommandAccepted'].balanceAfterMinor,
    repeated: result.duplicate,
  };
}
