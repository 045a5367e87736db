/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   HTTP response bodies are untyped JSON here; the assertions are what check their shape. */
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

import { provisionOrganization } from '../../../services/gateway/src/app/gateway';
import { MAX_BULK_ITEMS } from '../../../services/gateway/src/domain/requests';
import { derivedUuid } from '../../../services/gateway/src/http/derived-id';
import { SessionStore } from '../../../services/gateway/src/adapters/session-store';
import { ledgerProcessor } from '../../../services/ledger/src/domain/ledger';
import { PaystreamError } from '../../../services/platform/src/errors';
import type { LedgerCommand } from '../../../services/platform/src/sdk/event-types.generated';
import type { ProcessorDefinition } from '../../../services/processor-runtime/src/processor';
import { eventually } from '../../support/integration-env';
import { clientSignUp, companySignUp, httpClient, walletPlatform } from '../../support/gateway-env';
import type { WalletPlatform } from '../../support/gateway-env';
import { answerRecorder, openApiContract } from '../../support/openapi-contract';

jest.setTimeout(180_000);

type Http = ReturnType<typeof httpClient>;

/** Runs test/support/validate-openapi.mjs (the validator is ESM only) with the document on stdin. */
function validateOpenApi(doc: unknown): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = execFile('node', [path.join(__dirname, '../../support/validate-openapi.mjs')], (err, stdout) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }),
    );
    child.stdin?.end(JSON.stringify(doc));
  });
}

