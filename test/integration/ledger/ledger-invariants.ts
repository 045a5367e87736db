import type { AccountBalance, LedgerResult } from '../../../services/platform/src/sdk/event-types.generated';
import type { LedgerModel } from '../../support/ledger-model';
import type { LedgerOutcome } from '../../support/ledger-workload';

const codeOf = (r: LedgerResult) =>
  'paystream.ledger.CommandRejected' in r.outcome ? r.outcome['paystream.ledger.CommandRejected'].code : 'ACCEPTED';

/**
 * The invariants of a finished ledger run over `accounts` accounts, checked against `expected`, the in-memory oracle
 * of its commands (a run with no Kafka and no faults): every command exactly one result with the oracle's outcome,
 * balanced postings, no balance below zero, the changelog's balances equal to the entries' sums and the oracle's, and
 * money conserved.
 */
export function checkLedgerInvariants(outcome: LedgerOutcome, expected: LedgerModel, accounts: number): void {
  const expectedResults = [...expected.results.values()];
  // Every command, including the ledger's own credits, has exactly one result, with the oracle's outcome.
  const byId = new Map<string, number>();
  for (const r of outcome.results) if (r.value) byId.set(r.value.commandId, (byId.get(r.value.commandId) ?? 0) + 1);
  const duplicates = [...byId.entries()].filter(([, n]) => n > 1);
  expect(duplicates).toEqual([]);
  expect(byId.size).toBe(expectedResults.length);
  const actualCodes = new Map(outcome.results.map((r) => [r.value?.commandId ?? '', r.value ? codeOf(r.value) : '']));
  const mismatches = expectedResults.filter((r) => actualCodes.get(r.commandId) !== codeOf(r)).map((r) => r.commandId);
  expect(mismatches).toEqual([]);

  // Double entry: each posting sums to zero; entries are unique.
  const postings = new Map<string, bigint>();
  const entryIds = new Set<string>();
  for (const e of outcome.entries) {
    entryIds.add(e.entryId);
    postings.set(e.postingId, (postings.get(e.postingId) ?? 0n) + e.amountMinor);
  }
  expect(entryIds.size).toBe(outcome.entries.length);
  expect([...postings.values()].filter((s) => s !== 0n)).toEqual([]);

  // No balance ever below zero; the changelog's last balance per account equals the sum of its entries and the oracle.
  expect(outcome.balances.filter((b) => b.balanceMinor < 0n && !b.allowNegative)).toEqual([]);
  const last = lastBalances(outcome.balances);
  const sums = new Map<string, bigint>();
  for (const e of outcome.entries) sums.set(e.accountId, (sums.get(e.accountId) ?? 0n) + e.amountMinor);
  expect(last.size).toBe(accounts);
  const wrong: string[] = [];
  for (const [id, b] of last) {
    if (b.balanceMinor !== (sums.get(id) ?? 0n) || b.balanceMinor !== expected.balance(id)) wrong.push(id);
  }
  expect(wrong).toEqual([]);
  // Conservation: all client and merchant money came from deposits; transit is empty once every credit landed.
  expect(sums.get('system:transit:EUR') ?? 0n).toBe(0n);
  const held = [...last.values()].reduce((s, b) => s + b.balanceMinor, 0n);
  expect(held).toBe(-(sums.get('system:external:EUR') ?? 0n));
}

/** Each account's balance record of the highest version. */
export function lastBalances(records: readonly AccountBalance[]): Map<string, AccountBalance> {
  const last = new Map<string, AccountBalance>();
  for (const b of records) if ((last.get(b.accountId)?.version ?? -1n) < b.version) last.set(b.accountId, b);
  return last;
}
