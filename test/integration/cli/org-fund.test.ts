import { httpClient, walletPlatform } from '../../support/gateway-env';
import type { WalletPlatform } from '../../support/gateway-env';

/** `paystream org fund`: an operator credits an organization's account, once per funding id. */
describe('paystream org fund', () => {
  let p: WalletPlatform;

  beforeAll(async () => {
    p = await walletPlatform('org-fund');
  });
  afterAll(async () => {
    await p.cleanup();
  });

  const cli = (...args: string[]) => p.cli(...args);

  it('funds the account once per id, refuses what it cannot apply, and the money can then be sent', async () => {
    const created = await cli(
      'org',
      'create',
      '--name',
      'Funded Later GmbH',
      '--iban',
      'DE75512108001245126199',
      '--bic',
      'SOGEDEFF',
      '--deposit',
      '1000',
    );
    expect(created).toMatchObject({ code: 0 });
    const accountId = /ledger account (\S+),/.exec(created.stdout)?.[1] ?? '';
    const apiKey = /API key .*: (psk_\S+)/.exec(created.stdout)?.[1] ?? '';
    expect(accountId).toMatch(/^acct_org_/);
    // A 20.00 bulk does not fit in 10.00.
    const gateway = httpClient((await p.gateway()).url);
    const bulk = {
      organization_name: 'Funded Later GmbH',
      organization_iban: 'DE75512108001245126199',
      organization_bic: 'SOGEDEFF',
      credit_transfers: [
        {
          amount: '20.00',
          counterparty_name: 'Bip Bip',
          counterparty_bic: 'COBADEFFXXX',
          counterparty_iban: 'DE89370400440532013000',
          description: 'after funding',
        },
      ],
    };
    expect((await gateway('POST', '/bulk_transfer', { token: apiKey, body: bulk })).status).toBe(422);

    const fund = (id: string, amount = '1500') =>
      cli(
        'org',
        'fund',
        '--iban',
        'de75 5121 0800 1245 1261 99',
        '--amount',
        amount,
        '--reference',
        'SEPA in',
        '--id',
        id,
      );
    const funded = await fund('stmt-2026-12-06:1');
    expect(funded).toMatchObject({ code: 0 });
    expect(funded.stdout).toContain(
      `funded with 1500 minor units; ledger account ${accountId}, balance 2500 minor units`,
    );
    // Run again (after a timeout, say): nothing more is applied.
    const again = await fund('stmt-2026-12-06:1');
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain('funding stmt-2026-12-06:1 was applied before: nothing was applied now');
    expect(again.stdout).toContain('balance after it was 2500 minor units');
    // The same id for another amount is a mistake, not the same funding: refused, and nothing applied.
    const reused = await fund('stmt-2026-12-06:1', '9999');
    expect(reused.code).toBe(1);
    expect(reused.stderr).toContain(
      'funding stmt-2026-12-06:1 was applied before with another amount or reference; nothing was applied now',
    );
    await p.settledBalance(accountId, '2500');
    // Applied longer ago than the ledger remembers ids (30 days): the ledger would take it for a new funding, so it is
    // refused before anything is sent.
    const commandId = `fund:${accountId}:stmt-2026-12-06:1`;
    await p.db.pool.query(
      "update ledger_results set processed_at = processed_at - interval '31 days' where command_id = $1",
      [commandId],
    );
    const stale = await fund('stmt-2026-12-06:1');
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('longer ago than the ledger remembers commands (30 days); nothing was applied now');
    await p.db.pool.query(
      "update ledger_results set processed_at = processed_at + interval '31 days' where command_id = $1",
      [commandId],
    );

    // What it cannot apply is refused with the argument named, and changes nothing.
    const unknown = await cli(
      ...['org', 'fund', '--iban', 'GB82WEST12345698765432', '--amount', '1', '--reference', 'x', '--id', 'u1'],
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no organization has IBAN GB82WEST12345698765432');
    for (const [args, named] of [
      [['--amount', '0', '--id', 'z1'], '--amount'],
      [['--amount', '1.5', '--id', 'z2'], '--amount'],
      [['--amount', `1${'0'.repeat(18)}`, '--id', 'z3'], '--amount: a whole number of minor units from 1 to'],
      [['--amount', '1', '--id', 'has space'], 'id:'],
    ] as const) {
      const r = await cli('org', 'fund', '--iban', 'DE75512108001245126199', '--reference', 'x', ...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(named);
    }

    // The money is there to send.
    expect(await gateway('POST', '/bulk_transfer', { token: apiKey, body: bulk })).toMatchObject({
      status: 201,
      body: { status: 'ACCEPTED', total_amount: '20.00' },
    });
    await p.settledBalance(accountId, '500');
  });
});
