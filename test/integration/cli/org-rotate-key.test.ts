import { randomUUID } from 'node:crypto';

import { httpClient, walletPlatform } from '../../support/gateway-env';
import type { WalletPlatform } from '../../support/gateway-env';

/** `paystream org rotate-key`: an organization gets a new API key and its old one stops working at once. */
describe('paystream org rotate-key', () => {
  let p: WalletPlatform;

  beforeAll(async () => {
    p = await walletPlatform('org-rotate');
  });
  afterAll(async () => {
    await p.cleanup();
  });

  const cli = (...args: string[]) => p.cli(...args);
  const keyIn = (stdout: string) => /API key .*: (psk_\S+)/.exec(stdout)?.[1] ?? '';

  it('refuses the old key from the next request on, accepts the new one, and names an unknown organization', async () => {
    const created = await cli(
      'org',
      'create',
      '--name',
      'Rotating Keys SA',
      '--iban',
      'NL91ABNA0417164300',
      '--bic',
      'ABNANL2A',
      '--deposit',
      '1000',
    );
    expect(created.code).toBe(0);
    const oldKey = keyIn(created.stdout);
    expect(oldKey).toMatch(/^psk_/);
    const gateway = httpClient((await p.gateway()).url);
    // An authenticated organization asking for a bulk it does not have gets 404; an unknown key gets 401.
    const status = (key: string) => gateway('GET', `/bulk_transfer/${randomUUID()}`, { token: key });
    expect((await status(oldKey)).status).toBe(404);

    const rotated = await cli('org', 'rotate-key', '--iban', 'nl91 abna 0417 1643 00');
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain('its old API key is refused from now on');
    const newKey = keyIn(rotated.stdout);
    expect(newKey).toMatch(/^psk_/);
    expect(newKey).not.toBe(oldKey);
    expect(await status(oldKey)).toMatchObject({ status: 401, body: { error: { code: 'INVALID_TOKEN' } } });
    expect((await status(newKey)).status).toBe(404);
    // The new key sends bulks as the organization did.
    const bulk = {
      organization_name: 'Rotating Keys SA',
      organization_iban: 'NL91ABNA0417164300',
      organization_bic: 'ABNANL2A',
      credit_transfers: [
        {
          amount: '2.50',
          counterparty_name: 'Bip Bip',
          counterparty_bic: 'COBADEFFXXX',
          counterparty_iban: 'DE89370400440532013000',
          description: 'after rotation',
        },
      ],
    };
    expect(await gateway('POST', '/bulk_transfer', { token: newKey, body: bulk })).toMatchObject({
      status: 201,
      body: { total_amount: '2.50' },
    });
    expect((await gateway('POST', '/bulk_transfer', { token: oldKey, body: bulk })).status).toBe(401);
    // Only its SHA-256 is kept.
    const stored = await p.db.pool.query<{ k: string }>(
      "select api_key_sha256 as k from gateway_organizations where iban = 'NL91ABNA0417164300'",
    );
    expect(stored.rows[0]?.k).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored.rows)).not.toContain(newKey);

    const unknown = await cli('org', 'rotate-key', '--iban', 'DE89370400440532013000');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no organization has IBAN DE89370400440532013000');
    const invalid = await cli('org', 'rotate-key', '--iban', 'NL91ABNA0417164301');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('iban');
    // Neither touched the organization's key.
    expect((await status(newKey)).status).toBe(404);
  });
});
