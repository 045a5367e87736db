import { eventually } from '../../support/integration-env';
import { gatewayBehindProxy, signUpClient, walletPlatform } from '../../support/gateway-env';
import type { httpClient, WalletPlatform } from '../../support/gateway-env';
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

  beforeAll(async () => {
    p = await walletPlatform('gw-redis');
    ({ proxy, api } = await gatewayBehindProxy(p, 'REDIS_URL', {
      PAYSTREAM_REDIS_COMMAND_TIMEOUT_MS: '300',
    }));
  });
  afterAll(async () => {
    await p.cleanup();
    await proxy.close();
  });

  const signUp = (name: string) => signUpClient(api, `${name}-${p.env.prefix.slice(2, 14)}@example.com`);

  it('answers 503 within the command timeout while Redis does not answer, and serves again once it does', async () => {
    const token = await signUp('stalled');
    expect((await api('GET', '/wallet/list', { token })).status).toBe(200);

    proxy.stall();
    const started = Date.now();
    const stalled = await api('GET', '/wallet/list', { token });
    const took = Date.now() - started;
    expect(stalled.status).toBe(503);
    expect(stalled.body).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    expect(took).toBeLessThan(3_000);

    proxy.resume();
    await eventually(
      async () => ((await api('GET', '/wallet/list', { token })).status === 200 ? true : undefined),
      10_000,
    );
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
});
