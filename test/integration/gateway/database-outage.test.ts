import { createLogger } from '../../../services/platform/src/logger';
import { eventually } from '../../support/integration-env';
import { gatewayBehindProxy, signUpClient, walletPlatform } from '../../support/gateway-env';
import type { httpClient, WalletPlatform } from '../../support/gateway-env';
import { answerRecorder } from '../../support/openapi-contract';
import type { TcpProxy } from '../../support/tcp-proxy';

/**
 * Postgres holds the gateway's parties and wallets. When it does not answer — a stall, a connection whose peer went
 * silent, or no database at all — a request gets 503 SERVICE_UNAVAILABLE (retryable) within the statement deadline,
 * never a 500 and never a request held for ever, and the gateway serves again on fresh connections as soon as the
 * database answers. The gateway reaches the real Postgres through a TCP proxy that can hold every byte, drop the
 * connections open now, or go away.
 */
describe('gateway: Postgres not answering, or gone', () => {
  let p: WalletPlatform;
  let proxy: TcpProxy;
  let api: ReturnType<typeof httpClient>;
  /** The gateway's error log lines. */
  const logged: string[] = [];
  const contract = answerRecorder();

  beforeAll(async () => {
    p = await walletPlatform('gw-pg');
    ({ proxy, api } = await gatewayBehindProxy(
      p,
      'DATABASE_URL',
      { PAYSTREAM_DATABASE_STATEMENT_TIMEOUT_MS: '400', PAYSTREAM_DATABASE_CONNECT_TIMEOUT_MS: '400' },
      createLogger({ level: 'error', stream: { write: (line: string) => logged.push(line) } }),
      contract.record,
    ));
  });
  afterAll(async () => {
    await p.cleanup();
    await proxy.close();
  });

  const signUp = (name: string) => signUpClient(api, `${name}-${p.env.prefix.slice(2, 14)}@example.com`);

  /** The request's answer and how long it took, in ms. */
  const timed = async (token: string) => {
    const started = Date.now();
    const reply = await api('GET', '/wallet/list', { token });
    return { reply, took: Date.now() - started };
  };

  it('answers 503 within the deadline while Postgres does not answer, and serves again once it does', async () => {
    const token = await signUp('stalled');
    expect((await api('GET', '/wallet/list', { token })).status).toBe(200);

    proxy.stall();
    const { reply, took } = await timed(token);
    expect(reply.status).toBe(503);
    expect(reply.body).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    expect(took).toBeLessThan(4_000);
    // The answer names its request, and so does the log line about the failure: a client's report finds it.
    const requestId = reply.headers.get('x-request-id') ?? '';
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const lines = logged.map((l) => JSON.parse(l) as { msg: string; requestId?: string; path?: string });
    expect(lines.filter((l) => l.requestId === requestId)).toEqual([
      expect.objectContaining({ msg: 'request failed', path: '/wallet/list' }),
    ]);

    proxy.resume();
    await eventually(
      async () => ((await api('GET', '/wallet/list', { token })).status === 200 ? true : undefined),
      10_000,
    );
  }, 20_000);

  it('gives up connections whose peer went silent and serves on new ones', async () => {
    const token = await signUp('silent');
    expect((await api('GET', '/wallet/list', { token })).status).toBe(200);
    const before = proxy.connections();

    proxy.blackhole();
    // Each pooled connection, now silent, fails one request at most, after the deadline; then it is dropped.
    const answers: number[] = [];
    for (let i = 0; i < 12; i += 1) {
      const { reply, took } = await timed(token);
      expect(took).toBeLessThan(4_000);
      answers.push(reply.status);
      if (reply.status === 200) break;
      expect(reply.body).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    }
    expect(answers[0]).toBe(503);
    expect(answers.at(-1)).toBe(200);
    expect(proxy.connections()).toBeGreaterThan(before);
  }, 60_000);

  it('answers 503, not 500, when Postgres is gone', async () => {
    const token = await signUp('gone');
    await proxy.close();
    const { reply, took } = await timed(token);
    expect(reply.status).toBe(503);
    expect(reply.body).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    expect(took).toBeLessThan(4_000);
  }, 20_000);

  // Last, so that it sees every answer before it, the refusals of the outage included.
  it('answered only as its OpenAPI document says, the outage included', async () => {
    expect(contract.answers.filter((a) => a.status === 503).length).toBeGreaterThan(0);
    expect(contract.violations((await api('GET', '/openapi.json')).body)).toEqual([]);
  });
});
