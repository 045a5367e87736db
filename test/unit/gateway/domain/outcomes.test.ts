import type { ApiError } from '../../../../services/gateway/src/domain/api-error';
import {
  acceptedOrError,
  awaitedFollowUp,
  chargeCommandId,
  duplicateBulkError,
  firstUseVerdict,
  operationAnsweredBy,
  settled,
  settledInReadModel,
} from '../../../../services/gateway/src/domain/outcomes';
import {
  commandFingerprint,
  describeCommand,
  requestFingerprint,
} from '../../../../services/platform/src/sdk/ledger-requests';
import type { LedgerCommand, LedgerResult } from '../../../../services/platform/src/sdk/event-types.generated';

const rejected = (code: string, message: string): LedgerResult =>
  ({
    commandId: 'chg:1',
    accountId: 'wallet_of_the_payer',
    processedAt: new Date(0),
    outcome: { 'paystream.ledger.CommandRejected': { code, message } },
    duplicate: false,
    request: null,
    requestFingerprint: null,
  }) as unknown as LedgerResult;

const errorOf = (result: LedgerResult): ApiError => {
  try {
    acceptedOrError(result, { field: 'wallet', what: 'the charged wallet' });
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('expected a rejection');
};

describe('acceptedOrError', () => {
  it('a charge refused for insufficient funds tells the merchant the wallet cannot cover it, not what it holds', () => {
    const err = errorOf(rejected('INSUFFICIENT_FUNDS', 'balance 123456 is less than 700000'));
    expect(err).toMatchObject({ code: 'UNPROCESSABLE', apiCode: 'INSUFFICIENT_FUNDS', details: { field: 'amount' } });
    expect(err.message).toBe('insufficient funds: the charged wallet cannot cover the amount');
    expect(err.message).not.toMatch(/123456|1234\.56/);
  });

  it("a currency mismatch does not repeat the ledger's account id or holdings", () => {
    const err = errorOf(rejected('CURRENCY_MISMATCH', 'account wallet_of_the_payer holds MXN, not EUR'));
    expect(err).toMatchObject({ apiCode: 'CURRENCY_MISMATCH', details: { field: 'wallet' } });
    expect(err.message).toBe('the charged wallet holds another currency');
  });

  it('an unknown account is a 404 naming the field', () => {
    expect(errorOf(rejected('UNKNOWN_ACCOUNT', 'account x does not exist'))).toMatchObject({
      code: 'NOT_FOUND',
      apiCode: 'WALLET_NOT_FOUND',
      details: { field: 'wallet' },
    });
  });
});

describe('firstUseVerdict', () => {
  const DAY = 86_400_000;
  const now = new Date('2026-12-07T00:00:00Z');
  const deposit = (amountMinor: bigint): LedgerCommand => ({
    commandId: 'dep:1',
    accountId: 'w1',
    issuedAt: now,
    command: { 'paystream.ledger.Deposit': { amountMinor, currency: 'EUR', reference: null } },
  });
  const first = (cmd: LedgerCommand | null, daysAgo: number) => ({
    requestFingerprint: cmd === null ? null : BigInt(commandFingerprint(cmd)),
    processedAt: new Date(now.getTime() - daysAgo * DAY),
  });
  it('leaves to the ledger an id not seen, or first used for this request within the window', () => {
    expect(firstUseVerdict(undefined, deposit(500n), now, 30 * DAY)).toBeUndefined();
    expect(firstUseVerdict(first(deposit(500n), 29), deposit(500n), now, 30 * DAY)).toBeUndefined();
    expect(firstUseVerdict(first(null, 29), deposit(700n), now, 30 * DAY)).toBeUndefined();
  });
  it('names another request under the id, and a first use older than the window', () => {
    expect(firstUseVerdict(first(deposit(400n), 1), deposit(500n), now, 30 * DAY)).toBe('OTHER_REQUEST');
    expect(firstUseVerdict(first(deposit(500n), 31), deposit(500n), now, 30 * DAY)).toBe('FORGOTTEN');
    expect(firstUseVerdict(first(null, 31), deposit(500n), now, 30 * DAY)).toBe('FORGOTTEN');
  });
  it('tells bulks of one id, total and count apart by their credit transfers, as the ledger does', () => {
    const payroll = bulk([['DE89370400440532013000', 2000n]]);
    const other = bulk([['GB82WEST12345698765432', 2000n]]);
    expect(firstUseVerdict(first(payroll, 1), payroll, now, 30 * DAY)).toBeUndefined();
    expect(firstUseVerdict(first(payroll, 1), other, now, 30 * DAY)).toBe('OTHER_REQUEST');
    // A first result written before credit transfers counted carries the fingerprint of the id, total and count.
    const byTotals = {
      requestFingerprint: BigInt(requestFingerprint('org', describeCommand(payroll))),
      processedAt: now,
    };
    expect(firstUseVerdict(byTotals, payroll, now, 30 * DAY)).toBeUndefined();
  });
});

function bulk(credits: [iban: string, amountMinor: bigint][], bulkId = 'b-1'): LedgerCommand {
  return {
    commandId: `bulk:${bulkId}`,
    accountId: 'org',
    issuedAt: new Date('2026-12-07T00:00:00Z'),
    command: {
      'paystream.ledger.BulkDebit': {
        bulkId,
        currency: 'EUR',
        credits: credits.map(([iban, amountMinor], i) => ({
          itemId: String(i + 1),
          amountMinor,
          counterpartyName: 'Bip Bip',
          counterpartyIban: iban,
          counterpartyBic: 'COBADEFFXXX',
          description: 'December',
        })),
      },
    },
  };
}

describe('operationAnsweredBy', () => {
  const payroll = bulk([['DE89370400440532013000', 2000n]]);
  const other = bulk([['GB82WEST12345698765432', 2000n]]);
  const byTotals = (cmd: LedgerCommand) => String(requestFingerprint('org', describeCommand(cmd)));
  const record = (fingerprint: string | undefined) => ({
    kind: 'BULK_TRANSFER',
    requestFingerprint: fingerprint,
    bulkId: 'b-1',
    bulk: { totalMinor: '2000', currency: 'EUR', itemCount: 1 },
  });
  const result = (fingerprint: string | null) => ({
    accountId: 'org',
    requestFingerprint: fingerprint === null ? null : BigInt(fingerprint),
  });
  it('is answered by a first result of the same request, and not by one of another', () => {
    const sent = String(commandFingerprint(payroll));
    expect(operationAnsweredBy(record(sent), result(sent))).toBe(true);
    expect(operationAnsweredBy(record(sent), result(String(commandFingerprint(other))))).toBe(false);
    const depositRecord = { kind: 'DEPOSIT', requestFingerprint: '42' };
    expect(operationAnsweredBy(depositRecord, result('41'))).toBe(false);
    expect(operationAnsweredBy(depositRecord, result('42'))).toBe(true);
  });
  it('answers as before fingerprints when either side has none', () => {
    expect(operationAnsweredBy(record(undefined), result('1'))).toBe(true);
    expect(operationAnsweredBy(record('1'), result(null))).toBe(true);
  });
  it('compares a bulk on its id, total and count where one side was written before credit transfers counted', () => {
    const sent = String(commandFingerprint(payroll));
    // A first result of the earlier form: the same totals answer, others do not.
    expect(operationAnsweredBy(record(sent), result(byTotals(payroll)))).toBe(true);
    expect(operationAnsweredBy(record(sent), result(byTotals(bulk([['DE89370400440532013000', 2001n]]))))).toBe(false);
    // A record of the earlier form cannot tell which transfers it sent: its result answers it.
    expect(operationAnsweredBy(record(byTotals(payroll)), result(sent))).toBe(true);
  });
});

describe('duplicateBulkError', () => {
  it('names the bulk, when it was accepted or that it is still pending', () => {
    expect(duplicateBulkError('b-1', { at: new Date('2026-11-07T10:00:00Z') })).toMatchObject({
      code: 'CONFLICT',
      apiCode: 'DUPLICATE_REQUEST',
      message:
        'a bulk transfer with the same credit transfers was accepted already as b-1 (2026-11-07T10:00:00.000Z); send an Idempotency-Key to repeat payments on purpose',
      details: { field: 'body' },
    });
    expect(duplicateBulkError('b-2', { pending: true }).message).toBe(
      'a bulk transfer with the same credit transfers was sent already as b-2, answered 202 then (GET /bulk_transfer/:id shows its outcome); send an Idempotency-Key to repeat payments on purpose',
    );
    expect(duplicateBulkError(undefined).message).toBe(
      'a bulk transfer with the same credit transfers was accepted already; send an Idempotency-Key to repeat payments on purpose',
    );
  });
});

describe('settled', () => {
  const accepted = {
    ...rejected('x', 'x'),
    commandId: 'chg:1:credit',
    accountId: 'wallet_of_the_merchant',
    outcome: {
      'paystream.ledger.CommandAccepted': {
        balanceAfterMinor: 1_234n,
        balanceVersion: 7n,
        currency: 'EUR',
        entryIds: ['e1'],
      },
    },
  } as unknown as LedgerResult;

  it('reads a live result and the same result as the read model keeps it alike', () => {
    expect(settled(accepted)).toEqual({
      accepted: true,
      accountId: 'wallet_of_the_merchant',
      balanceAfterMinor: 1_234n,
      balanceVersion: 7n,
      live: accepted,
    });
    expect(
      settledInReadModel({
        accountId: 'wallet_of_the_merchant',
        accepted: true,
        rejectionCode: null,
        balanceAfterMinor: 1_234n,
        balanceVersion: 7n,
      }),
    ).toEqual({ accepted: true, accountId: 'wallet_of_the_merchant', balanceAfterMinor: 1_234n, balanceVersion: 7n });
    expect(settled(rejected('AMOUNT_OVERFLOW', 'no room'))).toEqual({ accepted: false, code: 'AMOUNT_OVERFLOW' });
    expect(
      settledInReadModel({
        accountId: 'wallet_of_the_merchant',
        accepted: false,
        rejectionCode: 'AMOUNT_OVERFLOW',
        balanceAfterMinor: null,
        balanceVersion: null,
      }),
    ).toEqual({ accepted: false, code: 'AMOUNT_OVERFLOW' });
    // Accepted before the read model kept balances with results: not answerable from there, never a refusal.
    expect(
      settledInReadModel({
        accountId: 'wallet_of_the_merchant',
        accepted: true,
        rejectionCode: null,
        balanceAfterMinor: null,
        balanceVersion: null,
      }),
    ).toBeUndefined();
  });
});

describe('awaitedFollowUp', () => {
  it("an accepted charge waits for its merchant's credit; a refused charge and other operations for nothing", () => {
    const charge = chargeCommandId('0b5f6c1e-8d4a-5e2b-9c3d-7a1f2e4b6c8d');
    expect(charge).toBe('chg:0b5f6c1e-8d4a-5e2b-9c3d-7a1f2e4b6c8d');
    expect(awaitedFollowUp(charge, true)).toBe(`${charge}:credit`);
    expect(awaitedFollowUp(charge, false)).toBeUndefined();
    expect(awaitedFollowUp('dep:0b5f6c1e-8d4a-5e2b-9c3d-7a1f2e4b6c8d', true)).toBeUndefined();
    expect(awaitedFollowUp('bulk:b-1', true)).toBeUndefined();
  });
});
