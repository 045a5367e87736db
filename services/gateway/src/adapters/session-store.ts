import { randomBytes } from 'node:crypto';

import type { Redis } from 'ioredis';

import { redisCall } from './redis-call';

export interface Session {
  partyId: string;
  kind: 'CLIENT' | 'MERCHANT' | 'ORGANIZATION';
}

/**
 * Session tokens in Redis: 256 random bits, stored under `<prefix>session:<token>` with the configured expiry; logout
 * deletes the key, so a revoked or expired token is unknown at once. Losing Redis logs everybody out and moves no
 * money.
 */
export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
    private readonly prefix = 'paystream:',
  ) {}

  private key(token: string): string {
    return `${this.prefix}session:${token}`;
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
