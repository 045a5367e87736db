import type { Redis } from 'ioredis';

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

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds = 3600,
  ) {}

  private scriptSha: Promise<string> | undefined;

  private key(walletId: string): string {
    return `${this.prefix}balance:${walletId}`;
  }

  /** The script is loaded once per process (and again if Redis restarted and forgot it). */
  private sha(): Promise<string> {
    this.scriptSha ??= this.redis.script('LOAD', BalanceCache.SCRIPT) as Promise<string>;
    return this.scriptSha;
  }

  async record(walletId: string, version: bigint, balanceMinor: bigint): Promise<void> {
    if (version <= 0n) return;
    const args = [1, this.key(walletId), version.toString(), balanceMinor.toString(), this.ttlSeconds] as const;
    try {
      await this.redis.evalsha(await this.sha(), ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      this.scriptSha = undefined;
      await this.redis.evalsha(await this.sha(), ...args);
    }
  }

  async read(walletIds: string[]): Promise<Map<string, { balanceMinor: bigint; version: bigint }>> {
    const out = new Map<string, { balanceMinor: bigint; version: bigint }>();
    if (walletIds.length === 0) return out;
    const pipeline = this.redis.pipeline();
    for (const id of walletIds) pipeline.hmget(this.key(id), 'v', 'b');
    const replies = (await pipeline.exec()) ?? [];
    walletIds.forEach((id, i) => {
      const [v, b] = (replies[i]?.[1] as (string | null)[] | undefined) ?? [];
      if (v && b) out.set(id, { version: BigInt(v), balanceMinor: BigInt(b) });
    });
    return out;
  }
}

/**
 * Read-your-writes for history: per wallet, the history entry ids of the last operation a gateway answered for it,
 * kept apart by the topic the read model gets them from — ledger entries (`entries`, from ledger.entries) and charges
 * refused for insufficient funds (`refused`, from ledger.results). A history read waits until the read model holds
 * one id of each kept list. A wallet's entries reach the read model in order (one partition of ledger.entries), so
 * the earlier operations are there too; refused charges of one payer likewise. Expires after an hour.
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
    await this.redis.set(this.key(source, walletId), JSON.stringify(entryIds), 'EX', this.ttlSeconds);
  }

  /** The id lists to wait for (one per source that has one). */
  async read(walletId: string): Promise<string[][]> {
    const raw = await this.redis.mget(this.key('entries', walletId), this.key('refused', walletId));
    return raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as string[]);
  }
}

/**
 * Fixed one-second windows per caller (session token hash, API key hash or client address): INCR + EXPIRE in one
 * round trip. Returns the seconds to wait when the caller is over its limit.
 */
export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly perSecond: number,
  ) {}

  async hit(caller: string, nowMs: number): Promise<{ allowed: boolean; retryAfterSeconds: number }> {
    const window = Math.floor(nowMs / 1000);
    const key = `${this.prefix}rate:${caller}:${window}`;
    const [[, count]] = (await this.redis.multi().incr(key).expire(key, 2).exec()) as [[unknown, number], unknown];
    return { allowed: count <= this.perSecond, retryAfterSeconds: 1 };
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
    await this.redis.set(`${this.prefix}op:${operationId}`, JSON.stringify(record), 'EX', this.ttlSeconds);
  }

  async get(operationId: string): Promise<OperationRecord | undefined> {
    const raw = await this.redis.get(`${this.prefix}op:${operationId}`);
    return raw ? (JSON.parse(raw) as OperationRecord) : undefined;
  }
}
