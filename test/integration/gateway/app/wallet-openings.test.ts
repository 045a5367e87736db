import { newWalletToken } from '../../../../services/gateway/src/adapters/directory';
import { openLeftWallets, WALLET_OPENING_SWEEP_MS } from '../../../../services/gateway/src/app/wallet-openings';
import { openWalletCommand } from '../../../../services/gateway/src/domain/wallet-opening';
import { companySignUp, httpClient, signUpClient, walletPlatform } from '../../../support/gateway-env';
import type { WalletPlatform } from '../../../support/gateway-env';
import { eventually } from '../../../support/integration-env';

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

  /** The party id the gateway recorded for a sign-up's e-mail. */
  const partyOf = async (email: string): Promise<string> => {
    const { rows } = await p.db.pool.query<{ party_id: string }>(
      'select party_id from gateway_credentials where email = $1',
      [email],
    );
    const party = rows[0]?.party_id;
    if (!party) throw new Error(`${email} was not recorded`);
    return party;
  };

  it('are opened by the sweep once past the grace period, with the creation’s command, exactly once', async () => {
    const email = `left-${p.env.prefix.slice(2, 14)}@example.com`;
    const token = await signUpClient(api, email);
    const owner = await partyOf(email);
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

  it('a gateway sweeps by itself a second after it starts: a wallet a crash left opens with nobody asking', async () => {
    const email = `restart-${p.env.prefix.slice(2, 14)}@example.com`;
    const token = await signUpClient(api, email);
    const wallet = newWalletToken();
    await gw.deps.directory.reserveWallet(await partyOf(email), 0, wallet, 'EUR');
    await p.db.pool.query(
      `update gateway_wallets set created_at = now() - interval '10 minutes' where wallet_id = $1`,
      [wallet],
    );
    // The gateway that recorded it "died"; the one started next takes it up on its first sweep, well before the
    // sweeps' 30 s interval.
    const began = Date.now();
    const next = await p.gateway({}, undefined, undefined, true);
    await eventually(async () => ((await next.deps.directory.wallet(wallet))?.opened ? true : undefined), 20_000);
    expect(Date.now() - began).toBeLessThan(WALLET_OPENING_SWEEP_MS / 2);
    const deposit = await httpClient(next.url)<{ balance: string }>('POST', '/wallet/deposit', {
      token,
      body: { wallet, amount: '1.00' },
    });
    expect(deposit).toMatchObject({ status: 200, body: { balance: '1.00' } });
  }, 30_000);

  it('a charge into or out of a wallet not open yet is refused as a wait, before the payer is debited', async () => {
    const tag = p.env.prefix.slice(2, 14);
    const payer = await signUpClient(api, `payer-${tag}@example.com`);
    const payerWallet = (await api<{ wallet: string }>('POST', '/wallet/create', { token: payer })).body.wallet;
    expect(
      (await api('POST', '/wallet/deposit', { token: payer, body: { wallet: payerWallet, amount: '10.00' } })).status,
    ).toBe(200);
    const charge = (token: string, wallet = payerWallet) =>
      api<{ balance?: string; error?: { code: string } }>('POST', '/wallet/charge', {
        token,
        body: { wallet, amount: '1.00', summary: 'a coffee' },
      });
    const company = async (name: string) => {
      const email = `${name}-${tag}@example.com`;
      const signup = await api<{ token: string }>('POST', '/company/signup', { body: companySignUp(email) });
      expect(signup.status).toBe(201);
      const token = signup.body.token;
      const owner = await partyOf(email);
      const wallet = newWalletToken();
      await gw.deps.directory.reserveWallet(owner, 1, wallet, 'EUR');
      return { token, owner, wallet };
    };

    // A company whose wallet a crash left without its account: 409, and the payer is not debited (no charge to reverse).
    const left = await company('shop-left');
    expect(await charge(left.token)).toMatchObject({ status: 409, body: { error: { code: 'WALLET_OPENING' } } });
    // A company whose wallet the ledger opened, its acceptance not recorded yet (a creation answered 202): the read
    // model's result lets it charge at once, and the wallet is marked.
    const late = await company('shop-late');
    const open = await gw.deps.ledger.request(
      openWalletCommand(
        { walletId: late.wallet, ownerKind: 'MERCHANT', ownerId: late.owner, currency: 'EUR' },
        new Date(),
      ),
      Date.now() + 10_000,
    );
    expect(open?.outcome).toHaveProperty(['paystream.ledger.CommandAccepted']);
    const charged = await eventually(async () => {
      const r = await charge(late.token);
      return r.status === 200 ? r : undefined;
    });
    expect(charged.body).toMatchObject({ balance: '1.00' });
    expect((await gw.deps.directory.wallet(late.wallet))?.opened).toBe(true);

    // A payer's wallet a crash left without its account is a wait too (409, not 404); a token nobody holds is a 404.
    const payerLeftEmail = `payer-left-${tag}@example.com`;
    await signUpClient(api, payerLeftEmail);
    const payerLeft = newWalletToken();
    await gw.deps.directory.reserveWallet(await partyOf(payerLeftEmail), 0, payerLeft, 'EUR');
    expect(await charge(late.token, payerLeft)).toMatchObject({
      status: 409,
      body: { error: { code: 'WALLET_OPENING', field: 'wallet' } },
    });
    expect(await charge(late.token, newWalletToken())).toMatchObject({
      status: 404,
      body: { error: { code: 'WALLET_NOT_FOUND', field: 'wallet' } },
    });

    // The refused company, once the sweep opened its wallet, charges too.
    await p.db.pool.query(
      `update gateway_wallets set created_at = now() - interval '10 minutes' where wallet_id = any($1)`,
      [[left.wallet, payerLeft]],
    );
    expect(await openLeftWallets(gw.deps, { graceSeconds: 60, replyTimeoutMs: 10_000 })).toBe(2);
    expect(await charge(left.token)).toMatchObject({ status: 200, body: { balance: '1.00' } });
    // The left payer's wallet is open now, and empty: its charge is refused for the money, no longer for the wait.
    expect(await charge(late.token, payerLeft)).toMatchObject({
      status: 422,
      body: { error: { code: 'INSUFFICIENT_FUNDS' } },
    });
    // The payer paid two charges, and nothing was ever taken and given back.
    expect((await api<{ balance: string }>('GET', `/wallet/info/${payerWallet}`, { token: payer })).body.balance).toBe(
      '8.00',
    );
    const history = (
      await api<{ type: string; success: boolean }[]>('GET', `/wallet/history/${payerWallet}`, { token: payer })
    ).body;
    expect(history.map((h) => h.type).sort()).toEqual(['charge', 'charge', 'deposit']);
  }, 60_000);
});
