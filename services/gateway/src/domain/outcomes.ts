import type { LedgerCommand, LedgerResult } from '../../../platform/src/sdk/event-types.generated';
import { creditCommandId } from '../../../platform/src/sdk/ledger-ids';
import { answersRequest, bulkRequest, requestFingerprint } from '../../../platform/src/sdk/ledger-requests';
import { ApiError } from './api-error';

export type Accepted = LedgerResult['outcome'] extends infer U
  ? U extends { 'paystream.ledger.CommandAccepted': infer A }
    ? A
    : never
  : never;

/**
 * The accepted outcome of a result, or the ApiError a client should see for its rejection. The ledger's own message is
 * for operators and may state an account's balance; a rejection that concerns an account's state is worded here
 * instead, so a merchant whose charge is refused learns that the wallet cannot cover it, not what it holds.
 */
export function acceptedOrError(result: LedgerResult, subject: { field: string; what: string }): Accepted {
  const o = result.outcome;
  if ('paystream.ledger.CommandAccepted' in o) return o['paystream.ledger.CommandAccepted'];
  const { code, message } = o['paystream.ledger.CommandRejected'];
  switch (code) {
    case 'INSUFFICIENT_FUNDS':
      return fail('UNPROCESSABLE', code, `insufficient funds: ${subject.what} cannot cover the amount`, 'amount');
    case 'UNKNOWN_ACCOUNT':
      return fail('NOT_FOUND', 'WALLET_NOT_FOUND', `${subject.what} does not exist`, subject.field);
    case 'ACCOUNT_CLOSED':
      return fail('UNPROCESSABLE', code, `${subject.what} is closed`, subject.field);
    case 'CURRENCY_MISMATCH':
      return fail('UNPROCESSABLE', code, `${subject.what} holds another currency`, subject.field);
    case 'COMMAND_ID_REUSED':
      throw reusedKeyError();
    case 'INVALID_AMOUNT':
    case 'AMOUNT_OVERFLOW':
      return fail('UNPROCESSABLE', code, message, 'amount');
    default:
      return fail('UNPROCESSABLE', code, message, subject.field);
  }
}

function fail(code: 'UNPROCESSABLE' | 'NOT_FOUND', apiCode: string, message: string, field: string): never {
  throw new ApiError(code, apiCode, message, field);
}

/**
 * The answer to a request whose Idempotency-Key the ledger knows from another request (COMMAND_ID_REUSED): the gateway
 * had forgotten the key (past PAYSTREAM_IDEMPOTENCY_TTL_HOURS, or its Redis lost), the ledger had not. The same answer
 * as for a key the gateway still remembers with another body; nothing was applied.
 */
export function reusedKeyError(): ApiError {
  return new ApiError(
    'UNPROCESSABLE',
    'IDEMPOTENCY_KEY_REUSED',
    'this Idempotency-Key was used with a different request; nothing was applied: send this request with a new key',
    'Idempotency-Key',
  );
}

/**
 * What the read model's first result under a derived command id says of sending `sent` under it again (an
 * Idempotency-Key or a funding id the gateway no longer remembers): `OTHER_REQUEST` when the first command asked for
 * something else (the ledger would refuse it, COMMAND_ID_REUSED: the same test, {@link answersRequest}); `FORGOTTEN`
 * when the first was processed longer ago than the ledger remembers ids (it would take the command for new, under the
 * first one's ids); otherwise undefined, and the ledger answers it.
 */
export function firstUseVerdict(
  first: { requestFingerprint: bigint | null; processedAt: Date } | undefined,
  sent: LedgerCommand,
  now: Date,
  ledgerDedupWindowMs: number,
): 'OTHER_REQUEST' | 'FORGOTTEN' | undefined {
  if (!first) return undefined;
  if (first.requestFingerprint !== null && !answersRequest(first.requestFingerprint, sent)) return 'OTHER_REQUEST';
  if (first.processedAt.getTime() < now.getTime() - ledgerDedupWindowMs) return 'FORGOTTEN';
  return undefined;
}

/**
 * Whether the first result under an operation's id (from the read model) answers the request the operation sent, by
 * the fingerprint the gateway recorded when it answered 202 (a decimal string). Records or results without one answer
 * as before fingerprints existed: yes.
 *
 * A bulk's fingerprint counts its credit transfers; records and results written before it did carry the fingerprint
 * of its id, total and item count only. A first result of that form is compared on those. A record of that form (a
 * gateway of the earlier release answered the 202) cannot tell which credit transfers it sent: its result answers it,
 * as it did then.
 */
