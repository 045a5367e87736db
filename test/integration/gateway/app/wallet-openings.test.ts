import { newWalletToken } from '../../../../services/gateway/src/adapters/directory';
import { openLeftWallets } from '../../../../services/gateway/src/app/wallet-openings';
import { openWalletCommand } from '../../../../services/gateway/src/domain/wallet-opening';
import { httpClient, signUpClient, walletPlatform } from '../../../support/gateway-env';
import type { WalletPlatform } from '../../../support/gateway-env';

/**
 * A wallet is recorded before its ledger account is opened. When its creation did not see the account open — the
 * gateway died before the command left, Kafka acknowledged too late, the result came after the deadline — the sweep
 * sends the same command again: the wallet opens (once), or is dropped if the ledger refuses it.
 */
describe('wallets left unopened', () => {
  let p: WalletPlatform;
  let gw: Awaited<ReturnType<WalletPlatform['gateway']>>;
  let api: ReturnType<typeof httpClient>;

  beforeAll(async () => {
    p = await walletPlatform('wallet-openings');
    gw = await p.gateway();
    api = httpClient(gw.url);
  });
  afterAll(async () => {
    await p.cleanup();
  });

  it('are opened by the sweep once past the grace period, with the creation’s command, exactly once', async () => {
    const email = `left-${p.env.prefix.slice(2, 14)}@example.com`;
    const token = await signUpClient(api, email);
    const owner = (
      await p.db.pool.query<{ party_id: string }>('select party_id from gateway_credentials where email = $1', [email])
    ).rows[0]?.party_id;
    if (!owner) throw new Error('the client was not recorded');
    const directory = gw.deps.directory;
    const recordWallet = async (currency: string, ageSeconds: number) => {
      const wallet = newWalletToken();
      await directory.reserveWallet(owner, 0, wallet, currency);
      await p.db.pool.query(
        `update gateway_wallets set created_at = now() - make_interval(secs => $2) where wallet_id = $1`,
        [wallet, ageSeconds],
      );
      return wallet;
    };
    const deposit = (wallet: string, amount: string) =>
      api<{ balance: string; error?: { code: string } }>('POST', '/wallet/deposit', {
        token,
        body: { wallet, amount },
      });

    // The gateway died after recording this wallet, before its command left: the client sees it, the ledger does not.
    // A deposit is refused as a wait (409), not as a wallet that does not exist (404), and moves nothing.
    const crashed = await recordWallet('EUR', 600);
    expect(await deposit(crashed, '4.00')).toMatchObject({
      status: 409,
      body: { error: { code: 'WALLET_OPENING', field: 'wallet' } },
    });
    // This one was opened, and holds money, but its acceptance was never recorded (the result came late).
    const late = await recordWallet('EUR', 590);
    const open = await gw.deps.ledger.request(
      openWalletCommand({ walletId: late, ownerKind: 'CLIENT', ownerId: owner, currency: 'EUR' }, new Date()),
      Date.now() + 10_000,
    );
    expect(open?.outcome).toHaveProperty(['paystream.ledger.CommandAccepted']);
    expect(await deposit(late, '2.00')).toMatchObject({ status: 200, body: { balance: '2.00' } });
    // The ledger refuses this one (not an ISO currency code): it can never open.
    const refused = await recordWallet('eur', 580);
    // A creation still running (just recorded) is not the sweep's.
    const running = await recordWallet('EUR', 1);
    // A wallet created through the API is marked opened at once.
    const created = (await api<{ wallet: string }>('POST', '/wallet/create', { token })).body.wallet;

    const sweep = () => openLeftWallets(gw.deps, { graceSeconds: 60, replyTimeoutMs: 10_000 });
    expect(await sweep()).toBe(3);
    expect(await sweep()).toBe(0); // settled: the next sweep has nothing to do

    const rows = new Map(
      (
        await p.db.pool.query<{ wallet_id: string; opened: boolean }>(
          'select wallet_id, opened_at is not null as opened from gateway_wallets where owner_id = $1',
          [owner],
        )
      ).rows.map((r) => [r.wallet_id, r.opened]),
    );
    expect(Object.fromEntries([crashed, late, refused, running, created].map((w) => [w, rows.get(w)]))).toEqual({
      [crashed]: true,
      [late]: true,
      [refused]: undefined,
      [running]: false,
      [created]: true,
    });
    // The crashed wallet now takes money; the late one's second OpenAccount changed nothing.
    expect(await deposit(crashed, '4.00')).toMatchObject({ status: 200, body: { balance: '4.00' } });
    expect(await deposit(late, '1.00')).toMatchObject({ status: 200, body: { balance: '3.00' } });
    const listed = (await api<{ wallet: string }[]>('GET', '/wallet/list', { token })).body.map((w) => w.wallet);
    expect(listed.sort()).toEqual([crashed, late, running, created].sort());
  }, 60_000);
});
