import net from 'node:net';

import { openLeftWallets } from '../../../services/gateway/src/app/wallet-openings';
import { createKafka } from '../../../services/platform/src/events/kafka-client';
import { silentLogger } from '../../../services/platform/src/logger';
import { companySignUp, httpClient, signUpClient, walletPlatform } from '../../support/gateway-env';
import type { WalletPlatform } from '../../support/gateway-env';
import { eventually } from '../../support/integration-env';
import { answerRecorder } from '../../support/openapi-contract';
import { tcpProxy } from '../../support/tcp-proxy';
import type { TcpProxy } from '../../support/tcp-proxy';

const REPLY_TIMEOUT_MS = 1_500;

/**
 * Money requests go through Kafka. When the broker does not acknowledge a command, the request is answered 503
 * (retry with the same Idempotency-Key) within the reply timeout, instead of waiting out the client's retries, and a
 * retry with the same key once the broker answers again moves the money exactly once, even though the first command
 * reached the broker late. A command that never left the gateway's queue is withdrawn and never moves money. Every connection of the gateway's Kafka client goes through a TCP proxy that can hold every
 * byte either way (an answer that is late, not lost).
 */
describe('gateway: Kafka not acknowledging', () => {
  let p: WalletPlatform;
  let proxy: TcpProxy;
  let gw: Awaited<ReturnType<WalletPlatform['gateway']>>;
  const contract = answerRecorder();
  let api: ReturnType<typeof httpClient>;

  beforeAll(async () => {
    p = await walletPlatform('gw-kafka');
    const [host, port] = (p.env.config.kafka.brokers[0] ?? '').split(':');
    proxy = await tcpProxy({ host: host ?? 'localhost', port: Number(port) });
    // One broker: every connection the client opens, whatever broker address it was given, goes through the proxy.
    const kafka = createKafka({
      brokers: p.env.config.kafka.brokers,
      clientId: 'test-gw-kafka',
      logger: silentLogger,
      socketFactory: ({ onConnect }) => net.connect({ host: '127.0.0.1', port: proxy.port }, onConnect),
    });
    gw = await p.gateway({ PAYSTREAM_REPLY_TIMEOUT_MS: String(REPLY_TIMEOUT_MS) }, kafka);
    api = httpClient(gw.url, contract.record);
  });
  afterAll(async () => {
    proxy.resume();
    await p.cleanup();
    await proxy.close();
  });

  it('answers 503 within the reply timeout while the broker does not answer; the retry with the key applies once', async () => {
    const token = await signUpClient(api, `stalled-${p.env.prefix.slice(2, 14)}@example.com`);
    const wallet = (await api<{ wallet: string }>('POST', '/wallet/create', { token })).body.wallet;
    const deposit = (amount: string, key: string) =>
      api('POST', '/wallet/deposit', { token, body: { wallet, amount }, headers: { 'idempotency-key': key } });
    expect(await deposit('10.00', 'first')).toMatchObject({ status: 200, body: { balance: '10.00' } });

    proxy.stall();
    const started = Date.now();
    const inFlight = deposit('5.00', 'second');
    // A command sent while the first one's produce request is out waits in the gateway's queue; when its request
    // gives up it is withdrawn, so it is never published, even once the broker answers again.
    // The first request has claimed its key (in Redis) before it reaches the ledger client; a moment later its command
    // has left in a produce request, which the proxy now holds.
    await eventually(async () => ((await p.redis.keys(`${p.redisPrefix}idem:*:second`)).length > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 200));
    const queued = deposit('7.00', 'queued');
    const stalled = await inFlight;
    const took = Date.now() - started;
    expect(stalled).toMatchObject({ status: 503, body: { error: { code: 'SERVICE_UNAVAILABLE' } } });
    expect(took).toBeGreaterThanOrEqual(REPLY_TIMEOUT_MS - 100);
    expect(took).toBeLessThan(REPLY_TIMEOUT_MS + 2_000);
    expect(await queued).toMatchObject({ status: 503, body: { error: { code: 'SERVICE_UNAVAILABLE' } } });

    // The held command reaches the broker now, late; the retry sends the same command id, which the ledger applies once.
    proxy.resume();
    const retried = await eventually(async () => {
      const r = await deposit('5.00', 'second');
      return r.status === 200 ? r : undefined;
    }, 30_000);
    expect(retried.body).toMatchObject({ wallet, balance: '15.00' });
    // Had the late command and the retry both moved money, the retry would have answered 20.00. Commands for one
    // wallet are applied in the order this gateway sent them, so had the withdrawn one been published, the next
    // deposit would answer 23.00, not 16.00.
    expect(await deposit('1.00', 'third')).toMatchObject({ status: 200, body: { balance: '16.00' } });
    const history = await eventually(async () => {
      const r = await api('GET', `/wallet/history/${wallet}`, { token });
      return (r.body as unknown[]).length >= 3 ? (r.body as { amount: string; type: string }[]) : undefined;
    }, 30_000);
    expect(history.map((h) => [h.type, h.amount])).toEqual([
      ['deposit', '1.00'],
      ['deposit', '5.00'],
      ['deposit', '10.00'],
    ]);
    expect((await api<{ balance: string }>('GET', `/wallet/info/${wallet}`, { token })).body.balance).toBe('16.00');
  }, 60_000);

  it('a charge not acknowledged in time answers 503; its retry with the key debits and credits exactly once', async () => {
    const tag = p.env.prefix.slice(2, 14);
    const token = await signUpClient(api, `payer-${tag}@example.com`);
    const wallet = (await api<{ wallet: string }>('POST', '/wallet/create', { token })).body.wallet;
    expect((await api('POST', '/wallet/deposit', { token, body: { wallet, amount: '20.00' } })).status).toBe(200);
    const shop = (
      await api<{ token: string }>('POST', '/company/signup', { body: companySignUp(`shop-${tag}@example.com`) })
    ).body.token;
    const shopWallet = (await api<{ wallet: string }>('POST', '/wallet/create', { token: shop })).body.wallet;
    const charge = () =>
      api('POST', '/wallet/charge', {
        token: shop,
        body: { wallet, amount: '3.00', summary: 'a coffee' },
        headers: { 'idempotency-key': 'coffee' },
      });

    proxy.stall();
    const stalled = await charge();
    expect(stalled).toMatchObject({ status: 503, body: { error: { code: 'SERVICE_UNAVAILABLE' } } });

    proxy.resume();
    // 200, or 202 when the credit's result came before the retry waited for it: either way the same command id.
    const retried = await eventually(async () => {
      const r = await charge();
      return r.status === 200 || r.status === 202 ? r : undefined;
    }, 30_000);
    if (retried.status === 200) expect(retried.body).toMatchObject({ wallet: shopWallet, balance: '3.00' });
    const balance = async (t: string, w: string) =>
      (await api<{ balance: string }>('GET', `/wallet/info/${w}`, { token: t })).body.balance;
    await eventually(async () => ((await balance(shop, shopWallet)) === '3.00' ? true : undefined), 30_000);
    expect(await balance(token, wallet)).toBe('17.00');
    const charges = (await api('GET', `/wallet/history/${wallet}`, { token })).body as { type: string }[];
    expect(charges.filter((h) => h.type === 'charge')).toHaveLength(1);
  }, 60_000);

  it('a wallet creation not acknowledged in time answers 202 with its wallet, which opens once the broker answers', async () => {
    const tag = p.env.prefix.slice(2, 14);
    const token = await signUpClient(api, `opening-${tag}@example.com`);

    // An idle client sends a command at once: this one is in the produce request the proxy holds.
    proxy.stall();
    const stalled = await api<{ operation_id: string; wallet: string }>('POST', '/wallet/create', { token });
    // The account may still open, so the wallet is kept and named; answered 503 it would be dropped and left orphan.
    expect(stalled).toMatchObject({ status: 202, body: { status: 'PENDING' } });
    const { wallet, operation_id: operation } = stalled.body;
    expect(wallet).toEqual(expect.any(String));

    proxy.resume();
    // The held command reaches the broker late; the ledger opens the account.
    await eventually(async () => {
      const r = await api<{ status: string }>('GET', `/operations/${operation}`, { token });
      return r.body.status === 'SUCCEEDED' ? true : undefined;
    }, 30_000);
    // The sweep sends the creation's command again: answered with the first acceptance, it marks the wallet opened.
    expect(await openLeftWallets(gw.deps, { graceSeconds: 0, replyTimeoutMs: 10_000 })).toBe(1);
    const { rows } = await p.db.pool.query<{ opened: boolean }>(
      'select opened_at is not null as opened from gateway_wallets where wallet_id = $1',
      [wallet],
    );
    expect(rows).toEqual([{ opened: true }]);
    expect(await api('POST', '/wallet/deposit', { token, body: { wallet, amount: '2.50' } })).toMatchObject({
      status: 200,
      body: { wallet, balance: '2.50' },
    });
    const listed = (await api<{ wallet: string }[]>('GET', '/wallet/list', { token })).body;
    expect(listed.map((w) => w.wallet)).toEqual([wallet]);
  }, 60_000);

  it('a keyed retry of a 202 whose outcome is known runs again; a 503 in that run is no replay, and the next retry answers the outcome', async () => {
    const token = await signUpClient(api, `late-${p.env.prefix.slice(2, 14)}@example.com`);
    const wallet = (await api<{ wallet: string }>('POST', '/wallet/create', { token })).body.wallet;
    expect((await api('POST', '/wallet/deposit', { token, body: { wallet, amount: '10.00' } })).status).toBe(200);
    const deposit = () =>
      api<Record<string, unknown>>('POST', '/wallet/deposit', {
        token,
        body: { wallet, amount: '5.00' },
        headers: { 'idempotency-key': 'late-deposit' },
      });
    await p.stopLedger();
    let operation: string;
    try {
      const late = await deposit();
      expect(late).toMatchObject({ status: 202, body: { status: 'PENDING' } });
      operation = (late.body as { operation_id: string }).operation_id;
    } finally {
      await p.startLedger();
    }
    await eventually(async () => {
      const r = await api<{ status: string }>('GET', `/operations/${operation}`, { token });
      return r.body.status === 'SUCCEEDED' ? true : undefined;
    }, 30_000);

    // Known now, so the retry runs the deposit again — and the broker does not answer that run.
    proxy.stall();
    const failed = await deposit();
    proxy.resume();
    expect(failed).toMatchObject({ status: 503, body: { error: { code: 'SERVICE_UNAVAILABLE' } } });
    expect(failed.headers.get('idempotent-replayed')).toBeNull();

    // The next retry runs it again under the same command id: the ledger's first result, nothing applied twice.
    const answered = await eventually(async () => {
      const r = await deposit();
      return r.status === 200 ? r : undefined;
    }, 30_000);
    expect(answered.body).toMatchObject({ wallet, balance: '15.00' });
    expect(await deposit()).toMatchObject({ status: 200, body: answered.body });
    expect((await api<{ balance: string }>('GET', `/wallet/info/${wallet}`, { token })).body.balance).toBe('15.00');
    expect(await p.settledBalance(wallet, '1500')).toBe('1500');
  }, 90_000);

  // Last, so that it sees every answer before it, the refusals of the outage included.
  it('answered only as its OpenAPI document says, the outage included', async () => {
    expect(contract.answers.filter((a) => a.status === 503).length).toBeGreaterThan(0);
    expect(contract.violations((await api('GET', '/openapi.json')).body)).toEqual([]);
  });
});
