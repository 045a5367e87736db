import { createHash } from 'node:crypto';

import type { Redis } from 'ioredis';

import { redisCall } from './redis-call';

export interface StoredResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type IdempotencyClaim =
  | { kind: 'new' }
  /** `record`: the stored record as read, which {@link IdempotencyStore.reopen} takes to replace it. */
  | { kind: 'replay'; response: StoredResponse; record: string }
  | { kind: 'in-progress' }
  | { kind: 'mismatch' };

/**
 * Replaces a claim with a new one only if it is still the record that was read: of two retries taking over the same
 * dead claim, one does.
 */
const TAKE_OVER = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0`;

/** How long a gateway counts as alive after its last heartbeat (it beats every {@link HEARTBEAT_INTERVAL_MS}). */
export const ALIVE_SECONDS = 5;
export const HEARTBEAT_INTERVAL_MS = 1_000;

/**
 * `Idempotency-Key` records in Redis, per caller: the first request with a key claims it (SET NX, with a fingerprint
 * of the request and the claiming gateway's `instanceId`); its response is stored with the key, and a retry with the
 * same fingerprint gets that response back without anything being applied again. The same key with a different
 * request is a mismatch (422); a retry while the first is still running is told so (409). Keys expire after
 * `ttlSeconds`. A claim whose request never completed (its gateway died) is taken over by a retry once that gateway's
 * heartbeat has lapsed (`ALIVE_SECONDS`), and lapses by itself after `leaseSeconds` (claims without an owner, from a
 * store given no `instanceId`, only so), so the client's retry runs again — callers derive their command ids from the
 * key, so that second run cannot apply anything twice, even if the first gateway was alive after all. A stored 202 is
 * reopened the same way once its outcome is known, to be answered anew.
 */
export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
    private readonly prefix = 'paystream:',
    private readonly leaseSeconds = ttlSeconds,
    private readonly instanceId?: string,
  ) {}

  private aliveKey(instanceId: string): string {
    return `${this.prefix}gateway-alive:${instanceId}`;
  }

  /** Marks this gateway alive for {@link ALIVE_SECONDS}: its claims are not taken over meanwhile. */
  async heartbeat(): Promise<void> {
    if (this.instanceId === undefined) return;
    await redisCall(this.redis.set(this.aliveKey(this.instanceId), '1', 'EX', ALIVE_SECONDS));
  }

  /** Ends this gateway's heartbeat once it has stopped serving: its claims are all completed or released by then. */
  async stopHeartbeat(): Promise<void> {
    if (this.instanceId === undefined) return;
    await redisCall(this.redis.del(this.aliveKey(this.instanceId)));
  }

  /** The identity of a request: method, path and body, with object keys in a canonical order. */
  static fingerprint(method: string, path: string, body: unknown): string {
    return createHash('sha256')
      .update(`${method} ${path}\n${canonicalJson(body)}`)
      .digest('hex');
  }

  /** SHA-256 of what a request sent without an Idempotency-Key does (its route's `dedupeBy`): the key it is kept by. */
  static payloadHash(identity: string): string {
    return createHash('sha256').update(identity).digest('hex');
  }

  private key(scope: string, key: string): string {
    return `${this.prefix}idem:${scope}:${key}`;
  }

  /** The record of a claim by this gateway. */
  private inProgress(fingerprint: string): string {
    return JSON.stringify({
      fingerprint,
      state: 'in-progress',
      ...(this.instanceId === undefined ? {} : { owner: this.instanceId }),
    });
  }

  async claim(scope: string, key: string, fingerprint: string): Promise<IdempotencyClaim> {
    const k = this.key(scope, key);
    const mine = this.inProgress(fingerprint);
    const claimed = await redisCall(this.redis.set(k, mine, 'EX', this.leaseSeconds, 'NX'));
    if (claimed === 'OK') return { kind: 'new' };
    const raw = await redisCall(this.redis.get(k));
    if (!raw) return this.claim(scope, key, fingerprint);
    const record = JSON.parse(raw) as { fingerprint: string; state: string; owner?: string; response?: StoredResponse };
    if (record.fingerprint !== fingerprint) return { kind: 'mismatch' };
    if (record.state === 'done' && record.response) return { kind: 'replay', response: record.response, record: raw };
    if (record.owner !== undefined && !(await redisCall(this.redis.exists(this.aliveKey(record.owner))))) {
      const taken = await redisCall(this.redis.eval(TAKE_OVER, 1, k, raw, mine, this.leaseSeconds));
      if (taken === 1) return { kind: 'new' };
      return this.claim(scope, key, fingerprint);
    }
    return { kind: 'in-progress' };
  }

  async complete(scope: string, key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    await redisCall(
      this.redis.set(
        this.key(scope, key),
        JSON.stringify({ fingerprint, state: 'done', response }),
        'EX',
        this.ttlSeconds,
      ),
    );
  }

  /**
   * Claims again a key whose stored response is `record` (from a replay claim), to answer it anew: a 202 whose outcome
   * has become known since. Only one of several retries doing so at once gets it (the others find it in progress);
   * false when the record changed meanwhile.
   */
  async reopen(scope: string, key: string, fingerprint: string, record: string): Promise<boolean> {
    const mine = this.inProgress(fingerprint);
    return (
      (await redisCall(this.redis.eval(TAKE_OVER, 1, this.key(scope, key), record, mine, this.leaseSeconds))) === 1
    );
  }

  /** Releases a claim whose request failed before applying anything, so the client may retry with the same key. */
  async release(scope: string, key: string): Promise<void> {
    await redisCall(this.redis.del(this.key(scope, key)));
  }
}

/** JSON with every object's keys sorted, so the same body hashes the same whatever order a client wrote it in. */
function canonicalJson(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(canonical(value));
}
