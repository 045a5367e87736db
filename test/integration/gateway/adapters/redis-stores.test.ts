import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';

import { hashPassword, verifyPassword } from '../../../../services/gateway/src/adapters/password-hasher';
import { IdempotencyStore } from '../../../../services/gateway/src/adapters/idempotency-store';
import { SessionStore } from '../../../../services/gateway/src/adapters/session-store';
import { loadConfig } from '../../../../services/platform/src/config';

describe('gateway stores on the real Redis', () => {
  const redis = new Redis(loadConfig(process.env).redis.url);
  const prefix = `test:${randomBytes(4).toString('hex')}:`;

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('sessions: random 256-bit tokens, readable until revoked, unknown after', async () => {
    const store = new SessionStore(redis, 60, prefix);
    const token = await store.create({ partyId: 'p1', kind: 'CLIENT' });
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(await store.create({ partyId: 'p1', kind: 'CLIENT' })).not.toBe(token);
    expect(await store.get(token)).toEqual({ partyId: 'p1', kind: 'CLIENT' });
    expect(await redis.ttl(`${prefix}session:${token}`)).toBeGreaterThan(50);
    expect(await store.revoke(token)).toBe(true);
    expect(await store.get(token)).toBeUndefined();
    expect(await store.get('not a token')).toBeUndefined();
  });

  it('sessions expire with the configured time', async () => {
    const store = new SessionStore(redis, 1, prefix);
    const token = await store.create({ partyId: 'p2', kind: 'MERCHANT' });
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await store.get(token)).toBeUndefined();
  });

  it('idempotency: first claim, concurrent retry, replay of the stored response, mismatch for another body', async () => {
    const store = new IdempotencyStore(redis, 60, prefix);
    const fp = IdempotencyStore.fingerprint('POST', '/wallet/charge', { wallet: 'w', amount: '1' });
    const other = IdempotencyStore.fingerprint('POST', '/wallet/charge', { wallet: 'w', amount: '2' });
    const claims = await Promise.all([store.claim('party-1', 'key-1', fp), store.claim('party-1', 'key-1', fp)]);
    expect(claims.map((c) => c.kind).sort()).toEqual(['in-progress', 'new']);
    await store.complete('party-1', 'key-1', fp, { status: 200, body: { balance: 9 } });
    expect(await store.claim('party-1', 'key-1', fp)).toEqual({
      kind: 'replay',
      response: { status: 200, body: { balance: 9 } },
    });
    expect(await store.claim('party-1', 'key-1', other)).toEqual({ kind: 'mismatch' });
    expect(await store.claim('party-2', 'key-1', other)).toEqual({ kind: 'new' });
    await store.release('party-2', 'key-1');
    expect(await store.claim('party-2', 'key-1', fp)).toEqual({ kind: 'new' });
  });
});

describe('password hashing (scrypt)', () => {
  it('verifies the right password only, with a fresh salt per hash', async () => {
    const a = await hashPassword('correct horse battery staple');
    const b = await hashPassword('correct horse battery staple');
    expect(a).not.toBe(b);
    expect(a.startsWith('scrypt$32768$8$1$')).toBe(true);
    expect(await verifyPassword('correct horse battery staple', a)).toBe(true);
    expect(await verifyPassword('Correct horse battery staple', a)).toBe(false);
    expect(await verifyPassword('x', 'md5$whatever')).toBe(false);
  });
});
