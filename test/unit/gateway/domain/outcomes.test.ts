import type { ApiError } from '../../../../services/gateway/src/domain/api-error';
import { acceptedOrError, duplicateBulkError, firstUseVerdict } from '../../../../services/gateway/src/domain/outcomes';
import type { LedgerResult } from '../../../../services/platform/src/sdk/event-types.generated';

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
  const first = (fingerprint: bigint | null, daysAgo: number) => ({
    requestFingerprint: fingerprint,
    processedAt: new Date(now.getTime() - daysAgo * DAY),
  });
  it('leaves to the ledger an id not seen, or first used for this request within the window', () => {
    expect(firstUseVerdict(undefined, 42, now, 30 * DAY)).toBeUndefined();
    expect(firstUseVerdict(first(42n, 29), 42, now, 30 * DAY)).toBeUndefined();
    expect(firstUseVerdict(first(null, 29), 7, now, 30 * DAY)).toBeUndefined();
  });
  it('names another request under the id, and a first use older than the window', () => {
    expect(firstUseVerdict(first(41n, 1), 42, now, 30 * DAY)).toBe('OTHER_REQUEST');
    expect(firstUseVerdict(first(42n, 31), 42, now, 30 * DAY)).toBe('FORGOTTEN');
    expect(firstUseVerdict(first(null, 31), 42, now, 30 * DAY)).toBe('FORGOTTEN');
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
