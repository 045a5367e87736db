import {
  commandFingerprint,
  describeCommand,
  requestFingerprint,
} from '../../../../services/platform/src/sdk/ledger-requests';
import type { LedgerCommand } from '../../../../services/platform/src/sdk/event-types.generated';

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

  it('spreads 100,000 requests differing by one amount over as many values', () => {
    const base = describeCommand(charge);
    const seen = new Set<number>();
    for (let i = 1n; i <= 100_000n; i++) seen.add(requestFingerprint('alice', { ...base, amountMinor: i }));
    expect(seen.size).toBe(100_000);
    expect([...seen].every((f) => Number.isSafeInteger(f) && f >= 0 && f < 2 ** 52)).toBe(true);
  });
});
