import {
  answersRequest,
  commandFingerprint,
  describeCommand,
  requestFingerprint,
} from '../../../../services/platform/src/sdk/ledger-requests';
import type { BulkCreditItem, LedgerCommand } from '../../../../services/platform/src/sdk/event-types.generated';
import { withCredits } from '../../../support/ledger-model';

const charge: LedgerCommand = {
  commandId: 'chg-1',
  accountId: 'alice',
  issuedAt: new Date('2026-11-24T10:00:00Z'),
  command: {
    'paystream.ledger.Charge': { merchantAccountId: 'shop', amountMinor: 300n, currency: 'EUR', summary: 'coffee' },
  },
};

describe('ledger requests: what a command asks for, as one number', () => {
  it('is the same for the same request, whatever the command id or time, and differs for each field', () => {
    const base = describeCommand(charge);
    const f = requestFingerprint('alice', base);
    expect(Number.isSafeInteger(f) && f >= 0 && f < 2 ** 52).toBe(true);
    expect(requestFingerprint('alice', describeCommand({ ...charge, commandId: 'other', issuedAt: new Date(0) }))).toBe(
      f,
    );
    const variants = [
      requestFingerprint('alicf', base),
      requestFingerprint('alice', { ...base, kind: 'TRANSFER' }),
      requestFingerprint('alice', { ...base, amountMinor: 301n }),
      requestFingerprint('alice', { ...base, amountMinor: null }),
      requestFingerprint('alice', { ...base, currency: 'USD' }),
      requestFingerprint('alice', { ...base, counterpartyAccountId: 'shoq' }),
      requestFingerprint('alice', { ...base, summary: '' }),
      requestFingerprint('alice', { ...base, summary: null }),
      requestFingerprint('alice', { ...base, reference: 'coffee' }),
      requestFingerprint('alice', { ...base, itemCount: 1 }),
      // Field boundaries count: the same characters split differently are another request.
      requestFingerprint('alice', { ...base, counterpartyAccountId: 'sho', summary: 'pcoffee' }),
    ];
    expect(new Set([f, ...variants]).size).toBe(variants.length + 1);
  });

  it('keeps its values across releases: results already written carry them', () => {
    // Fingerprints are stored in ledger.results and compared with ones computed later, by other processes; a change
    // to the function would make every repeat of an earlier command look like another request.
    expect(requestFingerprint('alice', describeCommand(charge))).toBe(425438830649048);
    expect(commandFingerprint(charge)).toBe(425438830649048);
    const deposit: LedgerCommand = {
      commandId: 'fund-1',
      accountId: 'org',
      issuedAt: new Date(),
      command: { 'paystream.ledger.Deposit': { amountMinor: 1500n, currency: 'EUR', reference: 'SEPA in' } },
    };
    expect(requestFingerprint('org', describeCommand(deposit))).toBe(2272166032593371);
  });

  const payroll: LedgerCommand = {
    commandId: 'bulk:b-1',
    accountId: 'org',
    issuedAt: new Date('2026-12-07T00:00:00Z'),
    command: {
      'paystream.ledger.BulkDebit': {
        bulkId: 'b-1',
        currency: 'EUR',
        credits: [
          {
            itemId: '1',
            amountMinor: 2000n,
            counterpartyName: 'Bip Bip',
            counterpartyIban: 'DE89370400440532013000',
            counterpartyBic: 'COBADEFFXXX',
            description: 'December',
          },
          {
            itemId: '2',
            amountMinor: 500n,
            counterpartyName: 'Wile E Coyote',
            counterpartyIban: 'GB82WEST12345698765432',
            counterpartyBic: 'WESTGB2L',
            description: 'December',
          },
        ],
      },
    },
  };
  const variant = (change: (credits: BulkCreditItem[]) => BulkCreditItem[]) => withCredits(payroll, change);

  it("counts a bulk's credit transfers, which its description (id, total, count) leaves out", () => {
    const f = commandFingerprint(payroll);
    expect(f).toBe(commandFingerprint({ ...payroll, issuedAt: new Date(0) }));
    const others = [
      variant((c) => [{ ...c[0]!, counterpartyIban: 'FR1420041010050500013M02606' }, c[1]!]),
      variant((c) => [{ ...c[0]!, counterpartyBic: 'DEUTDEFFXXX' }, c[1]!]),
      variant((c) => [{ ...c[0]!, counterpartyName: 'Bip' }, c[1]!]),
      variant((c) => [c[0]!, { ...c[1]!, description: 'November' }]),
      variant((c) => [
        { ...c[0]!, amountMinor: 1500n },
        { ...c[1]!, amountMinor: 1000n },
      ]),
      variant((c) => [
        { ...c[0]!, itemId: '2' },
        { ...c[1]!, itemId: '1' },
      ]),
      variant((c) => [c[1]!, c[0]!]),
      // A field boundary moved between two transfers' texts.
      variant((c) => [
        { ...c[0]!, description: 'DecemberW' },
        { ...c[1]!, counterpartyName: 'ile E Coyote' },
      ]),
    ];
    for (const other of others) expect(describeCommand(other)).toEqual(describeCommand(payroll));
    expect(new Set([f, ...others.map((o) => commandFingerprint(o))]).size).toBe(others.length + 1);
    // Pinned, as the values above: results carry it and later processes compare with it.
    expect(f).toBe(1605937494000474);
    // Other commands' fingerprints are their descriptions', as results written before carry them.
    expect(commandFingerprint(charge)).toBe(requestFingerprint('alice', describeCommand(charge)));
  });

  it("answers a bulk's repeat from a first result of either form, and nothing else", () => {
    const byTotals = BigInt(requestFingerprint('org', describeCommand(payroll)));
    expect(byTotals).not.toBe(BigInt(commandFingerprint(payroll)));
    expect(answersRequest(BigInt(commandFingerprint(payroll)), payroll)).toBe(true);
    expect(answersRequest(byTotals, payroll)).toBe(true);
    const other = variant((c) => [{ ...c[0]!, counterpartyIban: 'FR1420041010050500013M02606' }, c[1]!]);
    expect(answersRequest(BigInt(commandFingerprint(payroll)), other)).toBe(false);
    // The earlier form cannot tell those apart: a result of that form answers any bulk of its id, total and count.
    expect(answersRequest(byTotals, other)).toBe(true);
    expect(
      answersRequest(
        byTotals,
        variant((c) => [c[0]!]),
      ),
    ).toBe(false);
    // For other commands only their own fingerprint answers.
    expect(answersRequest(BigInt(commandFingerprint(charge)), charge)).toBe(true);
    expect(answersRequest(BigInt(commandFingerprint(charge)) + 1n, charge)).toBe(false);
  });

  it('spreads 100,000 requests differing by one amount over as many values', () => {
    const base = describeCommand(charge);
    const seen = new Set<number>();
    for (let i = 1n; i <= 100_000n; i++) seen.add(requestFingerprint('alice', { ...base, amountMinor: i }));
    expect(seen.size).toBe(100_000);
    expect([...seen].every((f) => Number.isSafeInteger(f) && f >= 0 && f < 2 ** 52)).toBe(true);
  });
});
