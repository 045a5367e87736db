import { createHash, randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';

import { hashPassword, verifyPassword } from '../../../../services/gateway/src/adapters/password-hasher';
import { IdempotencyStore } from '../../../../services/gateway/src/adapters/idempotency-store';
import { BalanceCache, LoginThrottle, RateLimiter } from '../../../../services/gateway/src/adapters/redis-state';
import { SessionStore } from '../../../../services/gateway/src/adapters/session-store';
import { loadConfig } from '../../../../services/platform/src/config';

describe('gateway stores on the real Redis', () => {
  // As the gateway makes it: commands issued in one turn of the event loop share a write.
  const redis = new Redis(loadConfig(process.env).redis.url, { enableAutoPipelining: true });
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
    expect(await redis.ttl(`${prefix}session:${SessionStore.digest(token)}`)).toBeGreaterThan(50);
    // Redis holds the token's SHA-256, never the token: nothing read from it can be presented as a session.
    const stored = await redis.keys(`${prefix}session:*`);
    expect(stored).toHaveLength(2);
    expect(stored.join(' ')).not.toContain(token);
    expect(stored).toContain(`${prefix}session:${createHash('sha256').update(token).digest('base64url')}`);
    for (const key of stored) expect(await redis.get(key)).not.toContain(token);
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
    expect(await store.claim('party-1', 'key-1', fp)).toMatchObject({
      kind: 'replay',
      response: { status: 200, body: { balance: 9 } },
    });
    expect(await store.claim('party-1', 'key-1', other)).toEqual({ kind: 'mismatch' });
    expect(await store.claim('party-2', 'key-1', other)).toEqual({ kind: 'new' });
    await store.release('party-2', 'key-1');
    expect(await store.claim('party-2', 'key-1', fp)).toEqual({ kind: 'new' });
  });

  it('idempotency: a stored response is reopened by one of the retries holding it, and only while it is the one stored', async () => {
    const store = new IdempotencyStore(redis, 60, prefix, 60, 'reopening');
    await store.heartbeat();
    const fp = IdempotencyStore.fingerprint('POST', '/wallet/deposit', { wallet: 'w', amount: '3' });
    expect(await store.claim('party-4', 'key-6', fp)).toEqual({ kind: 'new' });
    await store.complete('party-4', 'key-6', fp, { status: 202, body: { operation_id: 'op-1', status: 'PENDING' } });
    const [a, b] = await Promise.all([store.claim('party-4', 'key-6', fp), store.claim('party-4', 'key-6', fp)]);
    if (a?.kind !== 'replay' || b?.kind !== 'replay') throw new Error(`expected two replays: ${a?.kind}, ${b?.kind}`);
    const reopened = await Promise.all([
      store.reopen('party-4', 'key-6', fp, a.record),
      store.reopen('party-4', 'key-6', fp, b.record),
    ]);
    expect(reopened.sort()).toEqual([false, true]);
    // Held by the reopening request (its gateway alive): a retry meanwhile is told it is in progress.
    expect(await store.claim('party-4', 'key-6', fp)).toEqual({ kind: 'in-progress' });
    await store.complete('party-4', 'key-6', fp, { status: 200, body: { balance: '3.00' } });
    expect(await store.claim('party-4', 'key-6', fp)).toMatchObject({
      kind: 'replay',
      response: { status: 200, body: { balance: '3.00' } },
    });
    // The record a replay read is no longer the one stored: nothing to reopen.
    expect(await store.reopen('party-4', 'key-6', fp, a.record)).toBe(false);
    await store.stopHeartbeat();
  });

  it("idempotency: a claim whose gateway's heartbeat lapsed is taken over by one retry; a live gateway's is not", async () => {
    const gateway = (id: string) => new IdempotencyStore(redis, 60, prefix, 60, id);
    const [dead, live, retryA, retryB] = ['dead', 'live', 'retry-a', 'retry-b'].map(gateway);
    const fp = IdempotencyStore.fingerprint('POST', '/wallet/deposit', { wallet: 'w', amount: '1' });
    await Promise.all([dead!.heartbeat(), live!.heartbeat(), retryA!.heartbeat(), retryB!.heartbeat()]);
    expect(await redis.ttl(`${prefix}gateway-alive:live`)).toBeGreaterThan(3);
    expect(await dead!.claim('party-3', 'key-3', fp)).toEqual({ kind: 'new' });
    expect(await live!.claim('party-3', 'key-4', fp)).toEqual({ kind: 'new' });
    // While their gateways beat, both claims hold.
    expect(await retryA!.claim('party-3', 'key-3', fp)).toEqual({ kind: 'in-progress' });
    expect(await retryA!.claim('party-3', 'key-4', fp)).toEqual({ kind: 'in-progress' });
    // The first gateway stops beating (as a killed process does, once ALIVE_SECONDS passed): two retries racing for its
    // claim, one takes it over; the other finds it held by a live gateway.
    await redis.del(`${prefix}gateway-alive:dead`);
    const raced = await Promise.all([retryA!.claim('party-3', 'key-3', fp), retryB!.claim('party-3', 'key-3', fp)]);
    expect(raced.map((c) => c.kind).sort()).toEqual(['in-progress', 'new']);
    expect(await retryA!.claim('party-3', 'key-4', fp)).toEqual({ kind: 'in-progress' });
    // Another body under the key is still a mismatch, dead owner or not; and a stored response is still replayed.
    const other = IdempotencyStore.fingerprint('POST', '/wallet/deposit', { wallet: 'w', amount: '2' });
    expect(await retryA!.claim('party-3', 'key-3', other)).toEqual({ kind: 'mismatch' });
    await live!.complete('party-3', 'key-4', fp, { status: 200, body: { balance: '1.00' } });
    await live!.stopHeartbeat();
    expect(await retryA!.claim('party-3', 'key-4', fp)).toMatchObject({ kind: 'replay' });
    // A claim that names no gateway (a store without an instance id) only lapses with its lease.
    expect(await new IdempotencyStore(redis, 60, prefix).claim('party-3', 'key-5', fp)).toEqual({ kind: 'new' });
    expect(await retryA!.claim('party-3', 'key-5', fp)).toEqual({ kind: 'in-progress' });
  });

  it('rate limit: at most the limit per caller and second, counted atomically, each window expiring by itself', async () => {
    const limiter = new RateLimiter(redis, prefix, 5);
    const second = 1_700_000_000_000;
    const hits = await Promise.all(Array.from({ length: 8 }, () => limiter.hit('t:abc', second + 10)));
    expect(hits.map((h) => h.allowed)).toEqual([true, true, true, true, true, false, false, false]);
    const ttl = await redis.ttl(`${prefix}rate:t:abc:${second / 1000}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2);
    // Another caller, and the next window, count from zero.
    expect((await limiter.hit('t:other', second + 10)).allowed).toBe(true);
    expect((await limiter.hit('t:abc', second + 1_000)).allowed).toBe(true);
  });

  const A = '203.0.113.7';
  const B = '198.51.100.1';
  const limits = (maxPerAddress: number, maxPerEmail: number, windowSeconds = 60) =>
    new LoginThrottle(redis, prefix, { maxPerAddress, maxPerEmail, windowSeconds });

  it('login throttle: refuses an address past its failures for an e-mail until the window ends; a success clears it', async () => {
    const throttle = limits(3, 100);
    const email = `ana-${prefix}@example.com`;
    // Concurrent guesses are counted atomically: exactly three of ten pass.
    const waits = await Promise.all(Array.from({ length: 10 }, () => throttle.attempt(email, A)));
    expect(waits.filter((w) => w === 0)).toHaveLength(3);
    for (const w of waits.filter((w) => w > 0)) {
      expect(w).toBeGreaterThan(55);
      expect(w).toBeLessThanOrEqual(60);
    }
    // Another e-mail from the same address is counted apart; only digests are kept.
    expect(await throttle.attempt(`bob-${prefix}@example.com`, A)).toBe(0);
    const keys = await redis.keys(`${prefix}login:*`);
    expect(keys).toHaveLength(4);
    expect(keys.join(' ')).not.toMatch(/example\.com|203\.0\.113/);
    const [pair, wide] = throttle.keys(email, A);
    expect(pair).toBe(
      `${prefix}login:{${createHash('sha256').update(email).digest('hex')}}:${createHash('sha256').update(A).digest('hex')}`,
    );
    // The refused seven were not counted.
    expect([await redis.get(pair), await redis.get(wide)]).toEqual(['3', '3']);
    expect(await redis.ttl(pair)).toBeGreaterThan(55);
    // A success clears the count: the next three attempts pass again.
    await throttle.succeeded(email, A);
    expect(await redis.exists(pair, wide)).toBe(0);
    expect(await throttle.attempt(email, A)).toBe(0);
    expect(await throttle.attempt(email, A)).toBe(0);
    expect(await throttle.attempt(email, A)).toBe(0);
    expect(await throttle.attempt(email, A)).toBeGreaterThan(0);
  });

  it('login throttle: one address locks out only itself; the e-mail’s limit counts the failures of every address', async () => {
    const throttle = limits(3, 5);
    const email = `kim-${prefix}@example.com`;
    for (let i = 0; i < 3; i++) expect(await throttle.attempt(email, A)).toBe(0);
    // A, locked out, keeps trying: refused, and not counted against the e-mail…
    for (let i = 0; i < 20; i++) expect(await throttle.attempt(email, A)).toBeGreaterThan(0);
    // …so B still has the e-mail's two left, and then every address is refused.
    expect(await throttle.attempt(email, B)).toBe(0);
    expect(await throttle.attempt(email, B)).toBe(0);
    expect(await throttle.attempt(email, B)).toBeGreaterThan(0);
    expect(await throttle.attempt(email, '192.0.2.1')).toBeGreaterThan(0);
    // Another e-mail is untouched.
    expect(await throttle.attempt(`lee-${prefix}@example.com`, A)).toBe(0);
  });

  it('login throttle: a success takes back its own address’s attempts from the e-mail’s count, not the others’', async () => {
    const throttle = limits(3, 5);
    const email = `max-${prefix}@example.com`;
    const [pairA, wide] = throttle.keys(email, A);
    const [pairB] = throttle.keys(email, B);
    // Two guesses from A; the owner, from B, mistypes once and then logs in (both attempts counted before the check).
    for (const address of [A, A, B, B]) expect(await throttle.attempt(email, address)).toBe(0);
    expect(await redis.get(wide)).toBe('4');
    await throttle.succeeded(email, B);
    expect([await redis.get(pairA), await redis.exists(pairB), await redis.get(wide)]).toEqual(['2', 0, '2']);
    expect(await redis.ttl(wide)).toBeGreaterThan(55);
    // The guesses stay counted: three more from anywhere reach the e-mail's limit of five, as they would have without
    // the owner's login.
    for (const address of ['192.0.2.1', '192.0.2.2', '192.0.2.3'])
      expect(await throttle.attempt(email, address)).toBe(0);
    expect(await throttle.attempt(email, '192.0.2.4')).toBeGreaterThan(0);
    expect(await throttle.attempt(email, B)).toBeGreaterThan(0);
    // The owner's success when only its own attempts were counted removes the e-mail's count.
    const solo = `solo-${prefix}@example.com`;
    expect(await throttle.attempt(solo, B)).toBe(0);
    await throttle.succeeded(solo, B);
    expect(await redis.exists(...throttle.keys(solo, B))).toBe(0);
  });

  it('login throttle: an attempt whose password was not checked is taken back, never below zero or past the window', async () => {
    const throttle = limits(2, 100);
    const email = `joe-${prefix}@example.com`;
    const [pair, wide] = throttle.keys(email, A);
    // Nothing counted: nothing is taken back, and no count is made.
    await throttle.unchecked(email, A);
    expect(await redis.exists(pair, wide)).toBe(0);
    expect(await throttle.attempt(email, A)).toBe(0);
    expect(await throttle.attempt(email, A)).toBe(0);
    await throttle.unchecked(email, A);
    expect([await redis.get(pair), await redis.get(wide)]).toEqual(['1', '1']);
    // One of the two is back: one more attempt passes, the next does not.
    expect(await throttle.attempt(email, A)).toBe(0);
    expect(await throttle.attempt(email, A)).toBeGreaterThan(0);
    // The window keeps its end.
    expect(await redis.ttl(pair)).toBeGreaterThan(55);
    for (let i = 0; i < 5; i++) await throttle.unchecked(email, A);
    expect([await redis.get(pair), await redis.get(wide)]).toEqual(['0', '0']);
    expect(await redis.ttl(pair)).toBeGreaterThan(55);
    expect(await redis.ttl(wide)).toBeGreaterThan(55);
  });

  it('login throttle: the window ends by itself', async () => {
    const throttle = limits(1, 100, 1);
    const email = `eve-${prefix}@example.com`;
    expect(await throttle.attempt(email, A)).toBe(0);
    expect(await throttle.attempt(email, A)).toBe(1);
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await throttle.attempt(email, A)).toBe(0);
  });

  it('scripts keep working after Redis forgot them (SCRIPT FLUSH, as after a restart)', async () => {
    const limiter = new RateLimiter(redis, prefix, 1);
    const balances = new BalanceCache(redis, prefix);
    await redis.script('FLUSH');
    expect((await limiter.hit('t:flushed', 1_700_000_005_000)).allowed).toBe(true);
    expect((await limiter.hit('t:flushed', 1_700_000_005_000)).allowed).toBe(false);
    await redis.script('FLUSH');
    await balances.record('w-flushed', 3n, 1_250n);
    expect(await balances.read(['w-flushed'])).toEqual(new Map([['w-flushed', { version: 3n, balanceMinor: 1_250n }]]));
  });

  it('balance cache: a record only ever raises the version, and expires', async () => {
    const balances = new BalanceCache(redis, prefix, 60);
    await Promise.all([
      balances.record('w1', 5n, 500n),
      balances.record('w1', 4n, 400n),
      balances.record('w2', 1n, 7n),
    ]);
    await balances.record('w1', 0n, 999n);
    expect(await balances.read(['w1', 'w2', 'w3'])).toEqual(
      new Map([
        ['w1', { version: 5n, balanceMinor: 500n }],
        ['w2', { version: 1n, balanceMinor: 7n }],
      ]),
    );
    await balances.record('w1', 6n, 450n);
    expect((await balances.read(['w1'])).get('w1')).toEqual({ version: 6n, balanceMinor: 450n });
    expect(await redis.ttl(`${prefix}balance:w1`)).toBeGreaterThan(50);
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
