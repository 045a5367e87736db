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
 * Failed logins, counted per e-mail and client address, and per e-mail from every address together, each from the first
 * in a window of `windowSeconds`. Once an address has had `maxPerAddress` failures for an e-mail, its logins for that
 * e-mail are refused until its window ends; once the e-mail has had `maxPerEmail` from all addresses, every login for
 * it is. Refused before the password is hashed, so guessing costs the window and costs the gateway no hashing.
 *
 * - One address guessing locks only itself out: a login refused is not counted, so an address hammering past its
 *   lock does not use up the e-mail's wider allowance, and the account's owner, elsewhere, still logs in. Guesses
 *   spread over many addresses meet the e-mail's limit.
 * - A success clears the address's count, and takes that address's attempts back from the e-mail's: the owner's own
 *   typos stop counting, while failures from other addresses stay counted until the window ends. So an owner who
 *   logs in does not hand guesses spread over many addresses a fresh allowance.
 * - Unknown e-mails count like known ones (the answer tells nothing about which exist). Only SHA-256 digests of the
 *   e-mail and of the address are kept; both keys of an e-mail share a hash slot.
 *
 * `attempt` checks and counts the login before its password is checked, atomically, so concurrent guesses cannot slip
 * past either limit; it returns the seconds until the login would be allowed, or 0. A login whose password was then
 * never checked (hashing refused under load, say) is taken back with `unchecked`: a flood that makes the gateway refuse
 * logins does not lock the e-mails it refused.
 */
export class LoginThrottle {
  // KEYS: the address's count for the e-mail, the e-mail's count. ARGV: their limits, the window in seconds.
  private static readonly SCRIPT = `
    local function wait(key, max)
      if tonumber(redis.call('GET', key) or '0') < max then return 0 end
      local ms = redis.call('PTTL', key)
      if ms < 0 then redis.call('EXPIRE', key, ARGV[3]); return tonumber(ARGV[3]) end
      return math.max(1, math.ceil(ms / 1000))
    end
    local w = math.max(wait(KEYS[1], tonumber(ARGV[1])), wait(KEYS[2], tonumber(ARGV[2])))
    if w > 0 then return w end
    for _, key in ipairs(KEYS) do
      if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[3]) end
    end
    return 0`;

  /** Takes one attempt back from each count, never below zero, and never recreates a count that ended or was cleared. */
  private static readonly UNCOUNT = `
    for _, key in ipairs(KEYS) do
      if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
    end
    return 0`;

  /** Clears the address's count and takes as many attempts from the e-mail's; a count at zero is removed. */
  private static readonly SUCCEED = `
    local mine = tonumber(redis.call('GET', KEYS[1]) or '0')
    redis.call('DEL', KEYS[1])
    if mine > 0 then
      if tonumber(redis.call('GET', KEYS[2]) or '0') > mine then redis.call('DECRBY', KEYS[2], mine)
      else redis.call('DEL', KEYS[2]) end
    end
    return 0`;

  private readonly script: RedisScript;
  private readonly uncount: RedisScript;
  private readonly succeed: RedisScript;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limits: { maxPerAddress: number; maxPerEmail: number; windowSeconds: number },
  ) {
    this.script = new RedisScript(redis, LoginThrottle.SCRIPT);
    this.uncount = new RedisScript(redis, LoginThrottle.UNCOUNT);
    this.succeed = new RedisScript(redis, LoginThrottle.SUCCEED);
  }

  /** The address's key for the e-mail, and the e-mail's. */
  keys(email: string, address: string): [string, string] {
    const emailKey = this.emailKey(email);
    return [`${emailKey}:${digest(address)}`, emailKey];
  }

  private emailKey(email: string): string {
    return `${this.prefix}login:{${digest(email)}}`;
  }

  async attempt(email: string, address: string): Promise<number> {
    const { maxPerAddress, maxPerEmail, windowSeconds } = this.limits;
    return Number(await this.script.run(this.keys(email, address), [maxPerAddress, maxPerEmail, windowSeconds]));
  }

  async unchecked(email: string, address: string): Promise<void> {
    await this.uncount.run(this.keys(email, address), []);
  }

  async succeeded(email: string, address: string): Promise<void> {
    await this.succeed.run(this.keys(email, address), []);
  }

  /**
   * Lifts every lock on an e-mail (an operator's action, for an owner locked out by someone else's guesses): its own
   * count and every address's. Returns how many counts there were.
   */
  async lift(email: string): Promise<number> {
    const emailKey = this.emailKey(email);
    const found = [emailKey];
    let cursor = '0';
    do {
      const [next, keys] = await redisCall(
        this.redis.scan(cursor, 'MATCH', `${escapeGlob(emailKey)}:*`, 'COUNT', 1_000),
      );
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return Number(await redisCall(this.redis.del(...found)));
  }
}

/**
 * Sign-ups per client address in a fixed window that starts at its first (one Lua script: count and verdict are one
 * step, so concurrent sign-ups from one address cannot all slip under the limit). Attempts beyond the limit are
 * counted too but never extend the window. Keys hold a digest of the address, not the address.
 */
export class SignupLimiter {
  // KEYS: the address's count. ARGV: the limit, the window in seconds. Returns seconds to wait (0: go on).
  private static readonly SCRIPT = `
    local n = redis.call('INCR', KEYS[1])
    if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
    if n <= tonumber(ARGV[1]) then return 0 end
    local ms = redis.call('PTTL', KEYS[1])
    if ms < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]); return tonumber(ARGV[2]) end
    return math.max(1, math.ceil(ms / 1000))`;

  // Takes back one sign-up the gateway failed; never below zero, and never recreates a count whose window ended.
  private static readonly UNCOUNT = `
    if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
    return 0`;

  private readonly script: RedisScript;
  private readonly uncountScript: RedisScript;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly limits: { max: number; windowSeconds: number },
  ) {
    this.script = new RedisScript(redis, SignupLimiter.SCRIPT);
    this.uncountScript = new RedisScript(redis, SignupLimiter.UNCOUNT);
  }

  key(address: string): string {
    return `${this.prefix}signup:${digest(address)}`;
  }

  async uncount(address: string): Promise<void> {
    if (this.limits.max === 0) return;
    await this.uncountScript.run([this.key(address)], []);
  }

  /** Counts a sign-up from `address`: 0 when it may go on, otherwise the seconds until its window ends. */
  async attempt(address: string): Promise<number> {
    if (this.limits.max === 0) return 0;
    return Number(await this.script.run([this.key(address)], [this.limits.max, this.limits.windowSeconds]));
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest('hex');

/** `text` matched literally by a Redis glob pattern (SCAN MATCH). */
const escapeGlob = (text: string) => text.replace(/[*?[\]\\^]/g, (c) => `\\${c}`);

export interface OperationRecord {
  partyId: string;
  kind: 'DEPOSIT' | 'CHARGE' | 'BULK_TRANSFER' | 'WALLET_CREATE';
  walletId?: string;
  bulkId?: string;
  /** A bulk's total (minor units, as a decimal string), currency and number of credit transfers. */
  bulk?: { totalMinor: string; currency: string; itemCount: number };
  createdAt: string;
  /** Set once the gateway saw the result (bulks: their status is readable before the read model has it). */
  outcome?: { accepted: boolean; code?: string };
  /**
   * What was sent, as `requestFingerprint` (a decimal string): the ledger's first result under the operation's id
   * answers this request only if it carries the same. Absent in records written before it existed.
   */
  requestFingerprint?: string;
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
