import type { Registry } from 'prom-client';

import type { PlatformConfig } from '../../../platform/src/config';
import type { EventProducer } from '../../../platform/src/events/event-producer';
import type { Logger } from '../../../platform/src/logger';
import type { Directory } from '../adapters/directory';
import type { IdempotencyStore } from '../adapters/idempotency-store';
import type { LedgerClient } from '../adapters/ledger-client';
import type {
  BalanceCache,
  LastWrites,
  LoginThrottle,
  OperationStore,
  RateLimiter,
  SignupLimiter,
} from '../adapters/redis-state';
import type { SessionStore } from '../adapters/session-store';

/**
 * Seconds after which a request the gateway started can no longer be running: twice its reply deadline (a charge waits
 * for two results, one after the other) plus 30 s for its statements. What a request left behind past that (an
 * idempotency claim, a wallet not marked opened) was left by a request that has ended.
 */
export const requestLifetimeBoundSeconds = (replyTimeoutMs: number): number =>
  Math.ceil((2 * replyTimeoutMs) / 1000) + 30;

/**
 * Headers on every answer, the app's and those to requests refused before the app saw them: each is private and of the
 * moment (tokens, balances, history), so no cache on the way may keep it and no client may read it as anything but
 * the declared JSON.
 */
export const ANSWER_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
});

/** Everything the HTTP layer uses, injected (tests and the service build it the same way). */
export interface GatewayDeps {
  config: PlatformConfig['gateway'];
  logger: Logger;
  metrics: Registry;
  directory: Directory;
  sessions: SessionStore;
  idempotency: IdempotencyStore;
  balances: BalanceCache;
  lastWrites: LastWrites;
  rateLimiter: RateLimiter;
  loginThrottle: LoginThrottle;
  signupLimiter: SignupLimiter;
  operations: OperationStore;
  ledger: LedgerClient;
  events: EventProducer;
  passwords: { hash(password: string): Promise<string>; verify(password: string, stored: string): Promise<boolean> };
  now: () => Date;
  newId: () => string;
}

export type Caller =
  | { kind: 'CLIENT' | 'MERCHANT'; partyId: string; token: string }
  | {
      kind: 'ORGANIZATION';
      partyId: string;
      token: string;
      accountId: string;
      name: string;
      iban: string;
      bic: string;
      currency: string;
    };

/** What a handler answers; the app writes it (and the idempotency layer stores it). */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
