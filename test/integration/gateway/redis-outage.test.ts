import { setTimeout as sleep } from 'node:timers/promises';

import { provisionOrganization } from '../../../services/gateway/src/app/gateway';
import { eventually } from '../../support/integration-env';
import { companySignUp, gatewayBehindProxy, signUpClient, walletPlatform } from '../../support/gateway-env';
import { httpClient } from '../../support/gateway-env';
import type { WalletPlatform } from '../../support/gateway-env';
import { answerRecorder } from '../../support/openapi-contract';
import type { TcpProxy } from '../../support/tcp-proxy';

/**
 * Redis is a dependency of every authenticated request (session, rate limit). When it does not answer, or is gone, the
 * gateway answers 503 SERVICE_UNAVAILABLE (retryable) within its command timeout — never a 500, never a request
 * left waiting — and serves again as soon as Redis answers. The gateway reaches the real Redis through a TCP proxy that
 * can hold every byte (an answer that is late, not lost) or go away.
 */
describe('gateway: Redis not answering, or gone', () => {
  let p: WalletPlatform;
  let proxy: TcpProxy;
  let api: ReturnType<typeof httpClient>;
  const contract = answerRecorder();

  beforeAll(async () => {
    p = await walletPlatform('gw-redis');
    ({ proxy, api } = await gatewayBehindProxy(
      p,
      'REDIS_URL',
      { PAYSTREAM_REDIS_COMMAND_TIMEOUT_MS: '300' },
      undefined,
      contract.record,
    ));
  });
  afterAll(async () => {
    await p.cleanup();
    await proxy.close();
  });

  const signUp = (name: string) => signUpClient(api, `${name}-${p.env.prefix.slice(2, 14)}@example.com`);

  /** A client with a wallet holding 20.00 and a company with its wallet, signed up through `via`. */
  async function clientAndShop(via: ReturnType<typeof httpClient>, client: string, shop: string) {
    const token = await signUp(client);
    const merchant = (
      await via<{ token: string }>('POST', '/company/signup', {
        body: companySignUp(`${shop}-${p.env.prefix.slice(2, 14)}@example.com`),
      })
    ).body.token;
    const [created, shopWallet] = await Promise.all(
      [token, merchant].map((t) => via<{ wallet: string }>('POST', '/wallet/create', { token: t, body: {} })),
    );
    expect([created?.status, shopWallet?.status]).toEqual([201, 201]);
    const wallet = created!.body.wallet;
    expect((await via('POST', '/wallet/deposit', { token, body: { wallet, amount: '20.00' } })).body).toMatchObject({
      balance: '20.00',
    });
    return { token, merchant, wallet, merchantWallet: shopWallet!.body.wallet };
  }

  it('answers 503 within the command timeout while Redis does not answer, and serves again once it does', async () => {
    const token = await signUp('stalled');
    expect((await api('GET', '/wallet/list', { token })).status).toBe(200);

    proxy.stall();
    const started = Date.now();
    const stalled = await api('GET', '/wallet/list', { token });
    const took = Date.now() - started;
    expect(stalled.status).toBe(503);
    expect(stalled.body).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    expect(stalled.headers.get('retry-after')).toBe('1');
    expect(took).toBeLessThan(3_000);

    proxy.resume();
    await eventually(
      async () => ((await api('GET', '/wallet/list', { token })).status === 200 ? true : undefined),
      10_000,
    );
  });

  it('answers what the ledger did when Redis stops answering after it: 200, not a 503 inviting a second payment', async () => {
    const slow = await gatewayBehindProxy(
      p,
      'REDIS_URL',
      {
        PAYSTREAM_REDIS_COMMAND_TIMEOUT_MS: '300',
        PAYSTREAM_REPLY_TIMEOUT_MS: '30000',
      },
      undefined,
      contract.record,
    );
    try {
      const { token, merchant, wallet, merchantWallet } = await clientAndShop(slow.api, 'applied', 'shop');
      const inReadModel = async (account: string) =>
        (
          await p.db.pool.query<{ b: string }>('select balance_minor::text as b from balances where account_id = $1', [
            account,
          ])
        ).rows[0]?.b;
      // Two deposits and a charge pass Redis (session, rate limit, the key's claim) and wait for a ledger that is
      // stopped, with the read model stopped too. Redis then stops answering, and the ledger applies them: the gateway
      // cannot write its read-your-writes records, nor the key's response.
      await p.stopLedger();
      await p.stopSink();
      const answeredAt: number[] = [];
      const send = (path: string, t: string, body: object, headers: Record<string, string> = {}) =>
        slow.api<{ wallet: string; balance: string }>('POST', path, { token: t, body, headers }).then((reply) => {
          answeredAt.push(Date.now());
          return reply;
        });
      const keyless = send('/wallet/deposit', token, { wallet, amount: '12.00' });
      const keyed = send(
        '/wallet/deposit',
        token,
        { wallet, amount: '3.00' },
        { 'idempotency-key': `k-${p.env.prefix}` },
      );
      const charged = send('/wallet/charge', merchant, { wallet, amount: '2.00', summary: 'during the outage' });
      // Time for all three to pass Redis and reach the ledger's wait (milliseconds when the machine is not loaded).
      await sleep(2_000);
      slow.proxy.stall();
      await p.startLedger();
      // The answers wait for the read model (the freshness those records would have given) rather than fail…
      await sleep(1_500);
      const sinkStartedAt = Date.now();
      await p.startSink();
      const [a, b, c] = await Promise.all([keyless, keyed, charged]);
      const atAnswer = await Promise.all([inReadModel(wallet), inReadModel(merchantWallet)]);
      slow.proxy.resume();
      expect(answeredAt).toHaveLength(3);
      expect(Math.min(...answeredAt)).toBeGreaterThanOrEqual(sinkStartedAt);
      // …and answer what the ledger did.
      expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
      expect(c.body).toMatchObject({ wallet: merchantWallet, balance: '2.00' });
      // Each deposit answers the balance after it, in whichever order the ledger applied the three.
      const orders = [
        [12, 3, -2],
        [12, -2, 3],
        [3, 12, -2],
        [3, -2, 12],
        [-2, 12, 3],
        [-2, 3, 12],
      ].map((order) => {
        let balance = 20;
        const after = new Map(order.map((amount) => [amount, (balance += amount)]));
        return [`${after.get(12)}.00`, `${after.get(3)}.00`];
      });
      expect(orders).toContainEqual([a.body.balance, b.body.balance]);
      expect(atAnswer).toEqual(['3300', '200']);
      // The key's response was stored late (the proxy delivered the write held while stalled) or not at all: a retry
      // gets it back, or is in progress until the key's claim lapses — or, if the gateway's alive mark lapsed during
      // the stall too, takes the claim over and is answered by the ledger's first result. Either way it applies
      // nothing, and answers as the first did.
      const retry = await slow.api('POST', '/wallet/deposit', {
        token,
        body: { wallet, amount: '3.00' },
        headers: { 'idempotency-key': `k-${p.env.prefix}` },
      });
      if (retry.status === 200) {
        expect(retry.body).toEqual(b.body);
      } else expect(retry).toMatchObject({ status: 409, body: { error: { code: 'REQUEST_IN_PROGRESS' } } });
      expect((await slow.api<{ balance: string }>('GET', `/wallet/info/${wallet}`, { token })).body.balance).toBe(
        '33.00',
      );
    } finally {
      slow.proxy.resume();
      await slow.proxy.close();
    }
  });

  it('answers 202 with an operation to poll when Redis does not take its record: not a 503 for a command that may land', async () => {
    const late = await gatewayBehindProxy(
      p,
      'REDIS_URL',
      {
        PAYSTREAM_REDIS_COMMAND_TIMEOUT_MS: '300',
        PAYSTREAM_REPLY_TIMEOUT_MS: '4000',
      },
      undefined,
      contract.record,
    );
    try {
      const { token, merchant, wallet, merchantWallet } = await clientAndShop(late.api, 'pending', 'late');
      // A deposit and a charge pass Redis and wait for a ledger that is stopped. Redis stops answering before their
      // reply timeout: their operation records cannot be written there.
      await p.stopLedger();
      const pending = (path: string, t: string, body: object) =>
        late.api<{ operation_id: string; status: string }>('POST', path, { token: t, body });
      const deposited = pending('/wallet/deposit', token, { wallet, amount: '5.00' });
      const charged = pending('/wallet/charge', merchant, { wallet, amount: '7.00', summary: 'pending' });
      await sleep(2_000);
      late.proxy.stall();
      const [d, c] = await Promise.all([deposited, charged]);
      late.proxy.resume();
      expect([d.status, c.status]).toEqual([202, 202]);
      expect([d.body.status, c.body.status]).toEqual(['PENDING', 'PENDING']);
      // Kept in Postgres instead, for the one who sent them.
      const kept = await p.db.pool.query<{ operation_id: string }>(
        'select operation_id from gateway_operations where operation_id = any($1) order by operation_id',
        [[d.body.operation_id, c.body.operation_id]],
      );
      expect(kept.rows.map((r) => r.operation_id)).toEqual([c.body.operation_id, d.body.operation_id].sort());
      expect((await late.api('GET', `/operations/${d.body.operation_id}`, { token: merchant })).status).toBe(404);
      expect((await late.api('GET', `/operations/${c.body.operation_id}`, { token })).status).toBe(404);
      expect((await late.api('GET', `/operations/${d.body.operation_id}`, { token })).body).toMatchObject({
        status: 'PENDING',
      });
      // The ledger applies both, once; polling tells.
      await p.startLedger();
      const settled = async (id: string, t: string) =>
        eventually(async () => {
          const r = await late.api<{ status: string; wallet?: string }>('GET', `/operations/${id}`, { token: t });
          return r.status === 200 && r.body.status !== 'PENDING' ? r.body : undefined;
        }, 30_000);
      expect(await settled(d.body.operation_id, token)).toMatchObject({ status: 'SUCCEEDED', wallet });
      expect(await settled(c.body.operation_id, merchant)).toMatchObject({
        status: 'SUCCEEDED',
        wallet: merchantWallet,
      });
      expect((await late.api<{ balance: string }>('GET', `/wallet/info/${wallet}`, { token })).body.balance).toBe(
        '18.00',
      );
    } finally {
      late.proxy.resume();
      await late.proxy.close();
    }
  });

  it('answers a bulk 202 when Redis does not take its record, and shows it PENDING, then ACCEPTED, from Postgres', async () => {
    const late = await gatewayBehindProxy(
      p,
      'REDIS_URL',
      { PAYSTREAM_REDIS_COMMAND_TIMEOUT_MS: '300', PAYSTREAM_REPLY_TIMEOUT_MS: '4000' },
      undefined,
      contract.record,
    );
    try {
      const { directory, ledger, events } = (await p.gateway()).deps;
      const org = await provisionOrganization(
        { directory, ledger, events },
        {
          name: 'Stalled Redis BV',
          iban: 'NL02ABNA0123456789',
          bic: 'ABNANL2A',
          depositMinor: 5_000n,
          currency: 'EUR',
        },
      );
      await p.stopLedger();
      const sent = late.api<{ bulk_id: string; operation_id: string; status: string }>('POST', '/bulk_transfer', {
        token: org.apiKey,
        body: {
          organization_name: 'Stalled Redis BV',
          organization_iban: 'NL02ABNA0123456789',
          organization_bic: 'ABNANL2A',
          credit_transfers: [
            {
              amount: '12.34',
              counterparty_name: 'Bip Bip',
              counterparty_bic: 'COBADEFFXXX',
              counterparty_iban: 'DE89370400440532013000',
              description: 'sent while Redis stalled',
            },
          ],
        },
      });
      await sleep(2_000);
      late.proxy.stall();
      const answered = await sent;
      late.proxy.resume();
      expect(answered).toMatchObject({ status: 202, body: { status: 'PENDING' } });
      const { bulk_id: bulkId, operation_id: op } = answered.body;
      const kept = await p.db.pool.query('select 1 from gateway_operations where operation_id = $1', [op]);
      expect(kept.rowCount).toBe(1);
      const status = () =>
        late.api<{ status: string; total_amount?: string }>('GET', `/bulk_transfer/${bulkId}`, { token: org.apiKey });
      expect(await status()).toMatchObject({ status: 200, body: { status: 'PENDING', total_amount: '12.34' } });
      await p.startLedger();
      expect(
        await eventually(async () => {
          const r = await status();
          return r.body.status === 'PENDING' ? undefined : r.body;
        }, 30_000),
      ).toMatchObject({ status: 'ACCEPTED', total_amount: '12.34' });
      expect((await late.api('GET', `/operations/${op}`, { token: org.apiKey })).body).toMatchObject({
        status: 'SUCCEEDED',
        bulk_id: bulkId,
      });
      expect(await p.settledBalance(org.accountId, '3766')).toBe('3766');
    } finally {
      late.proxy.resume();
      await late.proxy.close();
    }
  });

  it('answers 503, not 500, when Redis is gone', async () => {
    const token = await signUp('gone');
    await proxy.close();
    const started = Date.now();
    const gone = await api('GET', '/wallet/list', { token });
    expect(gone.status).toBe(503);
    expect(gone.body).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  // Last, so that it sees every answer before it, the refusals of the outage included.
  it('answered only as its OpenAPI document says, the outage included', async () => {
    expect(contract.answers.filter((a) => a.status === 503).length).toBeGreaterThan(0);
    // (From a gateway that reaches Redis: this suite's has lost it for good.)
    const doc = (await httpClient((await p.gateway()).url)<unknown>('GET', '/openapi.json')).body;
    expect(contract.violations(doc)).toEqual([]);
  });
});
