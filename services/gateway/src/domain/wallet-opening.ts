import type { LedgerCommand, LedgerResult } from '../../../platform/src/sdk/event-types.generated';

export interface WalletToOpen {
  walletId: string;
  ownerKind: 'CLIENT' | 'MERCHANT';
  ownerId: string;
  currency: string;
}

/** The id of `openWalletCommand` for this wallet. */
export const openWalletCommandId = (walletId: string): string => `open:${walletId}`;

/**
 * The ledger command that opens a wallet's account. Its id is a function of the wallet alone (`open:<wallet>`), so the
 * creation and every later send of it by the sweep are one command to the ledger: applied at most once, and a repeat
 * within the deduplication window is answered with the first result.
 */
export function openWalletCommand(wallet: WalletToOpen, issuedAt: Date): LedgerCommand {
  return {
    commandId: openWalletCommandId(wallet.walletId),
    accountId: wallet.walletId,
    issuedAt,
    command: {
      'paystream.ledger.OpenAccount': {
        ownerKind: wallet.ownerKind,
        ownerId: wallet.ownerId,
        currency: wallet.currency,
        allowNegative: false,
      },
    },
  };
}

/**
 * What a result of `openWalletCommand` says about the wallet: `opened` when the account exists — accepted, a repeat
 * answered with the first acceptance, or ACCOUNT_EXISTS (a repeat past the deduplication window finds the account the
 * first one opened: wallet ids are random, so no other command opens it); `refused` with the ledger's code otherwise,
 * and the account will never open under this id.
 */
export function openingOutcome(result: LedgerResult): { opened: true } | { opened: false; code: string } {
  const o = result.outcome;
  return 'paystream.ledger.CommandAccepted' in o
    ? { opened: true }
    : openingOutcomeOf(false, o['paystream.ledger.CommandRejected'].code);
}

/** `openingOutcome` of a result as the read model keeps it (accepted, or the rejection's code). */
export function openingOutcomeOf(
  accepted: boolean,
  rejectionCode: string | null,
): { opened: true } | { opened: false; code: string } {
  if (accepted || rejectionCode === 'ACCOUNT_EXISTS') return { opened: true };
  return { opened: false, code: rejectionCode ?? 'UNKNOWN' };
}
