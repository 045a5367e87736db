import {
  openingOutcome,
  openingOutcomeOf,
  openWalletCommand,
  openWalletCommandId,
} from '../../../../services/gateway/src/domain/wallet-opening';
import type { LedgerResult } from '../../../../services/platform/src/sdk/event-types.generated';

const wallet = { walletId: 'w_abc', ownerKind: 'MERCHANT' as const, ownerId: 'pty_shop', currency: 'EUR' };

const result = (outcome: LedgerResult['outcome'], duplicate = false): LedgerResult => ({
  commandId: 'open:w_abc',
  accountId: 'w_abc',
  processedAt: new Date(0),
  outcome,
  duplicate,
  request: null,
  requestFingerprint: null,
});
const accepted = (duplicate: boolean) =>
  result(
    {
      'paystream.ledger.CommandAccepted': {
        balanceAfterMinor: 0n,
        currency: 'EUR',
        entryIds: [],
        balanceVersion: 1n,
        entries: [],
      },
    },
    duplicate,
  );
const rejected = (code: string) =>
  result({
    'paystream.ledger.CommandRejected': { code, message: 'operator text' },
  } as unknown as LedgerResult['outcome']);

describe('openWalletCommand', () => {
  it('is one command per wallet, whenever it is built: the creation and every sweep send the same id', () => {
    const first = openWalletCommand(wallet, new Date('2026-12-06T10:00:00Z'));
    const again = openWalletCommand(wallet, new Date('2026-12-06T10:05:00Z'));
    expect(first.commandId).toBe('open:w_abc');
    expect(openWalletCommandId('w_abc')).toBe(first.commandId);
    expect(again.commandId).toBe(first.commandId);
    expect(first).toEqual({
      commandId: 'open:w_abc',
      accountId: 'w_abc',
      issuedAt: new Date('2026-12-06T10:00:00Z'),
      command: {
        'paystream.ledger.OpenAccount': {
          ownerKind: 'MERCHANT',
          ownerId: 'pty_shop',
          currency: 'EUR',
          allowNegative: false,
        },
      },
    });
  });
});

describe('openingOutcome', () => {
  it('an acceptance, first or repeated, means the account is open', () => {
    expect(openingOutcome(accepted(false))).toEqual({ opened: true });
    expect(openingOutcome(accepted(true))).toEqual({ opened: true });
  });

  it('ACCOUNT_EXISTS means open too: a repeat past the deduplication window finds the account the first one opened', () => {
    expect(openingOutcome(rejected('ACCOUNT_EXISTS'))).toEqual({ opened: true });
  });

  it('any other rejection means the account will never open, with the ledger’s code', () => {
    expect(openingOutcome(rejected('INVALID_COMMAND'))).toEqual({ opened: false, code: 'INVALID_COMMAND' });
    expect(openingOutcome(rejected('ACCOUNT_CLOSED'))).toEqual({ opened: false, code: 'ACCOUNT_CLOSED' });
  });
});

describe('openingOutcomeOf (a result as the read model keeps it)', () => {
  it('reads an acceptance and ACCOUNT_EXISTS as open, any other rejection as refused', () => {
    expect(openingOutcomeOf(true, null)).toEqual({ opened: true });
    expect(openingOutcomeOf(false, 'ACCOUNT_EXISTS')).toEqual({ opened: true });
    expect(openingOutcomeOf(false, 'INVALID_COMMAND')).toEqual({ opened: false, code: 'INVALID_COMMAND' });
  });
});
