import { createHash } from 'node:crypto';

import type { Redis } from 'ioredis';

import { redisCall, redisFailure } from './redis-call';

/**
 * A Lua script run by its SHA-1 (EVALSHA), so each call sends the hash rather than the script; when Redis does not
 * know the script (first use, or Redis restarted and forgot it) the call is repeated as EVAL, which loads it. A script
 * runs atomically.
 */
export class RedisScript {
  private readonly sha: string;

  constructor(
    private readonly redis: Redis,
    private readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw redisFailure(err);
      return redisCall(this.redis.eval(this.source, keys.length, ...keys, ...args));
    }
  }
}

/**
 * The latest balance the gateway has seen in a ledger result, per wallet, with the account version it belongs to.
 * Responses that carry a balance record it first, so any read after such a response — on any gateway process —
 * returns a balance at least that fresh even while the sink's read model lags (read-your-writes). A write only ever
 * raises the version; entries expire after an hour, long after the read model has caught up.
 */
export class BalanceCache {
  private static readonly SCRIPT = `
    local cur = redis.call('HGET', KEYS[1], 'v')
    if (not cur) or tonumber(cur) < tonumber(ARGV[1]) then
      redis.call('HSET', KEYS[1], 'v', ARGV[1], 'b', ARGV[2])
    end
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return 1`;

  private readonly script: RedisScript;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds = 3600,
  ) {
    this.script = new RedisScript(redis, BalanceCache.SCRIPT);
  }

  private key(walletId: string): string {
    return `${this.prefix}balance:${walletId}`;
  }

  async record(walletId: string, version: bigint, balanceMinor: bigint): Promise<void> {
    if (version <= 0n) return;
    await this.script.run([this.key(walletId)], [version.toString(), balanceMinor.toString(), this.ttlSeconds]);
  }

  async read(walletIds: string[]): Promise<Map<string, { balanceMinor: bigint; version: bigint }>> {
    const out = new Map<string, { balanceMinor: bigint; version: bigint }>();
    if (walletIds.length === 0) return out;
    const pipeline = this.redis.pipeline();
    for (const id of walletIds) pipeline.hmget(this.key(id), 'v', 'b');
    const replies = (await redisCall(pipeline.exec())) ?? [];
    walletIds.forEach((id, i) => {
      const [v, b] = (replies[i]?.[1] as (string | null)[] | undefined) ?? [];
      if (v && b) out.set(id, { version: BigInt(v), balanceMinor: BigInt(b) });
    });
    return out;
  }
}

/**
 * Read-your-writes for history: per wallet, the history entry ids of the last operation a gateway answered for it,
 * kept apart by the read-model rows they become — ledger entries (`entries`, carried by accepted ledger.results) and
 * charges refused for insufficient funds (`refused`, from rejected ledger.results). A history read waits until the
 * read model holds one id of each kept list. Every entry of a wallet rides on a result keyed by that wallet (its own
 * commands, and the credits and reversals sent to it), so a wallet's entries reach the read model in order (one
 * partition of ledger.results) and the earlier operations are there too; refused charges of one payer likewise.
 * Expires after an hour.
 */
export type WriteSource = 'entries' | 'refused';

export class LastWrites {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds = 3600,
  ) {}

  private key(source: WriteSource, walletId: string): string {
    return `${this.prefix}lastwrite:${source}:${walletId}`;
  }

  async record(walletId: string, source: WriteSource, entryIds: string[]): Promise<void> {
    if (entryIds.length === 0) return;
    await redisCall(this.redis.set(this.key(source, walletId), JSON.stringify(entryIds), 'EX', this.ttlSeconds));
  }

  /** The id lists to wait for (one per source that has one). */
  async read(walletId: string): Promise<string[][]> {
    const raw = await redisCall(this.redis.mget(this.key('entries', walletId), this.key('refused', walletId)));
    return raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as string[]);
  }
}

/**
 * Fixed one-second windows per caller (session token hash, API key hash or client address), counted by one atomic
 * script: the window's counter is incremented and, when it is new, given a two-second expiry — so a counter never
 * outlives its window by more than that, whatever happens to the connection. One command, so it travels in the same
 * write as the session lookup it runs beside. Returns the seconds to wait when the caller is over its limit.
 */
