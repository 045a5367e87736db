import type { LedgerReadModelCheck } from '../../ledger/src/adapters/read-model-check';
import { readModelHolds } from '../../ledger/src/adapters/read-model-check';

const more = (named: number, total: number) => (total > named ? [`    … and ${total - named} more`] : []);

/** `paystream ledger check`: what was checked, each finding named, and the verdict on the last line. */
export function ledgerCheckReport(c: LedgerReadModelCheck): string[] {
  const lines = [`postings: ${c.postings.checked} checked, ${c.unbalancedPostings} whose entries do not sum to zero`];
  for (const p of c.postings.unbalanced)
    lines.push(
      `    posting ${p.postingId}: ` +
        p.sums.map((x) => `${x.currency} entries sum to ${x.sumMinor} minor units`).join(', '),
    );
  lines.push(...more(c.postings.unbalanced.length, c.unbalancedPostings));
  lines.push(
    `accounts: ${c.accounts.checked} checked, ${c.differingAccounts} whose entries do not sum to the balance of ` +
      'their latest result',
  );
  for (const a of c.accounts.differing)
    lines.push(`    account ${a.accountId}: latest result ${a.resultMinor}, entries ${a.entriesMinor}`);
  lines.push(...more(c.accounts.differing.length, c.differingAccounts));
  lines.push(
    `balances table: ${c.balances.compared} at their latest result's version, ${c.differingBalances} differing from ` +
      `it; ${c.balances.atOtherVersion} at another version (its topic and the results' are written apart: ` +
      'run it again to compare them)',
  );
  for (const b of c.balances.differing)
    lines.push(`    account ${b.accountId} at version ${b.version}: table ${b.tableMinor}, result ${b.resultMinor}`);
  lines.push(...more(c.balances.differing.length, c.differingBalances));
  lines.push(`negative balances where not allowed: ${c.negativeAccounts}`);
  for (const n of c.negative) lines.push(`    account ${n.accountId}: ${n.balanceMinor}`);
  lines.push(...more(c.negative.length, c.negativeAccounts));
  lines.push(
    'money per currency (all entries, system accounts included): ' +
      (c.currencies.length === 0 ? 'no entries' : c.currencies.map((x) => `${x.currency} ${x.sumMinor}`).join(', ')),
  );
  lines.push(readModelHolds(c) ? 'ok: the read model holds every guarantee checked' : 'FAILED: see the findings above');
  return lines;
}