export function operationAnsweredBy(
  op: {
    kind: string;
    requestFingerprint?: string;
    bulkId?: string;
    bulk?: { totalMinor: string; currency: string; itemCount: number };
  },
  first: { accountId: string; requestFingerprint: bigint | null },
): boolean {
  if (op.requestFingerprint === undefined || first.requestFingerprint === null) return true;
  const firstFingerprint = first.requestFingerprint.toString();
  if (op.requestFingerprint === firstFingerprint) return true;
  if (op.kind !== 'BULK_TRANSFER' || op.bulk === undefined || op.bulkId === undefined) return false;
  const { totalMinor, currency, itemCount } = op.bulk;
  const byTotals = String(
    requestFingerprint(first.accountId, bulkRequest(op.bulkId, BigInt(totalMinor), currency, itemCount)),
  );
  return op.requestFingerprint === byTotals || firstFingerprint === byTotals;
}

/**
 * A bulk sent without an Idempotency-Key whose payments were sent before as `bulkId` (when known): accepted (at `at`,
 * when known), or answered 202 and not settled yet (`pending`).
 */
export function duplicateBulkError(bulkId: string | undefined, how: { pending?: boolean; at?: Date } = {}): ApiError {
  return new ApiError(
    'CONFLICT',
    'DUPLICATE_REQUEST',
    `a bulk transfer with the same credit transfers was ${how.pending ? 'sent' : 'accepted'} already` +
      (bulkId ? ` as ${bulkId}` : '') +
      (how.at ? ` (${how.at.toISOString()})` : '') +
      (how.pending ? ', answered 202 then (GET /bulk_transfer/:id shows its outcome)' : '') +
      '; send an Idempotency-Key to repeat payments on purpose',
    'body',
  );
}

/**
 * A ledger command's outcome as the gateway answers it: accepted with the account's balance after it (at its
 * version), or rejected with the ledger's code. `live` is the result itself when it came from `ledger.results`.
 */
export type Settled =
  | { accepted: true; accountId: string; balanceAfterMinor: bigint; balanceVersion: bigint; live?: LedgerResult }
  | { accepted: false; code: string };

export function settled(result: LedgerResult): Settled {
  const o = result.outcome;
  if ('paystream.ledger.CommandAccepted' in o) {
    const a = o['paystream.ledger.CommandAccepted'];
    return {
      accepted: true,
      accountId: result.accountId,
      balanceAfterMinor: a.balanceAfterMinor,
      balanceVersion: a.balanceVersion,
      live: result,
    };
  }
  return { accepted: false, code: o['paystream.ledger.CommandRejected'].code };
}

/**
 * `settled` for a result as the read model keeps it (`ledger_results`); undefined for an acceptance written before
 * the read model kept its balance and version (migration 0003), which cannot be answered from there.
 */
export function settledInReadModel(row: {
  accountId: string;
  accepted: boolean;
  rejectionCode: string | null;
  balanceAfterMinor: bigint | null;
  balanceVersion: bigint | null;
}): Settled | undefined {
  if (!row.accepted) return { accepted: false, code: row.rejectionCode ?? 'REJECTED' };
  if (row.balanceAfterMinor === null || row.balanceVersion === null) return undefined;
  return {
    accepted: true,
    accountId: row.accountId,
    balanceAfterMinor: row.balanceAfterMinor,
    balanceVersion: row.balanceVersion,
  };
}

const CHARGE = 'chg:';

/** The ledger command id of the charge under `operationId` (the 202's `operation_id` is this id). */
export const chargeCommandId = (operationId: string): string => `${CHARGE}${operationId}`;

/**
 * The follow-up command whose result an operation's outcome still waits for once its own command's result is known:
 * a charge the ledger accepted is done only once the merchant's credit has a result (landed, or refused and the money
 * reversed to the payer, CHARGE_REVERSED); any other operation waits for nothing more.
 */
export function awaitedFollowUp(commandId: string, accepted: boolean): string | undefined {
  return accepted && commandId.startsWith(CHARGE) ? creditCommandId(commandId) : undefined;
}