export class RateLimiter {
  private static readonly SCRIPT = `
    local n = redis.call('INCR', KEYS[1])
    if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
    return n`;

  private readonly script: RedisScript;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly perSecond: number,
  ) {
    this.script = new RedisScript(redis, RateLimiter.SCRIPT);
  }

  async hit(caller: string, nowMs: number): Promise<{ allowed: boolean; retryAfterSeconds: number }> {
    const window = Math.floor(nowMs / 1000);
    const count = Number(await this.script.run([`${this.prefix}rate:${caller}:${window}`], [2]));
    return { allowed: count <= this.perSecond, retryAfterSeconds: 1 };
  }
}

/**
 * Logins per e-mail address, counted from the first in a window of `windowSeconds`: once `maxFailures` have been
 * tried without a success, every further login for that address is refused until the window ends — before its password
 * is hashed, so guessing one account's password costs the window and costs the gateway no hashing. A success clears
 * the count. Unknown addresses count like known ones (the answer tells nothing about which exist), and only the
 * address's SHA-256 is kept.
 *
 * `attempt` counts the login before its password is checked (atomically, so concurrent guesses cannot slip past the
 * limit) and returns the seconds left in the window when it is over the limit, else 0. A login whose password was then
 * never checked (hashing refused under load, say) is taken back with `unchecked`: a flood that makes the gateway
 * refuse logins does not lock the addresses it refused.
 */
export class LoginThrottle {
  private static readonly SCRIPT = `
    local n = redis.call('INCR', KEYS[1])
    if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
    if n <= tonumber(ARGV[1]) then return 0 end
    local ms = redis.call('PTTL', KEYS[1])
    if ms < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]); return tonumber(ARGV[2]) end
    return math.max(1, math.ceil(ms / 1000))`;

  /** Takes one attempt back, never below zero, and never recreates a count that ended or was cleared. */
  private static readonly UNCOUNT = `
    local n = tonumber(redis.call('GET', KEYS[1]) or '0')
    if n > 0 then redis.call('DECR', KEYS[1]) end
    return n`;

  private readonly script: RedisScript;
  private readonly uncount: RedisScript;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly maxFailures: number,
    private readonly windowSeconds: number,
  ) {
    this.script = new RedisScript(redis, LoginThrottle.SCRIPT);
    this.uncount = new RedisScript(redis, LoginThrottle.UNCOUNT);
  }

  private key(email: string): string {
    return `${this.prefix}login:${createHash('sha256').update(email).digest('hex')}`;
  }

  async attempt(email: string): Promise<number> {
    return Number(await this.script.run([this.key(email)], [this.maxFailures, this.windowSeconds]));
  }

  async unchecked(email: string): Promise<void> {
    await this.uncount.run([this.key(email)], []);
  }

  async succeeded(email: string): Promise<void> {
    await redisCall(this.redis.del(this.key(email)));
  }
}

export interface OperationRecord {
  partyId: string;
  kind: 'DEPOSIT' | 'CHARGE' | 'BULK_TRANSFER' | 'WALLET_CREATE';
  walletId?: string;
  bulkId?: string;
  createdAt: string;
  /** Set once the gateway saw the result (bulks: their status is readable before the read model has it). */
  outcome?: { accepted: boolean; code?: string };
}

/**
 * Operations answered 202 (the ledger result did not arrive within the reply timeout): who may poll them and what
 * they were. The outcome itself is read from the ledger's results (the read model), never from here.
 */
export class OperationStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  async put(operationId: string, record: OperationRecord): Promise<void> {
    await redisCall(this.redis.set(`${this.prefix}op:${operationId}`, JSON.stringify(record), 'EX', this.ttlSeconds));
  }

  async get(operationId: string): Promise<OperationRecord | undefined> {
    const raw = await redisCall(this.redis.get(`${this.prefix}op:${operationId}`));
    return raw ? (JSON.parse(raw) as OperationRecord) : undefined;
  }
}
