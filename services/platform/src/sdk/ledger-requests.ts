/**
 * What a ledger command asks for, as its result carries it (`LedgerResult.request`) and as one number
 * (`requestFingerprint`, in `LedgerResult.requestFingerprint`): part of the ledger's contract, so a sender that reuses
 * a command id can tell whether the ledger's first result under it answered the same request.
 *
 * Pure functions of their arguments.
 */
import type { BulkCreditItem, CommandRequest, LedgerCommand } from './event-types.generated';

/** The largest amount or balance in minor units: the signed 64-bit range. */
export const MAX_MINOR = 2n ** 63n - 1n;

/**
 * What a request, as a result describes it, asks for, as one number: equal for the same request, and for different
 * ones equal only by a 52-bit hash collision. Time (`issuedAt`) is not part of it: a retry is stamped anew. Below
 * 2^52, so Avro writes it on its plain varint path. A result's `requestFingerprint` is this for every command but a
 * bulk, whose credit transfers count too ({@link commandFingerprint}).
 */
export function requestFingerprint(accountId: string, r: CommandRequest): number {
  return hash52(requestText(accountId, r));
}

/**
 * What `cmd` asked for, as one number: the ledger's `requestFingerprint` for its result. A bulk's counts its credit
 * transfers in order (id, amount, counterparty name, IBAN and BIC, description), not only its id, total and item count
 * as its result describes it: two bulks of one id, total and count paying other people are other requests.
 */
export function commandFingerprint(cmd: LedgerCommand, request: CommandRequest = describeCommand(cmd)): number {
  const body = cmd.command;
  if (!('paystream.ledger.BulkDebit' in body)) return requestFingerprint(cmd.accountId, request);
  return hash52(requestText(cmd.accountId, request) + creditsText(body['paystream.ledger.BulkDebit'].credits));
}

/**
 * Whether a first result under `cmd`'s id that carries `fingerprint` answered the request `cmd` makes. For a bulk, a
 * result written before bulks' credit transfers counted carries the fingerprint of its id, total and item count only
 * ({@link requestFingerprint} of its description); it still answers a repeat that matches those.
 */
export function answersRequest(
  fingerprint: bigint,
  cmd: LedgerCommand,
  request: CommandRequest = describeCommand(cmd),
): boolean {
  if (fingerprint === BigInt(commandFingerprint(cmd, request))) return true;
  return (
    'paystream.ledger.BulkDebit' in cmd.command && fingerprint === BigInt(requestFingerprint(cmd.accountId, request))
  );
}

const requestText = (accountId: string, r: CommandRequest): string =>
  field(accountId) +
  field(r.kind) +
  field(r.amountMinor === null ? null : r.amountMinor.toString()) +
  field(r.currency) +
  field(r.counterpartyAccountId) +
  field(r.summary) +
  field(r.reference) +
  field(r.itemCount === null ? null : String(r.itemCount));

const creditsText = (credits: BulkCreditItem[]): string => {
  let text = '';
  for (const c of credits)
    text +=
      field(c.itemId) +
      field(c.amountMinor.toString()) +
      field(c.counterpartyName) +
      field(c.counterpartyIban) +
      field(c.counterpartyBic) +
      field(c.description);
  return text;
};

/** A field as hashed: its length before it, so no two sequences of fields read alike; `~` for none. */
const field = (value: string | null): string => (value === null ? '~' : `${value.length}:${value}`);

/**
 * FNV-1a over the UTF-16 code units in two 32-bit lanes with different offsets and primes, each finished with an
 * avalanche step that folds in the other lane, then 20 bits of one and 32 of the other.
 */
function hash52(text: string): number {
  let a = 0x811c9dc5;
  let b = 0x6a09e667;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    a = Math.imul(a ^ unit, 0x01000193);
    b = Math.imul(b ^ unit, 0x0100019d);
  }
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b) ^ Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  b = Math.imul(b ^ (b >>> 16), 0x85ebca6b) ^ Math.imul(a ^ (a >>> 13), 0xc2b2ae35);
  return (b & 0xfffff) * 0x100000000 + (a >>> 0);
}

/** What the command asked for, as the ledger carries it in the command's result (`LedgerResult.request`). */
export function describeCommand(cmd: LedgerCommand): CommandRequest {
  const body = cmd.command;
  // Object literals with every field, not spreads of a template: this runs for every command.
  if ('paystream.ledger.OpenAccount' in body) {
    return request('OPEN_ACCOUNT', null, body['paystream.ledger.OpenAccount'].currency, null, null, null, null);
  }
  if ('paystream.ledger.Deposit' in body) {
    const d = body['paystream.ledger.Deposit'];
    return request('DEPOSIT', d.amountMinor, d.currency, null, null, d.reference ?? null, null);
  }
  if ('paystream.ledger.Charge' in body) {
    const c = body['paystream.ledger.Charge'];
    return request('CHARGE', c.amountMinor, c.currency, c.merchantAccountId, c.summary, null, null);
  }
  if ('paystream.ledger.Transfer' in body) {
    const t = body['paystream.ledger.Transfer'];
    return request('TRANSFER', t.amountMinor, t.currency, t.toAccountId, t.description ?? null, null, null);
  }
  if ('paystream.ledger.BulkDebit' in body) {
    const b = body['paystream.ledger.BulkDebit'];
    const total = b.credits.reduce((sum, c) => sum + c.amountMinor, 0n);
    return bulkRequest(b.bulkId, total, b.currency, b.credits.length);
  }
  const c = body['paystream.ledger.Credit'];
  return request('CREDIT', c.amountMinor, c.currency, c.fromAccountId, c.summary ?? null, c.sourceCommandId, null);
}

/**
 * A bulk's request as its result describes it: its id, total (none when outside the 64-bit range) and number of credit
 * transfers, not the transfers themselves.
 */
export function bulkRequest(bulkId: string, totalMinor: bigint, currency: string, itemCount: number): CommandRequest {
  const amount = totalMinor >= 0n && totalMinor <= MAX_MINOR ? totalMinor : null;
  return request('BULK_DEBIT', amount, currency, null, null, bulkId, itemCount);
}

function request(
  kind: CommandRequest['kind'],
  amountMinor: bigint | null,
  currency: string | null,
  counterpartyAccountId: string | null,
  summary: string | null,
  reference: string | null,
  itemCount: number | null,
): CommandRequest {
  return { kind, amountMinor, currency, counterpartyAccountId, summary, reference, itemCount };
}
