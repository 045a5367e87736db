import { formatAmount, parseAmount } from '../../../../services/gateway/src/domain/money';
import { PaystreamError } from '../../../../services/platform/src/errors';

const MAX = 100_000_000n;

describe('parseAmount', () => {
  it.each([
    ['700', 'EUR', 70_000n],
    ['12.34', 'EUR', 1_234n],
    ['12.3', 'EUR', 1_230n],
    ['0.01', 'USD', 1n],
    ['05.00', 'MXN', 500n],
    [12.34, 'EUR', 1_234n],
    [0.1, 'EUR', 10n],
    [1_000_000, 'EUR', MAX],
    ['300', 'JPY', 300n],
  ])('%p %s → %p minor units', (input, currency, expected) => {
    expect(parseAmount(input, currency, 'amount', MAX)).toBe(expected);
  });

  it.each([
    ['12.345', 'at most 2 decimal places for EUR'],
    ['0', 'must be greater than zero'],
    ['0.00', 'must be greater than zero'],
    ['-5', 'is not a positive decimal amount'],
    ['1e3', 'is not a positive decimal amount'],
    ['12,34', 'is not a positive decimal amount'],
    ['', 'is not a positive decimal amount'],
    [' 5', 'is not a positive decimal amount'],
    ['5\n', 'is not a positive decimal amount'],
    ['+5', 'is not a positive decimal amount'],
    ['5.', 'is not a positive decimal amount'],
    ['.5', 'is not a positive decimal amount'],
    ['1000000.01', 'must not exceed 1000000.00'],
    [null, 'must be a decimal string'],
    [Number.NaN, 'must be a decimal string'],
    [{}, 'must be a decimal string'],
  ])('refuses %p: %s, naming the field', (input, message) => {
    let err: unknown;
    try {
      parseAmount(input, 'EUR', 'credit_transfers[2].amount', MAX);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PaystreamError);
    expect((err as PaystreamError).message).toContain(message);
    expect((err as PaystreamError).details.field).toBe('credit_transfers[2].amount');
  });

  it('takes a large amount exactly as a string, and refuses it as a JSON number that cannot hold it exactly', () => {
    const huge = 10n ** 18n;
    // 17 significant digits: the double read from this number prints as 90071992547409.9, another amount.
    expect(parseAmount('90071992547409.91', 'EUR', 'amount', huge)).toBe(9_007_199_254_740_991n);
    expect(() => parseAmount(90071992547409.91, 'EUR', 'amount', huge)).toThrow(
      'amount: is too large to be exact as a JSON number; send it as a decimal string',
    );
    expect(() => parseAmount(10_000_000_000_000, 'EUR', 'amount', huge)).toThrow(/too large to be exact/);
    // Up to 15 significant digits a number is read exactly.
    expect(parseAmount(9_999_999_999_999.99, 'EUR', 'amount', huge)).toBe(999_999_999_999_999n);
    expect(parseAmount(999_999_999_999_999, 'JPY', 'amount', huge)).toBe(999_999_999_999_999n);
    expect(parseAmount(1234567.89, 'EUR', 'amount', huge)).toBe(123_456_789n);
  });

  it('refuses an unsupported currency', () => {
    expect(() => parseAmount('1', 'XXX', 'amount', MAX)).toThrow(/currency XXX is not supported/);
  });
});

describe('formatAmount', () => {
  it.each([
    [1_234n, 'EUR', '12.34'],
    [5n, 'EUR', '0.05'],
    [-7_001n, 'USD', '-70.01'],
    [300n, 'JPY', '300'],
  ])('%p %s → %s', (minor, currency, text) => {
    expect(formatAmount(minor, currency)).toBe(text);
  });
});
