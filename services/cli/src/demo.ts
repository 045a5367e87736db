import { PaystreamError } from '../../platform/src/errors';

/** An organization the demo sends a bulk from: provisioned as an operator does (`paystream org create`). */
export interface DemoOrganization {
  name: string;
  iban: string;
  bic: string;
  apiKey: string;
  balanceMinor: bigint;
}

export interface DemoOptions {
  /** The gateway's base URL (`http://127.0.0.1:8080`). */
  gateway: string;
  /** Makes the run's e-mails and Idempotency-Keys its own, so the demo can run again on the same platform. */
  runId: string;
  /** Provisions the bulk-transfer organization once the wallet part is done (it needs the ledger). */
  organization: () => Promise<DemoOrganization>;
  print: (line: string) => void;
  /** Ends the run (a request in flight is aborted) when it fires. */
  signal?: AbortSignal;
  /** Each request's own bound (10 s): a gateway that answers nothing fails the step instead of hanging. */
  requestTimeoutMs?: number;
}

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { error?: { code?: string; field?: string; message?: string } };
  list: Record<string, unknown>[];
}

/**
 * The demo scenario (`paystream demo`, and `paystream start` once where nobody has signed up yet): seed 004's wallet
 * flow and seed 003's bulk transfer, through the gateway's HTTP API as a client would use it, each step printed with
 * the answer it got. Every step checks the answer the API documents; the first that differs ends the run with a
 * PaystreamError naming the step, the status and the body. It moves only its own parties' money: two parties signed
 * up under e-mails of this run, and an organization provisioned for it.
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const { gateway, runId, print } = options;
  let step = 0;
  const call = async (
    method: 'GET' | 'POST',
    path: string,
    opts: { token?: string; key?: string; body?: unknown } = {},
  ): Promise<Reply> => {
    const headers: Record<string, string> = {};
    if (opts.token !== undefined) headers.authorization = `Token ${opts.token}`;
    if (opts.key !== undefined) headers['idempotency-key'] = opts.key;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const timeout = AbortSignal.timeout(options.requestTimeoutMs ?? 10_000);
    const res = await fetch(`${gateway}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
    }).catch((err: unknown) => {
      throw new PaystreamError(
        'INTERNAL',
        `demo step ${step + 1}: ${method} ${path} got no answer from ${gateway} (${err instanceof Error ? err.message : String(err)})`,
      );
    });
    const text = await res.text();
    let parsed: unknown = {};
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = { text };
    }
    return {
      status: res.status,
      headers: res.headers,
      body: (Array.isArray(parsed) ? {} : parsed) as Reply['body'],
      list: Array.isArray(parsed) ? (parsed as Record<string, unknown>[]) : [],
    };
  };
  /** Prints the step once its answer is the expected status; otherwise ends the run naming it. */
  const expectStep = (title: string, reply: Reply, status: number, outcome: (r: Reply) => string) => {
    step++;
    if (reply.status !== status) {
      const body = reply.list.length > 0 ? reply.list : reply.body;
      throw new PaystreamError(
        'INTERNAL',
        `demo step ${step} (${title}): expected ${status}, got ${reply.status} ${JSON.stringify(body)}`,
      );
    }
    print(`  ${String(step).padStart(2)}. ${title.padEnd(52)} ${status}  ${outcome(reply)}`);
  };
  /** A check beyond the status, on the step just printed. */
  const mustHold = (holds: boolean, what: string) => {
    if (!holds) throw new PaystreamError('INTERNAL', `demo step ${step}: ${what}`);
  };
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const errorCode = (r: Reply) =>
    `${r.body.error?.code ?? ''}${r.body.error?.field ? ` (field ${r.body.error.field})` : ''}`;

  print(`seed 004, wallets, through ${gateway}`);
  const password = `demo ${runId} correct horse`;
  const ana = await call('POST', '/client/signup', {
    body: {
      email: `ana.${runId}@demo.paystream.test`,
      password,
      client: { first_name: 'Ana', last_name: 'García', phone_number: '+34666666666' },
    },
  });
  expectStep('Ana signs up as a client', ana, 201, () => 'session token issued');
  const anaToken = text(ana.body.token);
  const shop = await call('POST', '/company/signup', {
    body: {
      email: `tienda.${runId}@demo.paystream.test`,
      password,
      company: {
        name: 'Tienda SL',
        url: 'https://tienda.example',
        first_name: 'Luis',
        last_name: 'Pérez',
        phone_number: '+34611111111',
      },
    },
  });
  expectStep('Tienda SL signs up as a company (a merchant)', shop, 201, () => 'session token issued');
  const shopToken = text(shop.body.token);

  const anaWallet = await call('POST', '/wallet/create', { token: anaToken });
  expectStep('Ana opens a wallet', anaWallet, 201, (r) => `wallet ${text(r.body.wallet)}, ${text(r.body.currency)}`);
  const anaW = text(anaWallet.body.wallet);
  const shopWallet = await call('POST', '/wallet/create', { token: shopToken });
  expectStep('Tienda SL opens its wallet', shopWallet, 201, (r) => `wallet ${text(r.body.wallet)}`);
  const shopW = text(shopWallet.body.wallet);

  const deposit = { token: anaToken, key: `demo-${runId}-deposit`, body: { wallet: anaW, amount: '100.50' } };
  expectStep(
    'Ana deposits 100.50 (Idempotency-Key)',
    await call('POST', '/wallet/deposit', deposit),
    200,
    (r) => `balance ${text(r.body.balance)}`,
  );
  const again = await call('POST', '/wallet/deposit', deposit);
  expectStep(
    'the same deposit, retried with its key',
    again,
    200,
    (r) =>
      `replayed (idempotent-replayed: ${r.headers.get('idempotent-replayed') ?? 'absent'}), balance ${text(r.body.balance)}`,
  );
  mustHold(
    again.headers.get('idempotent-replayed') === 'true' && again.body.balance === '100.50',
    'the retry was not answered as a replay of 100.50',
  );

  /** The run's `n`-th charge, under a key of its own. */
  const charge = (token: string, n: number, body: { wallet: string; amount: string; summary: string }) =>
    call('POST', '/wallet/charge', { token, key: `demo-${runId}-charge-${n}`, body });
  expectStep(
    "Tienda SL charges 30.25 to Ana's wallet",
    await charge(shopToken, 1, { wallet: anaW, amount: '30.25', summary: 'Café y tostadas' }),
    200,
    (r) => `Tienda SL's wallet ${text(r.body.wallet)} now holds ${text(r.body.balance)}`,
  );
  expectStep(
    'Tienda SL charges 500.00, more than Ana holds',
    await charge(shopToken, 2, { wallet: anaW, amount: '500.00', summary: 'Cena' }),
    422,
    errorCode,
  );
  expectStep(
    'Ana tries to charge a wallet (only merchants charge)',
    await charge(anaToken, 3, { wallet: shopW, amount: '1.00', summary: 'no' }),
    403,
    errorCode,
  );
  expectStep(
    "Tienda SL reads Ana's wallet (only its owner may)",
    await call('GET', `/wallet/info/${anaW}`, { token: shopToken }),
    403,
    errorCode,
  );
  const info = await call('GET', `/wallet/info/${anaW}`, { token: anaToken });
  expectStep('Ana reads her wallet', info, 200, (r) => `balance ${text(r.body.balance)} ${text(r.body.currency)}`);
  mustHold(info.body.balance === '70.25', `Ana's balance is ${text(info.body.balance)}, not 70.25`);
  const history = await call('GET', `/wallet/history/${anaW}`, { token: anaToken });
  expectStep('Ana reads her history, newest first', history, 200, (r) =>
    r.list.map((op) => `${text(op.summary)} ${text(op.amount)}${op.success === false ? ' (failed)' : ''}`).join('; '),
  );
  const kinds = history.list.map((op) => `${text(op.amount)}:${String(op.success)}`).join(' ');
  mustHold(
    kinds === '500.00:false 30.25:true 100.50:true',
    "Ana's history is not the failed charge, the charge and the deposit",
  );
  expectStep('Ana logs out', await call('POST', '/client/logout', { token: anaToken }), 204, () => 'token revoked');
  expectStep(
    'her old token no longer works',
    await call('GET', `/wallet/info/${anaW}`, { token: anaToken }),
    401,
    errorCode,
  );

  print('');
  print('seed 003, bulk transfers');
  // Provisioning is not aborted by the signal (it waits for the ledger's answer): not begun once the run is ended.
  options.signal?.throwIfAborted();
  const org = await options.organization();
  step++;
  print(
    `  ${String(step).padStart(2)}. ${`${org.name} provisioned (paystream org create)`.padEnd(52)}      IBAN ${org.iban}, balance ${org.balanceMinor} minor units`,
  );
  const bulk = {
    organization_name: org.name,
    organization_iban: org.iban,
    organization_bic: org.bic,
    credit_transfers: [
      {
        amount: '1200.00',
        counterparty_name: 'Bip Bip',
        counterparty_bic: 'COBADEFFXXX',
        counterparty_iban: 'DE89370400440532013000',
        description: `Invoice ${runId}-1`,
      },
      {
        amount: '345.67',
        counterparty_name: 'Wile E. Coyote',
        counterparty_bic: 'BNPAFRPP',
        counterparty_iban: 'FR1420041010050500013M02606',
        description: `Invoice ${runId}-2`,
      },
    ],
  };
  const sent = await call('POST', '/bulk_transfer', { token: org.apiKey, body: bulk });
  expectStep(
    'it sends a bulk of 2 credit transfers',
    sent,
    201,
    (r) =>
      `bulk ${text(r.body.bulk_id)} ${text(r.body.status)}, ${text(r.body.total_amount)} ${text(r.body.currency)} debited`,
  );
  expectStep(
    'the same bulk again, without an Idempotency-Key',
    await call('POST', '/bulk_transfer', { token: org.apiKey, body: bulk }),
    409,
    errorCode,
  );
  expectStep(
    "the bulk's status",
    await call('GET', `/bulk_transfer/${text(sent.body.bulk_id)}`, { token: org.apiKey }),
    200,
    (r) => `${text(r.body.status)}, ${Array.isArray(r.body.items) ? r.body.items.length : 0} credit transfers`,
  );
  print('');
  print(`demo done: ${step} steps answered as documented`);
}
