import type { LedgerReadModelCheck } from '../../../services/ledger/src/adapters/read-model-check';
import { ledgerCheckReport } from '../../../services/cli/src/ledger-check-report';

const sound: LedgerReadModelCheck = {
  postings: { checked: 4, unbalanced: [] },
  unbalancedPostings: 0,
  accounts: { checked: 2, differing: [] },
  differingAccounts: 0,
  balances: { compared: 2, atOtherVersion: 0, differing: [] },
  differingBalances: 0,
  negative: [],
  negativeAccounts: 0,
  currencies: [{ currency: 'EUR', sumMinor: 0n }],
};

describe('ledgerCheckReport', () => {
  it('ends with ok when nothing was found', () => {
    expect(ledgerCheckReport(sound).at(-1)).toBe('ok: the read model holds every guarantee checked');
  });

  it('names each finding, says how many more there are, and fails on a currency whose entries do not sum to zero', () => {
    const lines = ledgerCheckReport({
      ...sound,
      postings: {
        checked: 4,
        unbalanced: [
          { postingId: 'chg:1', sums: [{ currency: 'EUR', sumMinor: 2n }] },
          {
            postingId: 'fx:2',
            sums: [
              { currency: 'EUR', sumMinor: -1n },
              { currency: 'USD', sumMinor: 3n },
            ],
          },
        ],
      },
      unbalancedPostings: 21,
      currencies: [{ currency: 'EUR', sumMinor: 2n }],
    });
    expect(lines).toContain('postings: 4 checked, 21 whose entries do not sum to zero');
    expect(lines).toContain('    posting chg:1: EUR entries sum to 2 minor units');
    expect(lines).toContain('    posting fx:2: EUR entries sum to -1 minor units, USD entries sum to 3 minor units');
    expect(lines).toContain('    … and 19 more');
    expect(lines).toContain('money per currency (all entries, system accounts included): EUR 2');
    expect(lines.at(-1)).toBe('FAILED: see the findings above');
    // Only the currency's total off is a failure too.
    expect(ledgerCheckReport({ ...sound, currencies: [{ currency: 'USD', sumMinor: -1n }] }).at(-1)).toBe(
      'FAILED: see the findings above',
    );
  });
});
