import { PaystreamError } from '../../../../services/platform/src/errors';
import { EventSchemas } from '../../../../services/platform/src/events/event-schemas';
import { SchemaCatalogue } from '../../../../services/platform/src/schemas/schema-catalogue';
import { integrationEnv } from '../../../support/integration-env';
import { tcpProxyFor } from '../../../support/tcp-proxy';
import type { TcpProxy } from '../../../support/tcp-proxy';

/**
 * Registry requests have a deadline: a request whose answer never arrives is abandoned and sent again, instead of
 * holding up whatever needed the schema for ever (a CI run once stalled, until its test timed out, in a schema
 * registration whose response never reached the client).
 */
describe('schema registry client: a request that gets no answer', () => {
  const env = integrationEnv('registry-timeout');
  const catalogue = SchemaCatalogue.load();
  const proxies: TcpProxy[] = [];
  /** The registry behind a proxy that swallows the connections `swallow` picks: read, never answered. */
  const swallowing = async (swallow: (connection: number) => boolean) => {
    const proxied = await tcpProxyFor(env.config.schemaRegistry.url, { swallow });
    proxies.push(proxied.proxy);
    return proxied;
  };

  afterAll(async () => {
    for (const p of proxies) await p.close();
    // Only the first test registers a subject; delete it as the environment deletes its own.
    const base = `${env.config.schemaRegistry.url}/subjects/${encodeURIComponent(`${env.prefix}ledger.commands-value`)}`;
    await fetch(base, { method: 'DELETE' }).catch(() => undefined);
    await fetch(`${base}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
  });

  it('is abandoned after its timeout and sent again on a new connection, a POST included', async () => {
    // Each request has its own connection: 1 looks the subject's compatibility up (404 for a new subject), 2 is the
    // POST that registers the schema — swallowed —, 3 is that POST again, 4 sets the compatibility.
    const { proxy, url } = await swallowing((n) => n === 2);
    const schemas = EventSchemas.connect(url, catalogue, env.prefix, { requestTimeoutMs: 1_000 });
    const started = Date.now();
    const { subject, id } = await schemas.register('ledger.commands');
    const took = Date.now() - started;
    expect(subject).toBe(`${env.prefix}ledger.commands-value`);
    expect(id).toBeGreaterThan(0);
    // The registration waited out its 1 s on the swallowed connection, then went through on another (at least 4
    // connections: a slow answer may be retried too).
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(8_000);
    expect(proxy.connections()).toBeGreaterThanOrEqual(4);
    // The registry has the schema under that id.
    const direct = EventSchemas.connect(env.config.schemaRegistry.url, catalogue, env.prefix);
    expect(await direct.schemaId('ledger.commands')).toBe(id);
  });

  it('fails as REGISTRY_UNAVAILABLE (retryable) when no attempt is answered', async () => {
    const { proxy, url } = await swallowing(() => true);
    const schemas = EventSchemas.connect(url, catalogue, env.prefix, { requestTimeoutMs: 300 });
    const started = Date.now();
    const failure = await schemas.schemaId('ledger.results').catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(failure).toBeInstanceOf(PaystreamError);
    expect(failure).toMatchObject({ code: 'REGISTRY_UNAVAILABLE', retryable: true });
    // Three attempts of 300 ms each, with short pauses between them.
    expect(proxy.connections()).toBe(3);
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(5_000);
  });
});
