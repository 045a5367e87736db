import type { ApiError } from '../../../../services/gateway/src/domain/api-error';
import { acceptedOrError } from '../../../../services/gateway/src/domain/outcomes';
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
