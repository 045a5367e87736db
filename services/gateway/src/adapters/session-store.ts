import { createHash, randomBytes } from 'node:crypto';

import type { Redis } from 'ioredis';

import { redisCall } from './redis-call';

export interface Session {
  partyId: string;
  kind: 'CLIENT' | 'MERCHANT' | 'ORGANIZATION';
}

/**
 * Session tokens in Redis: 256 random bits, with the configured expiry; logout deletes the key, so a revoked or
 * expired token is unknown at once. Losing Redis logs everybody out and moves no money.
 *
 * Only the token's SHA-256 is kept (`<prefix>session:<sha256>`), as for organizations' API keys: whoever reads Redis
 * (a backup, a replica, a `KEYS`) learns who is signed in, not a token to act as them. A 256-bit random token needs no
 * slow hash.
 */
export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
    private readonly prefix = 'paystream:',
  ) {}

  private key(token: string): string {
    return `${this.prefix}session:${SessionStore.digest(token)}`;
  }

  /** What Redis holds for a token: its SHA-256, base64url. */
  static digest(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  async create(session: Session): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await redisCall(this.redis.set(this.key(token), JSON.stringify(session), 'EX', this.ttlSeconds));
    return token;
  }

  async get(token: string): Promise<Session | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const raw = await redisCall(this.redis.get(this.key(token)));
    return raw ? (JSON.parse(raw) as Session) : undefined;
  }

  async revoke(token: string): Promise<boolean> {
    return (await redisCall(this.redis.del(this.key(token)))) === 1;
  }
}
