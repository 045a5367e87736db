import { invalid } from './api-error';
import { parseIsoInstant } from '../../../platform/src/iso-instant';
import { isReversalEntry } from '../../../platform/src/sdk/ledger-ids';
import { formatAmount } from './money';
import { onlyParameters, WALLET_TOKEN } from './requests';

/**
 * A wallet's operation history as seed 004 shows it, from `operation_history` rows (signed minor units: a debit of
 * the wallet is negative). Newest first; keyset pagination on (occurred_at, entry_id), both descending, so a page is
 * stable while new operations arrive.
 */

export interface HistoryRow {
  entryId: string;
  walletId: string;
  counterpartId: string | null;
  kind: string;
  amountMinor: bigint;
  currency: string;
  summary: string | null;
  success: boolean;
  occurredAt: Date;
}

export interface HistoryItem {
  summary: string;
  source__token: string | null;
  target__token: string | null;
  amount: string;
  currency: string;
  type: string;
  success: boolean;
  date: string;
}

const isSystem = (id: string | null) => id === null || id.startsWith('system:');

export function historyItem(row: HistoryRow): HistoryItem {
  const out = row.amountMinor < 0n;
  const counterpart = isSystem(row.counterpartId) ? null : row.counterpartId;
  // A reversal is a Credit too, but of the payer's own money coming back from a payee that could not take it: shown
  // as a charge received, it would read as the merchant paying the client.
  const type =
    row.kind === 'DEPOSIT'
      ? 'deposit'
      : row.kind === 'CHARGE'
        ? 'charge'
        : row.kind === 'CREDIT'
          ? isReversalEntry(row.entryId)
            ? 'reversal'
            : 'charge_received'
          : row.kind.toLowerCase();
  return {
    summary: row.summary ?? (row.kind === 'DEPOSIT' ? 'deposit' : ''),
    source__token: out ? row.walletId : counterpart,
    target__token: out ? counterpart : row.walletId,
    amount: formatAmount(out ? -row.amountMinor : row.amountMinor, row.currency),
    currency: row.currency,
    type,
    success: row.success,
    date: row.occurredAt.toISOString(),
  };
}

export interface Cursor {
  occurredAt: Date;
  entryId: string;
}

export function encodeCursor(row: Pick<HistoryRow, 'occurredAt' | 'entryId'>): string {
  return Buffer.from(JSON.stringify([row.occurredAt.toISOString(), row.entryId]), 'utf8').toString('base64url');
}

export function decodeCursor(text: string): Cursor {
  try {
    const parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      typeof parsed[0] === 'string' &&
      typeof parsed[1] === 'string'
    ) {
      const occurredAt = new Date(parsed[0]);
      if (!Number.isNaN(occurredAt.getTime())) return { occurredAt, entryId: parsed[1] };
    }
  } catch {
    // fall through to the validation error
  }
  throw invalid('cursor', 'is not a cursor returned by this API');
}

export interface HistoryQuery {
  limit: number;
  cursor?: Cursor;
  from?: Date;
  to?: Date;
}

export const MAX_PAGE = 200;

function instant(value: string, field: string): Date {
  const parsed = parseIsoInstant(value);
  if (parsed === 'malformed')
    throw invalid(field, 'must be an ISO-8601 date or date-time, e.g. 2026-11-24 or 2026-11-24T10:00:00Z');
  if (parsed === 'no such day') throw invalid(field, 'is not a valid date');
  return parsed;
}

export interface WalletListQuery {
  limit: number;
  /** The last wallet of the page before: the page starts after it. */
  after?: string;
}

/** A client's wallets come a page of at most this many at a time (a limit of 0 on wallets makes them unbounded). */
export const MAX_WALLET_PAGE = 1_000;

/** `/wallet/list`'s `limit` (1–1000, default 1000) and `cursor` (the last wallet of the page before). */
export function parseWalletListQuery(query: Query): WalletListQuery {
  onlyParameters(query, ['limit', 'cursor']);
  const one = (key: string) => single(query, key);
  const q: WalletListQuery = { limit: pageLimit(one('limit'), MAX_WALLET_PAGE, MAX_WALLET_PAGE) };
  const cursor = one('cursor');
  if (cursor !== undefined) {
    if (!WALLET_TOKEN.test(cursor)) throw invalid('cursor', 'is not a cursor returned by this API');
    q.after = cursor;
  }
  return q;
}

type Query = Record<string, string | string[] | undefined>;

function single(query: Query, key: string): string | undefined {
  const v = query[key];
  if (Array.isArray(v)) throw invalid(key, 'may be given once');
  return v;
}

function pageLimit(text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max)
    throw invalid('limit', `must be an integer from 1 to ${max}`);
  return Number(text);
}

/** `limit` (1–200, default 50), `cursor`, `from` (inclusive) and `to` (exclusive). */
const HISTORY_PARAMETERS = ['limit', 'cursor', 'from', 'to'];

export function parseHistoryQuery(query: Query): HistoryQuery {
  const one = (key: string) => single(query, key);
  // A misspelt filter (`form=`, `limt=`) would otherwise answer a page other than the one asked for, silently.
  onlyParameters(query, HISTORY_PARAMETERS);
  const q: HistoryQuery = { limit: pageLimit(one('limit'), 50, MAX_PAGE) };
  const cursor = one('cursor');
  if (cursor !== undefined) q.cursor = decodeCursor(cursor);
  const from = one('from');
  if (from !== undefined) q.from = instant(from, 'from');
  const to = one('to');
  if (to !== undefined) q.to = instant(to, 'to');
  if (q.from && q.to && q.from >= q.to) throw invalid('to', 'must be after from');
  return q;
}
