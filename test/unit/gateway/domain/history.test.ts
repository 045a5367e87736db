import {
  decodeCursor,
  encodeCursor,
  historyItem,
  parseHistoryQuery,
  parseWalletListQuery,
} from '../../../../services/gateway/src/domain/history';

const at = new Date('2026-11-24T10:00:00.123Z');
const row = (over: Partial<Parameters<typeof historyItem>[0]>) => ({
  entryId: 'e1',
  walletId: 'W',
  counterpartId: 'M',
  kind: 'CHARGE',
  amountMinor: -3_025n,
  currency: 'EUR',
  summary: 'coffee',
  success: true,
  occurredAt: at,
  ...over,
});

describe('wallet history', () => {
  it('shows debits, credits and deposits as seed 004 does', () => {
    expect(historyItem(row({}))).toEqual({
      summary: 'coffee',
      source__token: 'W',
      target__token: 'M',
      amount: '30.25',
      currency: 'EUR',
      type: 'charge',
      success: true,
      date: '2026-11-24T10:00:00.123Z',
    });
    expect(historyItem(row({ kind: 'CREDIT', amountMinor: 3_025n, success: false }))).toMatchObject({
      source__token: 'M',
      target__token: 'W',
      type: 'charge_received',
      success: false,
    });
    // The payer's leg of a refused credit's reversal: its own money back from the merchant, not a payment from it.
    expect(
      historyItem(
        row({
          entryId: 'chg:op-1:credit:reversal:1',
          kind: 'CREDIT',
          amountMinor: 3_025n,
          summary: 'reversed: AMOUNT_OVERFLOW',
        }),
      ),
    ).toMatchObject({ source__token: 'M', target__token: 'W', amount: '30.25', type: 'reversal' });
    // A credit whose charge's id merely contains the word is still a credit.
    expect(historyItem(row({ entryId: 'chg:reversal:credit:1', kind: 'CREDIT', amountMinor: 1n })).type).toBe(
      'charge_received',
    );
    expect(
      historyItem(row({ kind: 'DEPOSIT', amountMinor: 100n, counterpartId: 'system:external:EUR', summary: null })),
    ).toMatchObject({
      summary: 'deposit',
      source__token: null,
      target__token: 'W',
      amount: '1.00',
    });
  });

  it('round-trips cursors and refuses foreign ones', () => {
    expect(decodeCursor(encodeCursor({ occurredAt: at, entryId: 'chg:1:0' }))).toEqual({
      occurredAt: at,
      entryId: 'chg:1:0',
    });
    expect(() => decodeCursor('bm9wZQ')).toThrow(/cursor/);
  });

  it("reads /wallet/list's page: 1,000 wallets by default and at most, after a wallet token", () => {
    const token = 'A'.repeat(31) + '_';
    expect(parseWalletListQuery({})).toEqual({ limit: 1_000 });
    expect(parseWalletListQuery({ limit: '1', cursor: token })).toEqual({ limit: 1, after: token });
    const refused: [Record<string, string | string[]>, string][] = [
      [{ limit: '1001' }, 'limit'],
      [{ limit: '0' }, 'limit'],
      [{ limit: '1.5' }, 'limit'],
      [{ cursor: 'short' }, 'cursor'],
      [{ cursor: [token, token] }, 'cursor'],
      [{ currency: 'USD' }, 'currency'],
    ];
    for (const [query, field] of refused) expect(() => parseWalletListQuery(query)).toThrow(new RegExp(`^${field}:`));
  });

  it('validates limit, from and to', () => {
    expect(parseHistoryQuery({})).toEqual({ limit: 50 });
    expect(parseHistoryQuery({ limit: '200', from: '2026-11-01', to: '2026-11-24T10:00:00Z' })).toMatchObject({
      limit: 200,
    });
    expect(() => parseHistoryQuery({ limit: '201' })).toThrow(/limit/);
    expect(() => parseHistoryQuery({ limit: ['1', '2'] })).toThrow(/limit/);
    expect(() => parseHistoryQuery({ from: 'yesterday' })).toThrow(/from/);
    expect(() => parseHistoryQuery({ from: '2026-11-24', to: '2026-11-01' })).toThrow(/to/);
    // Days that do not exist are refused, not rolled over into the next month.
    for (const day of ['2026-02-29', '2026-02-30', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-00'])
      expect(() => parseHistoryQuery({ from: day })).toThrow('from: is not a valid date');
    expect(() => parseHistoryQuery({ to: '2026-02-30T10:00:00Z' })).toThrow('to: is not a valid date');
    expect(parseHistoryQuery({ from: '2028-02-29' }).from).toEqual(new Date(Date.UTC(2028, 1, 29)));
    expect(parseHistoryQuery({ from: '2026-12-31T23:59:59.5+01:00' }).from).toEqual(
      new Date('2026-12-31T22:59:59.500Z'),
    );
  });

  it('refuses a parameter it does not read, naming it, instead of answering an unfiltered page', () => {
    const fieldOf = (query: Record<string, string>) => {
      try {
        parseHistoryQuery(query);
      } catch (err) {
        return (err as { details: { field?: string } }).details.field;
      }
      return undefined;
    };
    expect(fieldOf({ form: '2026-11-01' })).toBe('form');
    expect(fieldOf({ limit: '10', limt: '10' })).toBe('limt');
    expect(fieldOf({ ['x'.repeat(500)]: '1' })).toBe(`${'x'.repeat(64)}…`);
    expect(fieldOf({ limit: '10', cursor: undefined as unknown as string })).toBeUndefined();
  });
});