describe('gateway: wallet and bulk-transfer APIs over HTTP on the real stack', () => {
  /** Every answer any gateway gave this suite: the last test checks each against the OpenAPI document. */
  const contract = answerRecorder();
  const client = (base: string) => httpClient(base, contract.record);
  let p: WalletPlatform;
  let api: Http;
  let api2: Http;
  let gw1: Awaited<ReturnType<WalletPlatform['gateway']>>;
  /** The gateway's business counter for charges with this outcome. */
  const charges = async (outcome: string) => {
    const metric = await gw1.deps.metrics.getSingleMetric('paystream_gateway_operations_total')?.get();
    return metric?.values.find((v) => v.labels.kind === 'charge' && v.labels.outcome === outcome)?.value ?? 0;
  };
  /** The ledger's business counters: each sample's value by its labels' values (`kind outcome currency`). */
  const ledgerCounters = async () => {
    const sampled = async (name: string) =>
      new Map(
        ((await p.ledgerMetrics.getSingleMetric(name)?.get())?.values ?? []).map((v) => [
          Object.values(v.labels).join(' '),
          v.value,
        ]),
      );
    return {
      commands: await sampled('paystream_ledger_commands_total'),
      volume: await sampled('paystream_ledger_volume_minor_total'),
    };
  };
  /** What the ledger's business counters gained since `before`, the samples that did not change left out. */
  const ledgerGains = async (before: Awaited<ReturnType<typeof ledgerCounters>>) => {
    const now = await ledgerCounters();
    const gains = (a: Map<string, number>, b: Map<string, number>) =>
      Object.fromEntries([...b].map(([k, v]) => [k, v - (a.get(k) ?? 0)]).filter(([, d]) => d !== 0));
    return { commands: gains(before.commands, now.commands), volume: gains(before.volume, now.volume) };
  };
  /** How many observations a gateway's histogram holds (its `_count` sample). */
  const observations = async (gw: Awaited<ReturnType<WalletPlatform['gateway']>>, histogram: string) => {
    const metric = await gw.deps.metrics.getSingleMetric(histogram)?.get();
    return metric?.values.find((v) => 'metricName' in v && v.metricName === `${histogram}_count`)?.value ?? 0;
  };
  /** How many charges' credits this gateway waited for. */
  const followUps = () => observations(gw1, 'paystream_gateway_ledger_follow_up_seconds');
  let n = 0;
  const unique = (what: string) => `${what}-${++n}-${p.env.prefix.slice(2, 14)}@example.com`;

  /** A client with one wallet holding `deposit`, and a company with its wallet. */
  async function parties(deposit = '100.00') {
    const c = (await api('POST', '/client/signup', { body: clientSignUp(unique('client')) })).body.token as string;
    const m = (await api('POST', '/company/signup', { body: companySignUp(unique('shop')) })).body.token as string;
    const cw = (await api('POST', '/wallet/create', { token: c })).body.wallet as string;
    const mw = (await api('POST', '/wallet/create', { token: m })).body.wallet as string;
    if (deposit !== '0')
      expect((await api('POST', '/wallet/deposit', { token: c, body: { wallet: cw, amount: deposit } })).status).toBe(
        200,
      );
    return { c, m, cw, mw };
  }

  /** Money arriving past the gateway: a Deposit sent to the ledger directly, which must be accepted. */
  async function depositThroughLedger(accountId: string, commandId: string, amountMinor: bigint): Promise<void> {
    const deposited = await gw1.deps.ledger.request(
      {
        commandId,
        accountId,
        issuedAt: new Date(),
        command: { 'paystream.ledger.Deposit': { amountMinor, currency: 'EUR', reference: 'past the gateway' } },
      },
      Date.now() + 10_000,
    );
    expect(deposited && 'paystream.ledger.CommandAccepted' in deposited.outcome).toBe(true);
  }

  /**
   * Drops the gateway's record of one Idempotency-Key (`pattern`: `<party>:<path>:<key>`, globs allowed), as its expiry
   * (PAYSTREAM_IDEMPOTENCY_TTL_HOURS) would; exactly one must match. Returns the party the record was kept for.
   */
  async function forgetKey(pattern: string): Promise<string> {
    const records = await p.redis.keys(`${p.redisPrefix}idem:${pattern}`);
    expect(records.length).toBe(1);
    await p.redis.del(...records);
    return (records[0] ?? '').slice(`${p.redisPrefix}idem:`.length).split(':')[0] ?? '';
  }

  /** An organization provisioned as an operator does (`paystream org create`), in EUR, through a gateway of `p`. */
  async function organization(spec: { name: string; iban: string; bic: string; depositMinor: bigint }) {
    const { directory, ledger, events } = (await p.gateway()).deps;
    return provisionOrganization({ directory, ledger, events }, { ...spec, currency: 'EUR' });
  }

  /** Runs `during` with the read model behind: the row of `key` not in `table` yet; then puts the row back. */
  async function readModelBehind<T>(
    table: 'ledger_results' | 'bulk_transfers',
    key: string,
    during: () => Promise<T>,
  ): Promise<T> {
    const column = table === 'ledger_results' ? 'command_id' : 'bulk_id';
    const row = await eventually(
      async () =>
        (await p.db.pool.query(`delete from ${table} where ${column} = $1 returning *`, [key])).rows[0] as
          Record<string, unknown> | undefined,
    );
    try {
      return await during();
    } finally {
      const columns = Object.keys(row);
      await p.db.pool.query(
        `insert into ${table} (${columns.join(', ')}) values (${columns.map((_, n) => `$${n + 1}`).join(', ')})`,
        columns.map((col) => row[col]),
      );
    }
  }

  /** The client addresses the gateways keep a rate-limit bucket for (anonymous routes are limited per address). */
  const rateLimitedAddresses = async () =>
    (await p.redis.keys(`${p.redisPrefix}rate:ip:*`)).map((k) =>
      k.slice(`${p.redisPrefix}rate:ip:`.length).replace(/:\d+$/, ''),
    );

  /** The status of `GET /status` through `gateway` with this X-Forwarded-For. */
  const statusFrom = async (gateway: string, forwardedFor: string) =>
    (await client(gateway)('GET', '/status', { headers: { 'x-forwarded-for': forwardedFor } })).status;

  /** Ten `GET /status` at once through `gateway`, the i-th with X-Forwarded-For `forwardedFor(i)`: how many got 429. */
  const refusedOfTen = async (gateway: string, forwardedFor: (i: number) => string) =>
    (await Promise.all(Array.from({ length: 10 }, (_, i) => statusFrom(gateway, forwardedFor(i))))).filter(
      (status) => status === 429,
    ).length;

  beforeAll(async () => {
    p = await walletPlatform('gateway');
    const gw = await p.gateway({
      PAYSTREAM_REPLY_TIMEOUT_MS: '20000',
      PAYSTREAM_RATE_LIMIT_PER_SECOND: '5000',
      PAYSTREAM_MAX_WALLETS_BY_CLIENT: '3',
    });
    // A second gateway process on the same Redis, Postgres and topics, with a short reply timeout and a low rate limit.
    const gw2 = await p.gateway({ PAYSTREAM_REPLY_TIMEOUT_MS: '1500', PAYSTREAM_RATE_LIMIT_PER_SECOND: '5' });
    gw1 = gw;
    api = client(gw.url);
    api2 = client(gw2.url);
  });
  afterAll(async () => {
    await p?.cleanup();
  });

  it("runs seed 004's whole flow: sign-up, wallets, deposit, charge, a failed charge in history, list, info, logout", async () => {
    const email = unique('ana');
    const signup = await api('POST', '/client/signup', { body: clientSignUp(email) });
    expect(signup.status).toBe(201);
    expect(signup.body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await api('POST', '/client/signup', { body: clientSignUp(email.toUpperCase()) })).body).toMatchObject({
      error: { code: 'EMAIL_TAKEN', field: 'email' },
    });
    expect((await api('POST', '/client/signup', { body: clientSignUp(email) })).status).toBe(409);
    const login = await api('POST', '/client/login', { body: { email, password: 'correct horse battery' } });
    expect(login.status).toBe(200);
    const token = login.body.token as string;
    // A token (and any balance) is kept by no cache on the way, and read as JSON only; errors are no different.
    for (const reply of [signup, login, await api('GET', '/wallet/list')]) {
      expect(reply.headers.get('cache-control')).toBe('no-store');
      expect(reply.headers.get('x-content-type-options')).toBe('nosniff');
    }
    // Every answer names its request: a new id each time, or the client's own when it is a plain token.
    const ids = [signup, login].map((r) => r.headers.get('x-request-id'));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(ids[0]).not.toBe(ids[1]);
    // (Asked without the client's token: this token's requests per second are counted across both gateways, and the
    // second one allows 5.) An error names its request too.
    const traced = await api('GET', '/wallet/list', { headers: { 'x-request-id': 'trace-4bf92f3577b34da6' } });
    expect(traced.status).toBe(401);
    expect(traced.headers.get('x-request-id')).toBe('trace-4bf92f3577b34da6');
    for (const made of ['has spaces in it', 'x'.repeat(65), 'short', '<script>alert(1)</script>'])
      expect(
        (await api('GET', '/wallet/list', { headers: { 'x-request-id': made } })).headers.get('x-request-id'),
      ).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect((await api('POST', '/client/login', { body: { email, password: 'wrong password!' } })).status).toBe(401);
    expect((await api('POST', '/company/login', { body: { email, password: 'correct horse battery' } })).status).toBe(
      401,
    );

    const shopEmail = unique('shop');
    const shop = (await api('POST', '/company/signup', { body: companySignUp(shopEmail) })).body.token as string;
    const created = await api('POST', '/wallet/create', { token });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      wallet: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
      balance: '0.00',
      currency: 'EUR',
    });
    const wallet = created.body.wallet as string;
    // A created resource says where it is read (as a bulk's and an operation's do).
    expect(created.headers.get('location')).toBe(`/wallet/info/${wallet}`);
    expect((await api('GET', created.headers.get('location')!, { token })).body).toEqual(created.body);
    const second = (await api('POST', '/wallet/create', { token })).body.wallet as string;
    const shopWallet = (await api('POST', '/wallet/create', { token: shop })).body.wallet as string;
    expect((await api('POST', '/wallet/create', { token: shop })).body).toMatchObject({
      error: { code: 'WALLET_LIMIT_REACHED' },
    });

    const dep = await api('POST', '/wallet/deposit', { token, body: { wallet, amount: '100.50' } });
    expect(dep).toMatchObject({ status: 200, body: { wallet, balance: '100.50' } });
    // Read-your-writes, even through the other gateway process and before the sink has caught up.
    expect((await api2('GET', `/wallet/info/${wallet}`, { token })).body).toEqual({
      wallet,
      balance: '100.50',
      currency: 'EUR',
    });

    const followUpsBefore = await followUps();
    const charge = await api('POST', '/wallet/charge', {
      token: shop,
      body: { wallet, amount: 30.25, summary: 'two coffees' },
    });
    expect(charge).toMatchObject({ status: 200, body: { wallet: shopWallet, balance: '30.25' } });
    // The charge waited for its credit to the merchant, the second ledger hop, and the gateway measured that hop.
    expect(await followUps()).toBe(followUpsBefore + 1);
    expect((await api('GET', `/wallet/info/${wallet}`, { token })).body.balance).toBe('70.25');
    const tooMuch = await api('POST', '/wallet/charge', {
      token: shop,
      body: { wallet, amount: '1000', summary: 'a bike' },
    });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.error).toMatchObject({ code: 'INSUFFICIENT_FUNDS', field: 'amount' });
    // The merchant learns the charge was not covered, not the client's balance (70.25, 7025 minor units).
    expect(tooMuch.body.error.message).not.toMatch(/7025|70\.25/);
    // A refused charge has no credit to wait for.
    expect(await followUps()).toBe(followUpsBefore + 1);
    expect((await api('GET', `/wallet/info/${wallet}`, { token })).body.balance).toBe('70.25');

    // Read-your-writes: the history read right after the refused charge already shows it, with no retry loop.
    const history = (await api('GET', `/wallet/history/${wallet}`, { token })).body;
    expect(history).toEqual([
      {
        summary: 'a bike',
        source__token: wallet,
        target__token: shopWallet,
        amount: '1000.00',
        currency: 'EUR',
        type: 'charge',
        success: false,
        date: expect.any(String),
      },
      {
        summary: 'two coffees',
        source__token: wallet,
        target__token: shopWallet,
        amount: '30.25',
        currency: 'EUR',
        type: 'charge',
        success: true,
        date: expect.any(String),
      },
      {
        summary: 'deposit',
        source__token: null,
        target__token: wallet,
        amount: '100.50',
        currency: 'EUR',
        type: 'deposit',
        success: true,
        date: expect.any(String),
      },
    ]);
    const dates = history.map((h: { date: string }) => h.date);
    expect([...dates].sort().reverse()).toEqual(dates);
    const shopHistory = (await api('GET', `/wallet/history/${shopWallet}`, { token: shop })).body;
    expect(
      shopHistory.map((h: { type: string; success: boolean; source__token: string }) => [
        h.type,
        h.success,
        h.source__token,
      ]),
    ).toEqual([
      ['charge_received', false, wallet],
      ['charge_received', true, wallet],
    ]);

    const list = await api('GET', '/wallet/list', { token });
    expect(list.body).toEqual([
      { wallet, balance: '70.25', currency: 'EUR' },
      { wallet: second, balance: '0.00', currency: 'EUR' },
    ]);
    expect((await api('POST', '/client/logout', { token })).status).toBe(204);
    expect((await api('GET', '/wallet/list', { token })).body).toMatchObject({ error: { code: 'INVALID_TOKEN' } });
    // The company logs in again (a second token, the first still valid), and out: that token no longer works.
    const shopAgain = await api('POST', '/company/login', {
      body: { email: shopEmail, password: companySignUp(shopEmail).password },
    });
    expect(shopAgain.status).toBe(200);
    const shopToken = shopAgain.body.token as string;
    expect(shopToken).not.toBe(shop);
    expect((await api('GET', '/wallet/list', { token: shopToken })).body).toEqual([
      { wallet: shopWallet, balance: '30.25', currency: 'EUR' },
    ]);
    expect((await api('POST', '/company/logout', { token: shopToken })).status).toBe(204);
    expect((await api('GET', '/wallet/list', { token: shopToken })).status).toBe(401);
    expect((await api('GET', '/wallet/list', { token: shop })).status).toBe(200);
    // The party reached the read model through identity.parties; no credential did.
    const party = await eventually(
      async () =>
        (await p.db.pool.query('select kind, email, display_name from parties where email = $1', [email])).rows[0],
    );
    expect(party).toEqual({ kind: 'CLIENT', email, display_name: 'Ana García' });
    // The sign-up marked its event published, so the gateway's sweep will not publish it again.
    const marked = await p.db.pool.query<{ published: boolean }>(
      'select event_published_at is not null as published from gateway_credentials where email = $1',
      [email],
    );
    expect(marked.rows).toEqual([{ published: true }]);
  });

  it('authorizes: only companies charge, only owners read or deposit, expired or revoked tokens are refused', async () => {
    const a = await parties('10.00');
    const b = await parties('0');
    expect(
      (await api('POST', '/wallet/charge', { token: a.c, body: { wallet: b.cw, amount: '1', summary: 'x' } })).status,
    ).toBe(403);
    expect((await api('GET', `/wallet/info/${a.cw}`, { token: b.c })).status).toBe(403);
    expect((await api('GET', `/wallet/history/${a.cw}`, { token: b.c })).status).toBe(403);
    expect((await api('GET', `/wallet/info/${a.cw}`, { token: a.m })).status).toBe(403);
    const foreign = await api('POST', '/wallet/deposit', { token: b.c, body: { wallet: a.cw, amount: '5' } });
    expect(foreign).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN', field: 'wallet' } } });
    expect((await api('GET', `/wallet/info/${'A'.repeat(32)}`, { token: a.c })).status).toBe(404);
    // Every 401 names the scheme to authenticate with (RFC 9110 §11.6.1).
    for (const sent of [{}, { token: 'not-a-token' }, { headers: { authorization: 'Bearer abc' } }]) {
      const refused = await api('GET', '/wallet/list', sent);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Token');
    }
    const wrongPassword = await api('POST', '/client/login', {
      body: { email: unique('nobody'), password: 'not the password' },
    });
    expect(wrongPassword).toMatchObject({ status: 401, body: { error: { code: 'INVALID_CREDENTIALS' } } });
    expect(wrongPassword.headers.get('www-authenticate')).toBe('Token');
    // Answers other than 401 carry no challenge.
    expect((await api('GET', `/wallet/info/${a.cw}`, { token: b.c })).headers.get('www-authenticate')).toBeNull();
    // Each kind logs out at its own route; another kind's token there is refused and stays valid.
    for (const [path, token] of [
      ['/company/logout', a.c],
      ['/client/logout', a.m],
    ] as const)
      expect((await api('POST', path, { token, body: {} })).body).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect((await api('GET', `/wallet/info/${a.cw}`, { token: a.c })).status).toBe(200);
    expect((await api('GET', '/wallet/list', { token: a.m })).status).toBe(200);
    // The scheme is case-insensitive, as HTTP's are: the same token, so the same caller.
    expect((await api('GET', `/wallet/info/${a.cw}`, { headers: { authorization: `token ${a.c}` } })).status).toBe(200);
    expect((await api('POST', '/bulk_transfer', { token: a.m, body: {} })).status).toBe(403);
    // Expired: a session written with a 1 s expiry into the same store.
    const shortLived = new SessionStore(p.redis, 1, p.redisPrefix);
    const partyId = (await p.db.pool.query('select owner_id from gateway_wallets where wallet_id = $1', [a.cw])).rows[0]
      .owner_id as string;
    const expiring = await shortLived.create({ partyId, kind: 'CLIENT' });
    expect((await api('GET', `/wallet/info/${a.cw}`, { token: expiring })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await api('GET', `/wallet/info/${a.cw}`, { token: expiring })).status).toBe(401);
    // Balances untouched by the refused calls.
    expect((await api('GET', `/wallet/info/${a.cw}`, { token: a.c })).body.balance).toBe('10.00');
  });

  it('refuses an address’s logins for an e-mail after 10 failures until the window ends, before checking the password', async () => {
    const email = unique('guessed');
    const body = clientSignUp(email);
    expect((await api('POST', '/client/signup', { body })).status).toBe(201);
    const attempt = (password: string, path = '/client/login') =>
      api<{ error?: { code: string; field?: string }; token?: string }>('POST', path, {
        body: { email, password },
      });
    // A success before the limit clears the count.
    for (let i = 0; i < 9; i++) expect((await attempt(`wrong ${i}`)).status).toBe(401);
    expect((await attempt(body.password)).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await attempt(`wrong again ${i}`)).status).toBe(401);
    // The 11th, with the right password, is refused all the same (429 naming the e-mail), on either login route and
    // in any letter case; the wait is the rest of the 15-minute window.
    for (const r of [
      await attempt(body.password),
      await attempt(body.password, '/company/login'),
      await api('POST', '/client/login', { body: { email: email.toUpperCase(), password: body.password } }),
    ]) {
      expect(r).toMatchObject({ status: 429, body: { error: { code: 'TOO_MANY_LOGIN_ATTEMPTS', field: 'email' } } });
      const wait = Number(r.headers.get('retry-after'));
      expect(wait).toBeGreaterThan(800);
      expect(wait).toBeLessThanOrEqual(900);
    }
    // An unknown address is counted the same way (the answer tells nothing about which accounts exist)…
    const nobody = unique('nobody');
    for (let i = 0; i < 10; i++)
      expect((await api('POST', '/client/login', { body: { email: nobody, password: 'x' } })).status).toBe(401);
    expect((await api('POST', '/client/login', { body: { email: nobody, password: 'x' } })).status).toBe(429);
    // …and other addresses are not held back.
    const other = clientSignUp(unique('other'));
    expect((await api('POST', '/client/signup', { body: other })).status).toBe(201);
    expect(
      (await api('POST', '/client/login', { body: { email: other.email, password: other.password } })).status,
    ).toBe(200);
  });

  it('bounds the sign-ups one address may attempt in an hour (429 with the rest of the hour), not other addresses', async () => {
    const limited = client(
      (await p.gateway({ PAYSTREAM_SIGNUPS_PER_ADDRESS_PER_HOUR: '3', PAYSTREAM_TRUSTED_PROXY_HOPS: '1' })).url,
    );
    const from = (address: string, path: string, body: unknown) =>
      limited<{ error?: { code: string } }>('POST', path, { body, headers: { 'x-forwarded-for': address } });
    const a = '198.51.100.21';
    // A body refused as invalid costs nothing.
    expect((await from(a, '/client/signup', { ...clientSignUp(unique('bad')), email: 'nope' })).status).toBe(400);
    const taken = clientSignUp(unique('taken'));
    expect((await from(a, '/client/signup', taken)).status).toBe(201);
    expect((await from(a, '/company/signup', companySignUp(unique('limited-shop')))).status).toBe(201);
    // A sign-up refused for its e-mail counts: it told the sender the e-mail is registered.
    expect((await from(a, '/client/signup', taken)).status).toBe(409);
    for (const path of ['/client/signup', '/company/signup']) {
      const refused = await from(
        a,
        path,
        path === '/client/signup' ? clientSignUp(unique('4th')) : companySignUp(unique('4th-shop')),
      );
      expect(refused).toMatchObject({ status: 429, body: { error: { code: 'TOO_MANY_SIGNUPS' } } });
      const wait = Number(refused.headers.get('retry-after'));
      expect(wait).toBeGreaterThan(3_500);
      expect(wait).toBeLessThanOrEqual(3_600);
    }
    // Its logins are not held back, nor are other addresses' sign-ups.
    expect((await from(a, '/client/login', { email: taken.email, password: taken.password })).status).toBe(200);
    expect((await from('198.51.100.22', '/client/signup', clientSignUp(unique('elsewhere')))).status).toBe(201);
    // Ten at once from one address: exactly three get through.
    const burst = await Promise.all(
      Array.from({ length: 10 }, () => from('198.51.100.23', '/client/signup', clientSignUp(unique('burst')))),
    );
    expect(burst.map((r) => r.status).sort()).toEqual([201, 201, 201, 429, 429, 429, 429, 429, 429, 429]);
    // Redis holds a digest of the address, never the address.
    const keys = await p.redis.keys(`${p.redisPrefix}signup:*`);
    expect(keys.length).toBe(3);
    expect(keys.join(' ')).not.toContain('198.51.100');
  });

  it('locks out the address that guesses, not the account: its owner logs in from elsewhere until guesses from many addresses reach the e-mail’s limit', async () => {
    const behindProxy = client(
      (
        await p.gateway({
          PAYSTREAM_TRUSTED_PROXY_HOPS: '1',
          PAYSTREAM_LOGIN_MAX_FAILURES: '3',
          PAYSTREAM_LOGIN_MAX_FAILURES_PER_EMAIL: '5',
        })
      ).url,
    );
    const email = unique('targeted');
    const body = clientSignUp(email);
    expect((await behindProxy('POST', '/client/signup', { body })).status).toBe(201);
    const login = (from: string, password: string) =>
      behindProxy('POST', '/client/login', { body: { email, password }, headers: { 'x-forwarded-for': from } });
    for (let i = 0; i < 3; i++) expect((await login('203.0.113.66', `guess ${i}`)).status).toBe(401);
    // The guessing address is refused, even with the right password, however long it keeps trying…
    for (let i = 0; i < 5; i++) expect((await login('203.0.113.66', body.password)).status).toBe(429);
    // …and the owner, from another address, logs in. Its own attempt is taken back; the three guesses still count.
    expect((await login('198.51.100.20', body.password)).status).toBe(200);
    // Guesses spread over addresses meet the e-mail's limit of 5 (two more): then every address is refused.
    for (const from of ['192.0.2.1', '192.0.2.2']) expect((await login(from, 'guess')).status).toBe(401);
    expect((await login('192.0.2.3', 'guess')).status).toBe(429);
    const locked = await login('198.51.100.20', body.password);
    expect(locked).toMatchObject({ status: 429, body: { error: { code: 'TOO_MANY_LOGIN_ATTEMPTS', field: 'email' } } });
  });

  /** A gateway hashing one password at a time with one waiting, and no per-address request limit in the way. */
  const ONE_HASH_AT_A_TIME = {
    PAYSTREAM_PASSWORD_HASH_CONCURRENCY: '1',
    PAYSTREAM_PASSWORD_HASH_QUEUE: '1',
    PAYSTREAM_RATE_LIMIT_PER_SECOND: '5000',
  };

  it('bounds the password hashes it computes: a flood of logins is refused 503 at once, and nothing else suffers', async () => {
    const gw = await p.gateway(ONE_HASH_AT_A_TIME);
    const flooded = client(gw.url);
    const { c, cw } = await parties('3.00');
    // 12 logins at once (unknown addresses: each costs one hash): one runs, one waits, the rest are refused.
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        flooded<{ error: { code: string } }>('POST', '/client/login', {
          body: { email: unique(`flood${i}`), password: 'guess' },
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s !== 401 && s !== 503)).toEqual([]);
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(1);
    const refused = answers.filter((a) => a.status === 503);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) {
      expect(r.body.error.code).toBe('OVERLOADED');
      expect(r.headers.get('retry-after')).toBe('1');
    }
    const metric = await gw.deps.metrics.getSingleMetric('paystream_gateway_password_hashes_refused_total')?.get();
    expect(metric?.values[0]?.value).toBe(refused.length);
    // Money requests never wait for a hash; once the flood is over, sign-ups and logins are served again.
    expect((await flooded('GET', `/wallet/info/${cw}`, { token: c })).body).toMatchObject({ balance: '3.00' });
    expect(
      (await flooded('POST', '/client/login', { body: { email: unique('after'), password: 'guess' } })).status,
    ).toBe(401);
    expect((await flooded('POST', '/client/signup', { body: clientSignUp(unique('after')) })).status).toBe(201);
  });

  it('counts against an e-mail only the logins whose password was checked, not those refused for load', async () => {
    const gw = await p.gateway(ONE_HASH_AT_A_TIME);
    const flooded = client(gw.url);
    const email = unique('busy');
    const body = clientSignUp(email);
    expect((await flooded('POST', '/client/signup', { body })).status).toBe(201);
    const attempt = (password: string) => flooded('POST', '/client/login', { body: { email, password } });
    // 9 wrong passwords at once, under the limit of 10: one is checked, one waits, the rest are refused for load.
    const statuses = (await Promise.all(Array.from({ length: 9 }, (_, i) => attempt(`wrong ${i}`)))).map(
      (a) => a.status,
    );
    expect(statuses.filter((s) => s !== 401 && s !== 503)).toEqual([]);
    const checked = statuses.filter((s) => s === 401).length;
    expect(checked).toBeLessThan(9);
    // Only the checked ones count: exactly 10 - checked more failures are let through before the lock.
    for (let i = checked; i < 10; i++) expect((await attempt(`wrong again ${i}`)).status).toBe(401);
    expect((await attempt(body.password)).status).toBe(429);
  });

  it('counts against an address only the sign-ups the gateway did not fail: not those refused for load', async () => {
    const gw = await p.gateway({
      ...ONE_HASH_AT_A_TIME,
      PAYSTREAM_SIGNUPS_PER_ADDRESS_PER_HOUR: '5',
      PAYSTREAM_TRUSTED_PROXY_HOPS: '1',
    });
    const flooded = client(gw.url);
    const signUp = (what: string) =>
      flooded('POST', '/client/signup', {
        body: clientSignUp(unique(what)),
        headers: { 'x-forwarded-for': '198.51.100.31' },
      });
    // Five at once, as many as allowed: one is hashed, one waits, the rest are refused for load (503).
    const statuses = (await Promise.all(Array.from({ length: 5 }, () => signUp('flood')))).map((r) => r.status);
    expect(statuses.filter((s) => s !== 201 && s !== 503)).toEqual([]);
    const created = statuses.filter((s) => s === 201).length;
    expect(created).toBeLessThan(5);
    // Only those created count: exactly 5 - created more get through, one at a time, before the limit.
    for (let i = created; i < 5; i++) expect((await signUp(`after-${i}`)).status).toBe(201);
    expect((await signUp('one-too-many')).status).toBe(429);
  });

  it('200 concurrent charges on one wallet: exactly the affordable number succeed and the balance never goes negative', async () => {
    const { c, m, cw } = await parties('100.00');
    const [acceptedBefore, refusedBefore] = [await charges('ACCEPTED'), await charges('INSUFFICIENT_FUNDS')];
    const ledgerBefore = await ledgerCounters();
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        api('POST', '/wallet/charge', { token: m, body: { wallet: cw, amount: '0.75', summary: `race ${i}` } }),
      ),
    );
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(133);
    expect(statuses.filter((s) => s === 422)).toHaveLength(67);
    for (const r of replies.filter((x) => x.status === 422)) expect(r.body.error.code).toBe('INSUFFICIENT_FUNDS');
    // The business metrics counted the same.
    expect((await charges('ACCEPTED')) - acceptedBefore).toBe(133);
    expect((await charges('INSUFFICIENT_FUNDS')) - refusedBefore).toBe(67);
    // And the ledger's, from its commits: each charge's debit and the merchant's credit, 0.75 each.
    expect(await ledgerGains(ledgerBefore)).toEqual({
      commands: { 'charge ACCEPTED EUR': 133, 'charge INSUFFICIENT_FUNDS EUR': 67, 'credit ACCEPTED EUR': 133 },
      volume: { 'charge EUR': 133 * 75, 'credit EUR': 133 * 75 },
    });
    expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body.balance).toBe('0.25');
    const afters = await eventually(async () => {
      const rows = (
        await p.db.pool.query<{ b: string }>(
          `select balance_after_minor::text as b from ledger_results where account_id = $1 and accepted and command_id like 'chg:%'`,
          [cw],
        )
      ).rows;
      return rows.length === 133 ? rows.map((r) => BigInt(r.b)) : undefined;
    });
    expect(afters.every((b) => b >= 0n)).toBe(true);
    expect(afters.reduce((min, b) => (b < min ? b : min))).toBe(25n);
    const stored = await eventually(async () => {
      const r = (
        await p.db.pool.query<{ b: string }>(
          'select balance_minor::text as b from balances where account_id = $1 and version = 2 + 133',
          [cw],
        )
      ).rows[0];
      return r?.b;
    });
    expect(stored).toBe('25');
  });

  it('a charge whose credit cannot land is reversed to the payer (422); a company without a wallet cannot charge (409)', async () => {
    const { c, m, cw, mw } = await parties('10.00');
    // The merchant's balance 5.00 short of the 64-bit limit: a 10.00 credit cannot land there.
    const nearMax = 2n ** 63n - 1n - 500n;
    await depositThroughLedger(mw, `dep:${mw}:near-max`, nearMax);
    // Deposited past the gateway, so it knows the balance once the read model has it.
    const nearMaxText = `${nearMax / 100n}.${(nearMax % 100n).toString().padStart(2, '0')}`;
    await eventually(async () =>
      (await api('GET', `/wallet/info/${mw}`, { token: m })).body.balance === nearMaxText ? true : undefined,
    );
    const reversedKey = `reversed-${Date.now()}`;
    const charge = () =>
      api('POST', '/wallet/charge', {
        token: m,
        body: { wallet: cw, amount: '10.00', summary: 'cannot land' },
        headers: { 'idempotency-key': reversedKey },
      });
    const charged = await charge();
    expect(charged).toMatchObject({ status: 422, body: { error: { code: 'CHARGE_REVERSED' } } });
    expect(charged.body.error.message).toContain('(AMOUNT_OVERFLOW); it was returned to the payer');
    // The payer has its money back as soon as the answer says so (read-your-writes), and the merchant nothing more.
    expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body).toMatchObject({ wallet: cw, balance: '10.00' });
    expect((await api('GET', `/wallet/info/${mw}`, { token: m })).body.balance).toBe(nearMaxText);
    // The payer's history shows the charge and its reversal, the money back from the merchant's wallet; not a payment
    // received from the merchant.
    const history = (await api('GET', `/wallet/history/${cw}`, { token: c })).body as Record<string, unknown>[];
    expect(history.map((h) => [h.type, h.amount, h.source__token, h.target__token, h.success])).toEqual([
      ['reversal', '10.00', mw, cw, true],
      ['charge', '10.00', cw, mw, true],
      ['deposit', '10.00', null, cw, true],
    ]);
    // Retried once the gateway forgot the key: the ledger answers the charge with its first result, and the credit's
    // refusal and the reversal (sent when it was first applied, not again) come from the read model. The same answer.
    await forgetKey(`*:/wallet/charge:${reversedKey}`);
    expect(await charge()).toMatchObject({ status: 422, body: charged.body });
    expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body.balance).toBe('10.00');
    expect((await api('GET', `/wallet/info/${mw}`, { token: m })).body.balance).toBe(nearMaxText);

    const walletless = (await api('POST', '/company/signup', { body: companySignUp(unique('nowallet')) })).body
      .token as string;
    expect(
      await api('POST', '/wallet/charge', { token: walletless, body: { wallet: cw, amount: '1.00', summary: 'x' } }),
    ).toMatchObject({ status: 409, body: { error: { code: 'MERCHANT_WALLET_MISSING' } } });
    expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body.balance).toBe('10.00');
  });

  it('Idempotency-Key: a retry returns the original response and applies nothing; another body with the key → 422', async () => {
    const { c, m, cw } = await parties('10.00');
    const key = `dep-${Date.now()}`;
    const first = await api('POST', '/wallet/deposit', {
      token: c,
      body: { wallet: cw, amount: '5.00' },
      headers: { 'idempotency-key': key },
    });
    const again = await api('POST', '/wallet/deposit', {
      token: c,
      body: { wallet: cw, amount: '5.00' },
      headers: { 'idempotency-key': key },
    });
    expect(first).toMatchObject({ status: 200, body: { balance: '15.00' } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await api('POST', '/wallet/deposit', {
      token: c,
      body: { wallet: cw, amount: '6.00' },
      headers: { 'idempotency-key': key },
    });
    expect(other).toMatchObject({
      status: 422,
      body: { error: { code: 'IDEMPOTENCY_KEY_REUSED', field: 'Idempotency-Key' } },
    });
    // A key that is not one is refused, not taken for no key: an empty header is a client whose key went missing,
    // and its retry would otherwise apply the deposit again.
    for (const malformed of ['', 'x'.repeat(256), 'clé', 'two words'])
      expect(
        await api('POST', '/wallet/deposit', {
          token: c,
          body: { wallet: cw, amount: '5.00' },
          headers: { 'idempotency-key': malformed },
        }),
      ).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED', field: 'Idempotency-Key' } } });
    expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body.balance).toBe('15.00');
    const chargeKey = `chg-${Date.now()}`;
    const charges = await Promise.all(
      [1, 2, 3].map(() =>
        api('POST', '/wallet/charge', {
          token: m,
          body: { wallet: cw, amount: '4', summary: 'once' },
          headers: { 'idempotency-key': chargeKey },
        }),
      ),
    );
    // One ran; the others were told it is in progress (409) or got its response.
    expect(charges.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
    for (const r of charges) expect([200, 409]).toContain(r.status);
    const replay = await api('POST', '/wallet/charge', {
      token: m,
      body: { wallet: cw, amount: '4', summary: 'once' },
      headers: { 'idempotency-key': chargeKey },
    });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body.balance).toBe('11.00');
    // The same key under another caller is a different key.
    expect(
      (
        await api('POST', '/wallet/deposit', {
          token: c,
          body: { wallet: cw, amount: '1' },
          headers: { 'idempotency-key': chargeKey },
        })
      ).body.balance,
    ).toBe('12.00');
  });

  it('a key the gateway forgot (expired, or Redis lost) still names its first request: another body → 422, nothing applied', async () => {
    const { c, m, cw, mw } = await parties('10.00');
    /** Forgets the deposit key and says which ledger command id it stands for (derived from the caller and the key). */
    const forget = async (key: string) => {
      const partyId = await forgetKey(`*:/wallet/deposit:${key}`);
      return `dep:${derivedUuid(`${partyId}:/wallet/deposit\n${key}`)}`;
    };
    const balance = async (token: string, wallet: string) =>
      (await api('GET', `/wallet/info/${wallet}`, { token })).body.balance as string;
    const depositKey = `dep-forgotten-${Date.now()}`;
    const deposit = (amount: string, via = api) =>
      via('POST', '/wallet/deposit', {
        token: c,
        body: { wallet: cw, amount },
        headers: { 'idempotency-key': depositKey },
      });
    const reusedKey = {
      status: 422,
      body: { error: { code: 'IDEMPOTENCY_KEY_REUSED', field: 'Idempotency-Key' } },
    };
    const first = await deposit('5.00');
    expect(first).toMatchObject({ status: 200, body: { balance: '15.00' } });
    const commandId = await forget(depositKey);
    // Answered 200 with the first deposit's balance before: a deposit of 25.00 that never happened, told as done.
    // With the read model behind, the ledger refuses it.
    const reused = await readModelBehind('ledger_results', commandId, () => deposit('25.00'));
    expect(reused).toMatchObject(reusedKey);
    expect(reused.body.error.message).toContain('nothing was applied');
    expect(await balance(c, cw)).toBe('15.00');
    // With the first result in the read model, the gateway refuses it before sending anything.
    await forget(depositKey);
    expect(await deposit('25.00')).toMatchObject(reusedKey);
    // The same body again is the first request's retry: its original answer, nothing applied twice.
    await forget(depositKey);
    expect(await deposit('5.00')).toMatchObject({ status: 200, body: first.body });
    expect(await balance(c, cw)).toBe('15.00');

    // Answered 202 (the ledger down), its operation polls as refused, not as the first deposit's success.
    await forget(depositKey);
    const impatient = client(
      (await p.gateway({ PAYSTREAM_REPLY_TIMEOUT_MS: '1500', PAYSTREAM_RATE_LIMIT_PER_SECOND: '5000' })).url,
    );
    let op = '';
    try {
      await readModelBehind('ledger_results', commandId, async () => {
        await p.stopLedger();
        const late = await deposit('7.00', impatient);
        expect(late).toMatchObject({ status: 202, body: { status: 'PENDING', wallet: cw } });
        op = late.body.operation_id as string;
      });
    } finally {
      await p.startLedger();
    }
    expect((await api('GET', `/operations/${op}`, { token: c })).body).toEqual({
      operation_id: op,
      status: 'FAILED',
      rejection_code: 'IDEMPOTENCY_KEY_REUSED',
      wallet: cw,
    });
    // The ledger refuses the command once it runs: the next deposit's balance counts 15.00 plus itself only.
    expect(
      (await api('POST', '/wallet/deposit', { token: c, body: { wallet: cw, amount: '1.00' } })).body.balance,
    ).toBe('16.00');

    // First used longer ago than the ledger remembers ids (30 days): the ledger would take it for new, so the gateway
    // refuses even the same body.
    await forget(depositKey);
    await p.db.pool.query(
      "update ledger_results set processed_at = processed_at - interval '31 days' where command_id = $1",
      [commandId],
    );
    const stale = await deposit('5.00');
    await p.db.pool.query(
      "update ledger_results set processed_at = processed_at + interval '31 days' where command_id = $1",
      [commandId],
    );
    expect(stale).toMatchObject(reusedKey);
    expect(stale.body.error.message).toContain('longer ago than the ledger remembers commands (30 days)');
    expect(await balance(c, cw)).toBe('16.00');

    const chargeKey = `chg-forgotten-${Date.now()}`;
    const charge = (amount: string, summary: string) =>
      api('POST', '/wallet/charge', {
        token: m,
        body: { wallet: cw, amount, summary },
        headers: { 'idempotency-key': chargeKey },
      });
    const charged = await charge('4.00', 'first');
    expect(charged).toMatchObject({ status: 200, body: { balance: '4.00' } });
    await forgetKey(`*:/wallet/charge:${chargeKey}`);
    expect(await charge('4.00', 'another summary')).toMatchObject({
      status: 422,
      body: { error: { code: 'IDEMPOTENCY_KEY_REUSED', field: 'Idempotency-Key' } },
    });
    // The same charge again is the first one's retry: its original answer, the merchant's balance after the credit the
    // ledger sent when it first applied the charge (and does not send again). Before, it waited for that credit's
    // result until the reply timeout and answered 202.
    await forgetKey(`*:/wallet/charge:${chargeKey}`);
    expect(await charge('4.00', 'first')).toMatchObject({ status: 200, body: charged.body });
    expect([await balance(c, cw), await balance(m, mw)]).toEqual(['12.00', '4.00']);

    // A wallet creation retried under its key names the wallet it created, not another (a client's second wallet,
    // or 409 for a company's one). Before, it created a new wallet once the gateway forgot the key.
    const shop = (await api('POST', '/company/signup', { body: companySignUp(unique('keyed-shop')) })).body
      .token as string;
    for (const [token, key] of [
      [c, `client-wallet-${Date.now()}`],
      [shop, `shop-wallet-${Date.now()}`],
    ] as const) {
      const create = () => api('POST', '/wallet/create', { token, body: {}, headers: { 'idempotency-key': key } });
      const created = await create();
      expect(created.status).toBe(201);
      const location = `/wallet/info/${created.body.wallet as string}`;
      expect(created.headers.get('location')).toBe(location);
      const replayed = await create();
      expect(replayed).toMatchObject({ status: 201, body: created.body });
      expect([replayed.headers.get('idempotent-replayed'), replayed.headers.get('location')]).toEqual([
        'true',
        location,
      ]);
      const wallets = (await api('GET', '/wallet/list', { token })).body as unknown[];
      await forgetKey(`*:/wallet/create:${key}`);
      const rerun = await create();
      expect(rerun).toMatchObject({ status: 201, body: created.body });
      expect(rerun.headers.get('location')).toBe(location);
      expect((await api('GET', '/wallet/list', { token })).body).toEqual(wallets);
    }
    const history = (await api('GET', `/wallet/history/${cw}`, { token: c })).body as Record<string, unknown>[];
    expect(history.map((h) => [h.type, h.amount, h.success])).toEqual([
      ['charge', '4.00', true],
      ['deposit', '1.00', true],
      ['deposit', '5.00', true],
      ['deposit', '10.00', true],
    ]);
  });

  it('a keyed sign-up the gateway forgot is answered as the first (a session of the same account); nothing else is', async () => {
    for (const [path, body] of [
      ['/client/signup', clientSignUp(unique('keyed-client'))],
      ['/company/signup', companySignUp(unique('keyed-company'))],
    ] as const) {
      const key = `signup-${path}-${Date.now()}`;
      const signUp = (b: object, headers: Record<string, string> = { 'idempotency-key': key }) =>
        api('POST', path, { body: b, headers });
      const first = await signUp(body);
      expect(first.status).toBe(201);
      const wallet = (await api('POST', '/wallet/create', { token: first.body.token as string })).body.wallet as string;
      await forgetKey(`anonymous:${path}:${key}`);

      // The same sign-up: 201 with a new session of the account it made, which sees that account's wallet.
      const again = await signUp(body);
      expect(again.status).toBe(201);
      expect(again.body.token).not.toBe(first.body.token);
      expect((await api('GET', '/wallet/list', { token: again.body.token as string })).body).toEqual([
        { wallet, balance: '0.00', currency: 'EUR' },
      ]);
      await forgetKey(`anonymous:${path}:${key}`);

      // Not the same sign-up: another password, another profile, no key, or another key → the e-mail is taken.
      const profile = path === '/client/signup' ? 'client' : 'company';
      const others: [object, Record<string, string>][] = [
        [{ ...body, password: 'another long password' }, { 'idempotency-key': key }],
        [
          { ...body, [profile]: { ...(body as unknown as Record<string, object>)[profile], first_name: 'Otro' } },
          { 'idempotency-key': key },
        ],
        [body, {}],
        [body, { 'idempotency-key': `${key}-other` }],
      ];
      for (const [other, headers] of others) {
        expect(await signUp(other, headers)).toMatchObject({ status: 409, body: { error: { code: 'EMAIL_TAKEN' } } });
        if (headers['idempotency-key'] !== undefined)
          await forgetKey(`anonymous:${path}:${headers['idempotency-key']}`);
      }

      // While the first run's PartyRegistered event is unacknowledged, it may still be undone: in progress.
      const email = body.email;
      await p.db.pool.query('update gateway_credentials set event_published_at = null where email = $1', [email]);
      expect(await signUp(body)).toMatchObject({ status: 409, body: { error: { code: 'REQUEST_IN_PROGRESS' } } });
      await forgetKey(`anonymous:${path}:${key}`);
      await p.db.pool.query('update gateway_credentials set event_published_at = now() where email = $1', [email]);
      expect((await signUp(body)).status).toBe(201);
    }
  });

  it('validates every body and names the field', async () => {
    const { c, m, cw } = await parties('0');
    const bad = async (path: string, token: string, body: unknown, field: string) => {
      const r = await api('POST', path, { token, body });
      expect(r.status).toBe(400);
      expect(r.body.error.field).toBe(field);
    };
    await bad('/wallet/deposit', c, { wallet: cw, amount: '1.234' }, 'amount');
    await bad('/wallet/deposit', c, { wallet: cw, amount: -5 }, 'amount');
    await bad('/wallet/deposit', c, { wallet: cw, amount: '0' }, 'amount');
    await bad('/wallet/deposit', c, { wallet: cw, amount: '1e3' }, 'amount');
    await bad('/wallet/deposit', c, { wallet: cw, amount: ' 12.50' }, 'amount');
    await bad('/wallet/deposit', c, { wallet: cw, amount: '1000001' }, 'amount');
    await bad('/wallet/deposit', c, { wallet: 'nope', amount: '1' }, 'wallet');
    await bad('/wallet/charge', m, { wallet: cw, amount: '1' }, 'summary');
    // A field the request does not read is named, not ignored: nothing is deposited, created or revoked.
    const before = (await api('GET', '/wallet/list', { token: c })).body;
    await bad('/wallet/deposit', c, { wallet: cw, amount: '5', currency: 'USD' }, 'currency');
    await bad('/wallet/create', c, { currency: 'USD' }, 'currency');
    await bad('/client/logout', c, { everywhere: true }, 'everywhere');
    expect((await api('GET', '/wallet/list', { token: c })).body).toEqual(before);
    await bad(
      '/client/signup',
      '',
      {
        email: 'x@example.com',
        password: 'long enough',
        client: { first_name: 'a', last_name: 'b', phone_number: '666' },
      },
      'client.phone_number',
    );
    // Text Postgres cannot store (NUL) is the client's mistake: a 400 naming the field, never a 500 from the insert.
    const nul = clientSignUp(unique('nul'));
    await bad('/client/signup', '', { ...nul, client: { ...nul.client, first_name: 'A\u0000' } }, 'client.first_name');
    await bad('/client/signup', '', { ...nul, email: `a\u0000${nul.email}` }, 'email');
    // A body nested thousands deep is refused as such, with or without a key (the key's fingerprint and a bulk's
    // payload hash walk the body), instead of overflowing the stack into a 500.
    const deep = `{"wallet":"${cw}","amount":"1","x":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`;
    for (const headers of [{ 'idempotency-key': 'deep' }, {}] as Record<string, string>[]) {
      const nested = await api('POST', '/wallet/deposit', { token: c, raw: deep, headers });
      expect(nested).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_JSON', field: 'body' } } });
    }
    // A body that reads two ways (JSON.parse keeps the last "amount", another reader the first) is refused, naming
    // the member; so are bytes that are not UTF-8 (they would have been read as U+FFFD). Nothing is deposited.
    const twice = await api('POST', '/wallet/deposit', {
      token: c,
      raw: `{"wallet":"${cw}","amount":"1.00","amount":"1000.00"}`,
    });
    expect(twice).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED', field: 'amount' } } });
    const latin1 = await fetch(`http://127.0.0.1:${gw1.port}/wallet/deposit`, {
      method: 'POST',
      headers: { authorization: `Token ${c}`, 'content-type': 'application/json' },
      body: Buffer.concat([
        Buffer.from(`{"wallet":"${cw}","amount":"1","x":"`),
        Buffer.from([0xe9]),
        Buffer.from('"}'),
      ]),
    });
    expect(latin1.status).toBe(400);
    expect(await latin1.json()).toMatchObject({ error: { code: 'MALFORMED_JSON', field: 'body' } });
    expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body.balance).toBe('0.00');
    const malformed = await api('POST', '/wallet/deposit', { token: c, raw: '{"wallet": ' });
    expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_JSON', field: 'body' } } });
    const huge = await api('POST', '/wallet/deposit', {
      token: c,
      raw: JSON.stringify({ wallet: cw, amount: '1', pad: 'x'.repeat(70_000) }),
    });
    expect(huge).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    expect((await api('GET', `/wallet/history/${cw}?limit=0`, { token: c })).body.error.field).toBe('limit');
    expect((await api('GET', `/wallet/history/${cw}?cursor=garbage`, { token: c })).body.error.field).toBe('cursor');
    expect((await api('GET', `/wallet/history/${cw}?form=2026-01-01`, { token: c })).body.error.field).toBe('form');
    // A route that reads no query string refuses a parameter rather than answer as if it were not there…
    const filtered = await api('GET', '/wallet/list?currency=USD', { token: c });
    expect(filtered).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED', field: 'currency' } },
    });
    const sideways = await api('POST', `/wallet/deposit?amount=1000`, { token: c, body: { wallet: cw, amount: '1' } });
    expect(sideways).toMatchObject({ status: 400, body: { error: { field: 'amount' } } });
    expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body.balance).toBe('0.00');
    // …except a probe and the API document, where a cache-buster must not fail.
    expect((await api('GET', '/status?_=1733500000')).status).toBe(200);
    expect((await api('GET', '/openapi.json?v=2')).status).toBe(200);
    expect((await api('GET', '/no/such/route')).status).toBe(404);
  });

  it('a wrong method, a body with a content coding or of another media type get a JSON error naming what is wrong, and change nothing', async () => {
    const { c, cw } = await parties('0');
    const wrongMethod = await api('DELETE', '/wallet/create', { token: c });
    expect(wrongMethod).toMatchObject({ status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED' } } });
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(wrongMethod.body.error.message).toContain('allowed: POST');
    const put = await api('PUT', `/wallet/info/${cw}`, { token: c, body: {} });
    expect(put).toMatchObject({ status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED' } } });
    expect(put.headers.get('allow')).toBe('HEAD, GET');
    // Plain JSON declared as gzip (or any coding): refused, not read as if the header were absent.
    for (const coding of ['gzip', 'br', 'deflate']) {
      const encoded = await api('POST', '/wallet/deposit', {
        token: c,
        body: { wallet: cw, amount: '1.00' },
        headers: { 'content-encoding': coding },
      });
      expect(encoded).toMatchObject({
        status: 415,
        body: { error: { code: 'UNSUPPORTED_CONTENT_ENCODING', field: 'Content-Encoding' } },
      });
      expect(encoded.headers.get('accept-encoding')).toBe('identity');
    }
    // A JSON text declared as something else (a form, as `curl -d` declares it, plain text, bytes) is refused
    // before it is read as JSON, keyed or not: no deposit happens, and the key stays free for the corrected request.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream']) {
      const mistyped = await api('POST', '/wallet/deposit', {
        token: c,
        body: { wallet: cw, amount: '1.00' },
        headers: { 'content-type': type, 'idempotency-key': `typed-${type}` },
      });
      expect(mistyped).toMatchObject({
        status: 415,
        body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE', field: 'Content-Type' } },
      });
      expect(mistyped.body.error.message).toContain('application/json');
    }
    expect(
      await api('POST', '/wallet/deposit', {
        token: c,
        body: { wallet: cw, amount: '2.00' },
        headers: { 'content-type': 'application/json; charset=utf-8', 'idempotency-key': 'typed-text/plain' },
      }),
    ).toMatchObject({ status: 200, body: { wallet: cw, balance: '2.00' } });
    const identity = await api('POST', '/wallet/deposit', {
      token: c,
      body: { wallet: cw, amount: '1.00' },
      headers: { 'content-encoding': 'identity' },
    });
    // Only those two deposits reached the ledger: none of the refused ones did.
    expect(identity).toMatchObject({ status: 200, body: { wallet: cw, balance: '3.00' } });
  });

  it('a request the HTTP parser refuses gets the same JSON error: 431 for headers too large, 400 for bytes that are not HTTP', async () => {
    /** Sends `bytes` on a connection of its own and reads the whole answer, until the gateway closes it. */
    const raw = (bytes: string) =>
      new Promise<{ status: number; headers: Map<string, string>; body: unknown }>((resolve, reject) => {
        const { hostname, port } = new URL(gw1.url);
        const socket = net.connect(Number(port), hostname, () => socket.end(bytes));
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('error', reject);
        socket.on('close', () => {
          const [head = '', body = ''] = Buffer.concat(chunks).toString('utf8').split('\r\n\r\n');
          const [statusLine = '', ...lines] = head.split('\r\n');
          const headers = new Map(
            lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
          );
          resolve({ status: Number(statusLine.split(' ')[1]), headers, body: body ? JSON.parse(body) : undefined });
        });
      });
    const oversized = await raw(`GET /wallet/list?q=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: gateway\r\n\r\n`);
    expect(oversized).toMatchObject({ status: 431, body: { error: { code: 'HEADERS_TOO_LARGE', field: 'headers' } } });
    const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
    expect(garbage).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_REQUEST' } } });
    for (const answer of [oversized, garbage]) {
      expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.headers.get('connection')).toBe('close');
      expect(answer.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-/);
    }
    // Counted apart, as the app never saw them.
    const counted = await gw1.deps.metrics.getSingleMetric('paystream_gateway_unparsed_requests_total')?.get();
    expect(Object.fromEntries((counted?.values ?? []).map((v) => [v.labels.status, v.value]))).toEqual({
      431: 1,
      400: 1,
    });
    // The gateway serves on.
    expect((await api('GET', '/status')).status).toBe(200);
  });

  it('history is newest first with keyset pagination and from/to filters', async () => {
    const { c, cw } = await parties('0');
    for (const amount of ['1', '2', '3', '4', '5'])
      await api('POST', '/wallet/deposit', { token: c, body: { wallet: cw, amount } });
    const seen: string[] = [];
    let path = `/wallet/history/${cw}?limit=2`;
    for (let page = 0; page < 5; page++) {
      const r = await api('GET', path, { token: c });
      seen.push(...r.body.map((h: { amount: string }) => h.amount));
      const next = r.headers.get('x-next-cursor');
      if (!next) break;
      expect(r.headers.get('link')).toContain('rel="next"');
      path = `/wallet/history/${cw}?limit=2&cursor=${next}`;
    }
    expect(seen).toEqual(['5.00', '4.00', '3.00', '2.00', '1.00']);
    const all = (await api('GET', `/wallet/history/${cw}`, { token: c })).body as { date: string }[];
    const from = all[3]!.date;
    const to = all[1]!.date;
    const window = (await api('GET', `/wallet/history/${cw}?from=${from}&to=${to}`, { token: c })).body as {
      amount: string;
    }[];
    expect(window.map((h) => h.amount)).toEqual(
      all.slice(2, 4).map((h) => (h as unknown as { amount: string }).amount),
    );
  });

  it('lists wallets a page at a time in the order they were created, ties broken by token', async () => {
    const { c, cw } = await parties('0');
    const more = [
      (await api('POST', '/wallet/create', { token: c })).body.wallet as string,
      (await api('POST', '/wallet/create', { token: c })).body.wallet as string,
    ];
    const all = (await api('GET', '/wallet/list', { token: c })).body as { wallet: string }[];
    expect(all.map((w) => w.wallet)).toEqual([cw, ...more]);
    // Created in the same microsecond, wallets still come once each, in token order.
    await p.db.pool.query(`update gateway_wallets set created_at = '2026-11-24T10:00:00Z' where wallet_id = any($1)`, [
      more,
    ]);
    const seen: string[] = [];
    let path = '/wallet/list?limit=1';
    for (let page = 0; page < 5; page++) {
      const r = await api('GET', path, { token: c });
      expect(r.status).toBe(200);
      seen.push(...(r.body as { wallet: string }[]).map((w) => w.wallet));
      const next = r.headers.get('x-next-cursor');
      if (!next) break;
      expect(r.headers.get('link')).toBe(`</wallet/list?limit=1&cursor=${next}>; rel="next"`);
      path = `/wallet/list?limit=1&cursor=${next}`;
    }
    expect(seen).toEqual([...[...more].sort(), cw]);
    // A full last page points at an empty one.
    const two = await api('GET', `/wallet/list?limit=2&cursor=${seen[0]!}`, { token: c });
    expect(two.body).toHaveLength(2);
    expect((await api('GET', `/wallet/list?cursor=${two.headers.get('x-next-cursor')!}`, { token: c })).body).toEqual(
      [],
    );
    // Another client's wallet is no cursor of this one's, and the limit is bounded.
    const other = await parties('0');
    for (const bad of [`cursor=${other.cw}`, 'cursor=short', 'limit=0', 'limit=1001', 'limit=1&limit=2'])
      expect((await api('GET', `/wallet/list?${bad}`, { token: c })).body.error).toMatchObject({
        code: 'VALIDATION_FAILED',
        field: bad.split('=')[0],
      });
  });

  it('bulk transfers: all or nothing, duplicate refused, IBAN checked, the key’s organization named, status queryable', async () => {
    const deps = (await p.gateway()).deps;
    const org = await provisionOrganization(
      { directory: deps.directory, ledger: deps.ledger, events: deps.events },
      {
        name: 'ACME Corp',
        iban: 'FR14 2004 1010 0505 0001 3M02 606',
        bic: 'BNPAFRPP',
        currency: 'EUR',
        depositMinor: 7_777_777n,
      },
    );
    await expect(
      provisionOrganization(
        { directory: deps.directory, ledger: deps.ledger, events: deps.events },
        { name: 'ACME again', iban: 'FR1420041010050500013M02606', bic: 'BNPAFRPP', currency: 'EUR', depositMinor: 0n },
      ),
    ).rejects.toMatchObject({ apiCode: 'ORGANIZATION_EXISTS' });
    // An operator's name is held to the API's text rules: one line, not empty; nothing is provisioned otherwise.
    for (const name of ['Two\nLines Ltd', '   ']) {
      await expect(
        provisionOrganization(
          { directory: deps.directory, ledger: deps.ledger, events: deps.events },
          { name, iban: 'DE89370400440532013000', bic: 'COBADEFFXXX', currency: 'EUR', depositMinor: 0n },
        ),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'name' } });
    }
    expect(await deps.directory.organizationIbanTaken('DE89370400440532013000')).toBe(false);
    const body = {
      organization_name: 'ACME Corp',
      organization_iban: 'FR1420041010050500013M02606',
      organization_bic: 'BNPAFRPP',
      credit_transfers: [
        {
          amount: '700',
          counterparty_name: 'Bip Bip',
          counterparty_bic: 'COBADEFFXXX',
          counterparty_iban: 'DE89370400440532013000',
          description: 'Wonderland/4410',
        },
        {
          amount: '50.50',
          counterparty_name: 'Wile E Coyote',
          counterparty_bic: 'DEUTDEFF',
          counterparty_iban: 'GB82WEST12345698765432',
          description: 'Acme/4411',
        },
      ],
    };
    const accepted = await api('POST', '/bulk_transfer', { token: org.apiKey, body });
    expect(accepted).toMatchObject({
      status: 201,
      body: { status: 'ACCEPTED', total_amount: '750.50', credit_transfers: 2 },
    });
    const bulkId = accepted.body.bulk_id as string;
    expect(accepted.headers.get('location')).toBe(`/bulk_transfer/${bulkId}`);
    const duplicate = await api('POST', '/bulk_transfer', { token: org.apiKey, body });
    expect(duplicate).toMatchObject({ status: 409, body: { error: { code: 'DUPLICATE_REQUEST' } } });
    expect(duplicate.body.error.message).toContain(bulkId);
    // The same payments written another way are the same bulk: amounts, IBAN groups, the BIC's form, the order.
    const rewritten = {
      ...body,
      credit_transfers: [
        { ...body.credit_transfers[1]!, amount: 50.5, counterparty_bic: 'deutdeffxxx' },
        { ...body.credit_transfers[0]!, amount: '700.00', counterparty_iban: 'de89 3704 0044 0532 0130 00' },
      ],
    };
    const again = await api('POST', '/bulk_transfer', { token: org.apiKey, body: rewritten });
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'DUPLICATE_REQUEST', field: 'body' } } });
    expect(again.body.error.message).toContain(bulkId);

    const tooBig = {
      ...body,
      credit_transfers: [
        ...body.credit_transfers,
        { ...body.credit_transfers[0], amount: '77000', description: 'too much' },
      ],
    };
    const refused = await api('POST', '/bulk_transfer', { token: org.apiKey, body: tooBig });
    expect(refused).toMatchObject({
      status: 422,
      body: { error: { code: 'INSUFFICIENT_FUNDS', field: 'credit_transfers' } },
    });

    const badIban = structuredClone(body);
    badIban.credit_transfers[1]!.counterparty_iban = 'GB82WEST12345698765433';
    expect((await api('POST', '/bulk_transfer', { token: org.apiKey, body: badIban })).body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      field: 'credit_transfers[1].counterparty_iban',
    });
    const toItself = structuredClone(body);
    toItself.credit_transfers[1]!.counterparty_iban = 'fr14 2004 1010 0505 0001 3m02 606';
    expect((await api('POST', '/bulk_transfer', { token: org.apiKey, body: toItself })).body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      field: 'credit_transfers[1].counterparty_iban',
    });
    // Accepted, this would debit the account and then be refused by the read model (Postgres text holds no NUL).
    const badText = structuredClone(body);
    badText.credit_transfers[0]!.counterparty_name = 'Bip\u0000Bip';
    expect((await api('POST', '/bulk_transfer', { token: org.apiKey, body: badText })).body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      field: 'credit_transfers[0].counterparty_name',
    });
    const badBic = { ...body, organization_bic: 'BNP' };
    expect((await api('POST', '/bulk_transfer', { token: org.apiKey, body: badBic })).body.error.field).toBe(
      'organization_bic',
    );
    // The body must name the key's organization: its IBAN, its BIC and its name.
    for (const [field, value] of [
      ['organization_iban', 'DE89370400440532013000'],
      ['organization_bic', 'COBADEFFXXX'],
      ['organization_name', 'Other Corp'],
      ['organization_name', 'ACME Corp.'],
    ] as const) {
      const other = { ...body, [field]: value };
      expect(await api('POST', '/bulk_transfer', { token: org.apiKey, body: other })).toMatchObject({
        status: 403,
        body: { error: { code: 'FORBIDDEN', field } },
      });
    }
    // Written another way, they are the same: case and spacing of the name, the 11-character form of the BIC.
    const sameOrg = {
      ...body,
      organization_name: '  acme   CORP ',
      organization_bic: 'bnpafrppxxx',
      credit_transfers: [{ ...body.credit_transfers[0]!, amount: '0.50', description: 'same org' }],
    };
    const sameOrgSent = await api('POST', '/bulk_transfer', { token: org.apiKey, body: sameOrg });
    expect(sameOrgSent).toMatchObject({ status: 201, body: { status: 'ACCEPTED', total_amount: '0.50' } });
    // Read right after its 201, a bulk shows with all its credit transfers (not an accepted bulk with none listed).
    expect((await api('GET', `/bulk_transfer/${sameOrgSent.body.bulk_id}`, { token: org.apiKey })).body).toMatchObject({
      status: 'ACCEPTED',
      total_amount: '0.50',
      credit_transfers: 1,
      items: [{ item_id: '1', amount: '0.50', description: 'same org', status: 'REQUESTED' }],
    });
    // A read model behind (its rows taken away here) is waited for up to the reply timeout (1.5 s on this gateway);
    // then the bulk is answered without a list rather than with a list that misses transfers.
    const api3 = client(
      (await p.gateway({ PAYSTREAM_REPLY_TIMEOUT_MS: '1500', PAYSTREAM_RATE_LIMIT_PER_SECOND: '5000' })).url,
    );
    const sameOrgId = sameOrgSent.body.bulk_id as string;
    await p.db.pool.query('delete from bulk_transfer_items where bulk_id = $1', [sameOrgId]);
    // (Processed just now, as far as the read model says: the gateway above may have taken a while to start.)
    await p.db.pool.query('update bulk_transfers set processed_at = now() where bulk_id = $1', [sameOrgId]);
    const started = Date.now();
    const behind = (await api3('GET', `/bulk_transfer/${sameOrgId}`, { token: org.apiKey })).body;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
    expect(behind).toMatchObject({ status: 'ACCEPTED', total_amount: '0.50', credit_transfers: 1 });
    expect(behind).not.toHaveProperty('items');
    // Transfers missing from a bulk processed longer ago than that (one dead-lettered by the sink, say) are not on
    // their way: the read answers at once, without waiting on every read.
    await p.db.pool.query("update bulk_transfers set processed_at = now() - interval '10 seconds' where bulk_id = $1", [
      sameOrgId,
    ]);
    const oldStarted = Date.now();
    const old = (await api3('GET', `/bulk_transfer/${sameOrgId}`, { token: org.apiKey })).body;
    expect(Date.now() - oldStarted).toBeLessThan(1_000);
    expect(old).toMatchObject({ status: 'ACCEPTED', total_amount: '0.50', credit_transfers: 1 });
    expect(old).not.toHaveProperty('items');
    // Without even the bulk's row, the gateway's own record of its answer tells the same.
    await p.db.pool.query('delete from bulk_transfers where bulk_id = $1', [sameOrgId]);
    const unseen = (await api3('GET', `/bulk_transfer/${sameOrgId}`, { token: org.apiKey })).body;
    expect(unseen).toEqual({
      bulk_id: sameOrgId,
      status: 'ACCEPTED',
      rejection_code: null,
      total_amount: '0.50',
      currency: 'EUR',
      credit_transfers: 1,
    });

    const status = (await api('GET', `/bulk_transfer/${bulkId}`, { token: org.apiKey })).body;
    expect(status).toMatchObject({ bulk_id: bulkId, status: 'ACCEPTED', total_amount: '750.50', credit_transfers: 2 });
    expect(
      status.items.map((i: { amount: string; counterparty_iban: string }) => [i.amount, i.counterparty_iban]),
    ).toEqual([
      ['700.00', 'DE89370400440532013000'],
      ['50.50', 'GB82WEST12345698765432'],
    ]);
    // All or nothing: only the accepted bulk left the account.
    const balance = await eventually(async () => {
      const r = (
        await p.db.pool.query<{ b: string; v: string }>(
          'select balance_minor::text as b, version::text as v from balances where account_id = $1',
          [org.accountId],
        )
      ).rows[0];
      return r?.v === '4' ? r.b : undefined;
    });
    expect(balance).toBe(String(7_777_777 - 75_050 - 50));
    expect((await api('GET', `/bulk_transfer/${bulkId}`, { token: (await parties('0')).m })).status).toBe(403);
  });

  it('sends a bulk the ledger refused again once the account covers it; after that it is a duplicate', async () => {
    const org = await organization({
      name: 'Refused Once SA',
      iban: 'DE75512108001245126199',
      bic: 'SOGEDEFF',
      depositMinor: 1_000n,
    });
    const transfer = {
      amount: '20',
      counterparty_name: 'Bip Bip',
      counterparty_bic: 'COBADEFFXXX',
      counterparty_iban: 'DE89370400440532013000',
      description: 'refused first',
    };
    const bulk = (amount: string) => ({
      organization_name: 'Refused Once SA',
      organization_iban: 'DE75512108001245126199',
      organization_bic: 'SOGEDEFF',
      credit_transfers: [{ ...transfer, amount }],
    });
    const send = (amount: string) => api('POST', '/bulk_transfer', { token: org.apiKey, body: bulk(amount) });
    for (const amount of ['20', '20.00'])
      expect(await send(amount)).toMatchObject({ status: 422, body: { error: { code: 'INSUFFICIENT_FUNDS' } } });
    await depositThroughLedger(org.accountId, `dep:${org.accountId}:top-up`, 1_500n);
    // The ledger remembers the refused command; the bulk goes under a new id, and is accepted.
    const accepted = await send('20');
    expect(accepted).toMatchObject({ status: 201, body: { status: 'ACCEPTED', total_amount: '20.00' } });
    const bulkId = accepted.body.bulk_id as string;
    expect(accepted.headers.get('location')).toBe(`/bulk_transfer/${bulkId}`);
    const duplicate = await send('20.0');
    expect(duplicate).toMatchObject({ status: 409, body: { error: { code: 'DUPLICATE_REQUEST' } } });
    expect(duplicate.body.error.message).toContain(bulkId);
    // A send whose record the gateway lost (a crash, or the record expired after a day) goes the same way through the
    // same ids: still a duplicate of the accepted bulk, named with its time, and nothing more is debited. (It was
    // answered 201 with the accepted bulk: next month's identical payroll, told as sent, moving nothing.)
    await forgetKey(`${org.organizationId}:*`);
    // First with the read model behind (the bulk's row not there yet): the ledger's answer tells.
    const lost = await readModelBehind('bulk_transfers', bulkId, () => send('20'));
    expect(lost).toMatchObject({ status: 409, body: { error: { code: 'DUPLICATE_REQUEST', field: 'body' } } });
    expect(lost.body.error.message).toContain(`accepted already as ${bulkId} (20`);
    // A refused bulk keeps no record.
    expect(await p.redis.keys(`${p.redisPrefix}idem:${org.organizationId}:*`)).toEqual([]);
    // Then from the read model, before the ledger is asked: so also once the ledger has forgotten the ids (past its
    // dedup window), when sending them again would collide with the accepted bulk's rows and events.
    await p.stopLedger();
    try {
      expect(await send('20')).toMatchObject({ status: 409, body: { error: { code: 'DUPLICATE_REQUEST' } } });
    } finally {
      await p.startLedger();
    }
    expect(await p.settledBalance(org.accountId, '500')).toBe('500');
    // Settled, the balance stays there: the last send debited nothing.
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await api('GET', `/bulk_transfer/${bulkId}`, { token: org.apiKey })).body).toMatchObject({
      status: 'ACCEPTED',
      total_amount: '20.00',
    });
    const after = await p.db.pool.query<{ b: string; n: string }>(
      'select balance_minor::text as b, (select count(*) from ledger_entries where account_id = $1 and amount_minor < 0)::text as n from balances where account_id = $1',
      [org.accountId],
    );
    expect(after.rows[0]).toEqual({ b: '500', n: '1' });
  });

  it('takes a bulk of as many credit transfers as it documents, every text at its longest and written as \\u escapes', async () => {
    const org = await organization({
      name: 'Payroll SA',
      iban: 'BE68539007547034',
      bic: 'GEBABEBB',
      depositMinor: 100_000n,
    });
    const longest = '€'.repeat(140);
    const body = {
      organization_name: 'Payroll SA',
      organization_iban: 'BE68539007547034',
      organization_bic: 'GEBABEBB',
      credit_transfers: Array.from({ length: MAX_BULK_ITEMS }, () => ({
        amount: '0.01',
        counterparty_name: longest,
        counterparty_bic: 'COBADEFFXXX',
        counterparty_iban: 'DE89 3704 0044 0532 0130 00',
        description: longest,
      })),
    };
    const raw = JSON.stringify(body).replaceAll('€', '\\u20ac');
    // Far above the other routes' limit (64 KiB by default), within the bulk's own (2 MiB).
    expect(raw.length).toBeGreaterThan(1_800_000);
    expect(raw.length).toBeLessThan(2_097_152);
    const accepted = await api('POST', '/bulk_transfer', { token: org.apiKey, raw });
    expect(accepted).toMatchObject({
      status: 201,
      body: { status: 'ACCEPTED', total_amount: '10.00', credit_transfers: MAX_BULK_ITEMS },
    });
    const status = (await api('GET', `/bulk_transfer/${accepted.body.bulk_id as string}`, { token: org.apiKey })).body;
    expect(status.items).toHaveLength(MAX_BULK_ITEMS);
    expect(status.items[0]).toMatchObject({ amount: '0.01', counterparty_name: longest, description: longest });
    // One more transfer is refused by name; a body past the bulk's limit is refused before it is read.
    const oneMore = { ...body, credit_transfers: [...body.credit_transfers, body.credit_transfers[0]] };
    expect(await api('POST', '/bulk_transfer', { token: org.apiKey, body: oneMore })).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED', field: 'credit_transfers' } },
    });
    expect(
      await api('POST', '/bulk_transfer', { token: org.apiKey, raw: raw.replace('{', `{${' '.repeat(300_000)}`) }),
    ).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE', field: 'body' } } });
    expect(await p.settledBalance(org.accountId, '99000')).toBe('99000');
  });

  it('a bulk whose Idempotency-Key the gateway forgot: other transfers under it → 422, the first bulk stays as it was', async () => {
    const org = await organization({
      name: 'Reused Key SpA',
      iban: 'IT60X0542811101000000123456',
      bic: 'BCITITMM',
      depositMinor: 10_000n,
    });
    const key = `bulk-forgotten-${Date.now()}`;
    const send = (amount: string, iban = 'DE89370400440532013000') =>
      api('POST', '/bulk_transfer', {
        token: org.apiKey,
        headers: { 'idempotency-key': key },
        body: {
          organization_name: 'Reused Key SpA',
          organization_iban: 'IT60X0542811101000000123456',
          organization_bic: 'BCITITMM',
          credit_transfers: [
            {
              amount,
              counterparty_name: 'Bip Bip',
              counterparty_bic: 'COBADEFFXXX',
              counterparty_iban: iban,
              description: 'once',
            },
          ],
        },
      });
    const forget = () => forgetKey(`${org.organizationId}:/bulk_transfer:${key}`);
    const reused = { status: 422, body: { error: { code: 'IDEMPOTENCY_KEY_REUSED', field: 'Idempotency-Key' } } };
    const first = await send('20');
    expect(first).toMatchObject({ status: 201, body: { status: 'ACCEPTED', total_amount: '20.00' } });
    const bulkId = first.body.bulk_id as string;
    await forget();
    expect(await send('30')).toMatchObject(reused);
    // The same total and count paying someone else is another bulk too: refused by the read model's first result,
    // and by the ledger when the read model is behind (before, the ledger answered it with the first bulk's 201).
    await forget();
    expect(await send('20', 'GB82WEST12345698765432')).toMatchObject(reused);
    await forget();
    expect(
      await readModelBehind('ledger_results', `bulk:${bulkId}`, () => send('20', 'GB82WEST12345698765432')),
    ).toMatchObject(reused);
    expect((await api('GET', `/bulk_transfer/${bulkId}`, { token: org.apiKey })).body).toMatchObject({
      bulk_id: bulkId,
      status: 'ACCEPTED',
      rejection_code: null,
      total_amount: '20.00',
      items: [{ item_id: '1', amount: '20.00' }],
    });
    await forget();
    expect(await send('20')).toMatchObject({ status: 201, body: first.body });
    expect(await p.settledBalance(org.accountId, '8000')).toBe('8000');
  });

  it('a bulk answered 202 and refused by the ledger later may be sent again; one still pending is a duplicate', async () => {
    const org = await organization({
      name: 'Slow Ledger BV',
      iban: 'NL91ABNA0417164300',
      bic: 'ABNANL2A',
      depositMinor: 1_000n,
    });
    const body = {
      organization_name: 'Slow Ledger BV',
      organization_iban: 'NL91ABNA0417164300',
      organization_bic: 'ABNANL2A',
      credit_transfers: [
        {
          amount: '20.00',
          counterparty_name: 'Bip Bip',
          counterparty_bic: 'COBADEFFXXX',
          counterparty_iban: 'DE89370400440532013000',
          description: 'sent while the ledger was down',
        },
      ],
    };
    await p.stopLedger();
    let op: string;
    let firstId: string;
    try {
      const late = await api2('POST', '/bulk_transfer', { token: org.apiKey, body });
      expect(late).toMatchObject({ status: 202, body: { status: 'PENDING' } });
      op = late.body.operation_id as string;
      firstId = late.body.bulk_id as string;
      // Not settled: the same payments again are a duplicate of it.
      const again = await api2('POST', '/bulk_transfer', { token: org.apiKey, body });
      expect(again).toMatchObject({ status: 409, body: { error: { code: 'DUPLICATE_REQUEST' } } });
      expect(again.body.error.message).toContain(`sent already as ${firstId}, answered 202`);
    } finally {
      await p.startLedger();
    }
    const failed = await eventually(async () => {
      const r = await api('GET', `/operations/${op}`, { token: org.apiKey });
      return r.body.status === 'PENDING' ? undefined : r.body;
    }, 60_000);
    expect(failed).toMatchObject({ status: 'FAILED', rejection_code: 'INSUFFICIENT_FUNDS' });
    // Refused, it moved nothing: once the account covers it, the same payments go through, under a new bulk id.
    await depositThroughLedger(org.accountId, `dep:${org.accountId}:top-up`, 1_500n);
    const sent = await api('POST', '/bulk_transfer', { token: org.apiKey, body });
    expect(sent).toMatchObject({ status: 201, body: { status: 'ACCEPTED', total_amount: '20.00' } });
    expect(sent.body.bulk_id).not.toBe(firstId);
    expect(await api('POST', '/bulk_transfer', { token: org.apiKey, body })).toMatchObject({ status: 409 });
    expect(await p.settledBalance(org.accountId, '500')).toBe('500');
  });

  it('answers 202 with an operation to poll when the ledger is slow, and the operation completes later', async () => {
    const { c, cw } = await parties('0');
    await p.stopLedger();
    try {
      const r = await api2('POST', '/wallet/deposit', { token: c, body: { wallet: cw, amount: '9.99' } });
      expect(r.status).toBe(202);
      expect(r.body).toMatchObject({ status: 'PENDING', wallet: cw });
      const op = r.body.operation_id as string;
      expect(r.headers.get('location')).toBe(`/operations/${op}`);
      expect((await api2('GET', `/operations/${op}`, { token: c })).body.status).toBe('PENDING');
      await p.startLedger();
      const done = await eventually(async () => {
        const s = await api('GET', `/operations/${op}`, { token: c });
        return s.body.status === 'PENDING' ? undefined : s.body;
      }, 60_000);
      expect(done).toMatchObject({ operation_id: op, status: 'SUCCEEDED' });
      expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body.balance).toBe('9.99');
    } finally {
      await p.startLedger().catch(() => undefined);
    }
  });

  it('a retry with its key of a deposit, a charge and a wallet creation answered 202 gets their outcome once the ledger has given it, applied once', async () => {
    const ledgerBefore = await ledgerCounters();
    const { c, m, cw, mw } = await parties('10.00');
    const key = `late-${Date.now()}`;
    const impatient = client(
      (await p.gateway({ PAYSTREAM_REPLY_TIMEOUT_MS: '1500', PAYSTREAM_RATE_LIMIT_PER_SECOND: '5000' })).url,
    );
    const deposit = () =>
      impatient('POST', '/wallet/deposit', {
        token: c,
        body: { wallet: cw, amount: '9.99' },
        headers: { 'idempotency-key': `${key}-dep` },
      });
    const charge = () =>
      impatient('POST', '/wallet/charge', {
        token: m,
        body: { wallet: cw, amount: '4.00', summary: 'answered late' },
        headers: { 'idempotency-key': `${key}-chg` },
      });
    const create = () =>
      impatient('POST', '/wallet/create', { token: c, body: {}, headers: { 'idempotency-key': `${key}-new` } });
    await p.stopLedger();
    let ops: { op: string; token: string }[];
    let opened: string;
    try {
      const late = [await deposit(), await charge(), await create()];
      for (const r of late) expect(r).toMatchObject({ status: 202, body: { status: 'PENDING' } });
      ops = late.map((r, k) => ({ op: r.body.operation_id as string, token: k === 1 ? m : c }));
      opened = late[2]?.body.wallet as string;
      // No outcome yet: the retry gets the same 202.
      const again = [await deposit(), await charge(), await create()];
      expect(again.map((r) => r.body)).toEqual(late.map((r) => r.body));
      expect(again[0]?.headers.get('idempotent-replayed')).toBe('true');
    } finally {
      await p.startLedger();
    }
    for (const { op, token } of ops)
      await eventually(async () => {
        const s = await api('GET', `/operations/${op}`, { token });
        return s.body.status === 'SUCCEEDED' ? true : undefined;
      }, 60_000);
    // The wallet answered 202 is the one the retry names, open now; no second one was created.
    expect(await create()).toMatchObject({ status: 201, body: { wallet: opened } });
    const listed = (await api('GET', '/wallet/list', { token: c })).body as { wallet: string }[];
    expect(listed.map((w) => w.wallet).sort()).toEqual([cw, opened].sort());
    // Known now: the retry answers the outcome as the first request would have, nothing applied again.
    const deposited = await deposit();
    expect(deposited).toMatchObject({ status: 200, body: { wallet: cw, balance: '19.99' } });
    expect(deposited.headers.get('idempotent-replayed')).toBe('true');
    const charged = await charge();
    expect(charged).toMatchObject({ status: 200, body: { wallet: mw, balance: '4.00' } });
    expect(charged.headers.get('idempotent-replayed')).toBe('true');
    // Stored in the 202's place: further retries replay it.
    expect((await deposit()).body).toEqual(deposited.body);
    expect((await charge()).body).toEqual(charged.body);
    expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body.balance).toBe('15.99');
    expect((await api('GET', `/wallet/info/${mw}`, { token: m })).body.balance).toBe('4.00');
    expect(await p.settledBalance(cw, '1599')).toBe('1599');
    // The volume is a float: once an earlier test's deposit near 2^63 is in it, 10.00 and 9.99 more may not show.
    const depositsBefore = ledgerBefore.volume.get('deposit EUR') ?? 0;
    const depositGain = depositsBefore + 1000 + 999 - depositsBefore;
    const depositVolume = depositGain === 0 ? {} : { 'deposit EUR': depositGain };
    // The ledger was sent the deposit, the charge and the opening twice each (answered 202, then run again by the
    // retry); its counters count each command once: the parties' two openings and deposit, then these.
    expect(await ledgerGains(ledgerBefore)).toEqual({
      commands: {
        'open_account ACCEPTED EUR': 3,
        'deposit ACCEPTED EUR': 2,
        'charge ACCEPTED EUR': 1,
        'credit ACCEPTED EUR': 1,
      },
      volume: { ...depositVolume, 'charge EUR': 400, 'credit EUR': 400 },
    });
  });

  it('a charge answered 202 whose credit cannot land polls as FAILED (CHARGE_REVERSED), as its keyed retry answers', async () => {
    const { c, m, cw, mw } = await parties('10.00');
    // The merchant's balance 5.00 short of the 64-bit limit: a 10.00 credit cannot land there.
    const nearMax = 2n ** 63n - 1n - 500n;
    await depositThroughLedger(mw, `dep:${mw}:near-max-late`, nearMax);
    const impatient = client(
      (await p.gateway({ PAYSTREAM_REPLY_TIMEOUT_MS: '1500', PAYSTREAM_RATE_LIMIT_PER_SECOND: '5000' })).url,
    );
    const key = `reversed-late-${Date.now()}`;
    const charge = () =>
      impatient('POST', '/wallet/charge', {
        token: m,
        body: { wallet: cw, amount: '10.00', summary: 'cannot land, answered late' },
        headers: { 'idempotency-key': key },
      });
    await p.stopLedger();
    let late: Awaited<ReturnType<typeof charge>>;
    try {
      late = await charge();
      expect(late).toMatchObject({ status: 202, body: { status: 'PENDING' } });
    } finally {
      await p.startLedger();
    }
    const op = late.body.operation_id as string;
    const polled = await eventually(async () => {
      const r = await api('GET', `/operations/${op}`, { token: m });
      return r.body.status === 'PENDING' ? undefined : r.body;
    }, 60_000);
    expect(polled).toEqual({ operation_id: op, status: 'FAILED', rejection_code: 'CHARGE_REVERSED', wallet: mw });
    expect(await charge()).toMatchObject({ status: 422, body: { error: { code: 'CHARGE_REVERSED' } } });
    expect(await p.settledBalance(cw, '1000')).toBe('1000');
    expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body.balance).toBe('10.00');
  });

  it('a keyed retry of a charge answered 202 replays the 202 while its credit has no result, and runs once it has', async () => {
    const { c, m, cw, mw } = await parties('10.00');
    const gw = await p.gateway({ PAYSTREAM_REPLY_TIMEOUT_MS: '1500', PAYSTREAM_RATE_LIMIT_PER_SECOND: '5000' });
    const impatient = client(gw.url);
    /** Ledger results this gateway received for the requests it sent. */
    const replies = () => observations(gw, 'paystream_gateway_ledger_reply_seconds');
    const key = `credit-late-${Date.now()}`;
    const charge = () =>
      impatient('POST', '/wallet/charge', {
        token: m,
        body: { wallet: cw, amount: '4.00', summary: 'credited late' },
        headers: { 'idempotency-key': key },
      });
    // The merchant's credit is held: its partition's transactions fail (retryably) until it is let through.
    let holdCredit = true;
    const holding: ProcessorDefinition<LedgerCommand> = {
      ...ledgerProcessor,
      process(state, event, ctx) {
        if (holdCredit && event.value.accountId === mw)
          throw PaystreamError.retryable('KAFKA_UNAVAILABLE', 'the test holds the credit');
        return ledgerProcessor.process(state, event, ctx);
      },
    };
    await p.stopLedger();
    await p.startLedger({ definition: holding, retryBackoff: { initialMs: 50, maxMs: 200 } });
    try {
      const late = await charge();
      expect(late).toMatchObject({ status: 202, body: { status: 'PENDING' } });
      const op = late.body.operation_id as string;
      // The payer's debit is in the read model; the charge's outcome is not known until the credit's result is.
      await eventually(async () =>
        (await p.db.pool.query('select 1 from ledger_results where command_id = $1', [op])).rowCount === 1
          ? true
          : undefined,
      );
      expect((await api('GET', `/operations/${op}`, { token: m })).body.status).toBe('PENDING');
      const sent = await replies();
      const again = await charge();
      expect(again).toMatchObject({ status: 202, body: late.body });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      // Replayed, not run again: no charge was sent, so no result came back for one.
      expect(await replies()).toBe(sent);
    } finally {
      holdCredit = false;
      await p.stopLedger();
      await p.startLedger();
    }
    const settledCharge = await eventually(async () => {
      const r = await charge();
      return r.status === 200 ? r : undefined;
    }, 30_000);
    expect(settledCharge.body).toMatchObject({ wallet: mw, balance: '4.00' });
    expect(settledCharge.headers.get('idempotent-replayed')).toBe('true');
    expect((await api('GET', `/wallet/info/${cw}`, { token: c })).body.balance).toBe('6.00');
    expect(await p.settledBalance(mw, '400')).toBe('400');
  });

  it('serves an OpenAPI 3.1 document describing exactly the routes the app serves', async () => {
    const gw = await p.gateway();
    const doc = (await client(gw.url)('GET', '/openapi.json')).body as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const served = gw.routes.map((r) => `${r.method} ${r.path.replace(/:([a-z]+)/g, '{$1}')}`).sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(served);
    for (const ops of Object.values(doc.paths))
      for (const op of Object.values(ops)) expect(Object.keys(op.responses).some((s) => s.startsWith('2'))).toBe(true);
    // And it is an OpenAPI 3.1 document by the specification's own JSON schema.
    expect(await validateOpenApi(doc)).toEqual({ code: 0, stdout: 'valid\n' });
    const broken = structuredClone(doc) as unknown as { paths: Record<string, Record<string, unknown>> };
    broken.paths['/wallet/list']!.get = { parameters: [{ name: 'limit', in: 'body' }], responses: {} };
    expect((await validateOpenApi(broken)).code).toBe(1);
  });

  it('counts anonymous requests per client address: the peer, or behind trusted proxies the address they forwarded', async () => {
    const proxied = (await p.gateway({ PAYSTREAM_TRUSTED_PROXY_HOPS: '1', PAYSTREAM_RATE_LIMIT_PER_SECOND: '3' })).url;
    // Ten at once from one address, three allowed per second (six if they straddle two): the rest are refused…
    expect(await refusedOfTen(proxied, () => '198.51.100.1, 203.0.113.7')).toBeGreaterThanOrEqual(4);
    // …while another address behind the same proxy is served: the entry the proxy wrote counts, not the client's.
    expect(await statusFrom(proxied, '203.0.113.7, 203.0.113.8')).toBe(200);
    const counted = await rateLimitedAddresses();
    expect(counted).toEqual(expect.arrayContaining(['203.0.113.7', '203.0.113.8']));
    expect(counted).not.toContain('198.51.100.1');
    // Without trusted proxies the header counts for nothing: ten requests naming ten addresses are one peer's.
    const direct = (await p.gateway({ PAYSTREAM_RATE_LIMIT_PER_SECOND: '3' })).url;
    expect(await refusedOfTen(direct, (i) => `192.0.2.${i + 1}`)).toBeGreaterThanOrEqual(4);
    expect((await p.redis.keys(`${p.redisPrefix}rate:ip:192.0.2.*`)).length).toBe(0);
  });

  it('reads X-Forwarded-For only from proxies trusted by address, and counts the last address that is not one', async () => {
    // The test's requests come from 127.0.0.1: trusted by the first gateway, not by the second.
    const proxied = (
      await p.gateway({ PAYSTREAM_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8', PAYSTREAM_RATE_LIMIT_PER_SECOND: '3' })
    ).url;
    // Through two proxies (10.1.2.3, then the peer): the client is 203.0.113.17, whatever it wrote before.
    expect(await refusedOfTen(proxied, () => '198.51.100.1, 203.0.113.17, 10.1.2.3')).toBeGreaterThanOrEqual(4);
    expect(await statusFrom(proxied, '203.0.113.17, 203.0.113.18, 10.1.2.3')).toBe(200);
    const counted = await rateLimitedAddresses();
    expect(counted).toEqual(expect.arrayContaining(['203.0.113.17', '203.0.113.18']));
    expect(counted).not.toContain('198.51.100.1');
    expect(counted).not.toContain('10.1.2.3');
    // A peer outside the list writes what it likes and is counted as itself.
    const direct = (await p.gateway({ PAYSTREAM_TRUSTED_PROXIES: '10.0.0.0/8', PAYSTREAM_RATE_LIMIT_PER_SECOND: '3' }))
      .url;
    expect(await refusedOfTen(direct, (i) => `192.0.2.${i + 101}`)).toBeGreaterThanOrEqual(4);
    expect((await p.redis.keys(`${p.redisPrefix}rate:ip:192.0.2.1[0-9][0-9]:*`)).length).toBe(0);
  });

  it('rate-limits per token (429)', async () => {
    const { c } = await parties('0');
    const replies = await Promise.all(Array.from({ length: 15 }, () => api2('GET', '/wallet/list', { token: c })));
    const limited = replies.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.body.error.code).toBe('RATE_LIMITED');
    expect(limited[0]!.headers.get('retry-after')).toBe('1');
  });

  // Last, so that it sees the answers of every test before it.
  it('answers only as its OpenAPI document says: every route, status and JSON body this suite received', async () => {
    const doc = (await client((await p.gateway()).url)('GET', '/openapi.json')).body;
    const check = openApiContract(doc);
    // Every documented route was exercised, with a 2xx among its answers (run alone, this test has nothing to check).
    const answered = new Set(
      contract.answers
        .filter((a) => a.status < 300)
        .map(
          (a) =>
            `${a.method} ${(a.path.split('?')[0] ?? '').replace(/^\/(wallet\/(info|history)|bulk_transfer|operations)\/.+$/, '/$1/{}')}`,
        ),
    );
    const documented = Object.entries((doc as { paths: Record<string, object> }).paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{[a-z]+\}/, '{}')}`),
    );
    expect(documented.filter((r) => !answered.has(r))).toEqual([]);
    expect(contract.violations(doc)).toEqual([]);
    // The check itself refuses what the document does not say.
    expect(check('GET', '/wallet/list', 200, [{ wallet: 1 }])).toContain('must be string');
    expect(check('GET', '/wallet/list', 418, undefined)).toContain('status 418 not documented');
    expect(check('DELETE', '/wallet/list', 200, undefined)).toContain('not documented');
  });
});
