import type { Pool } from 'pg';

/** At most this many findings of each kind are named; the counts are exact. */
export const NAMED_FINDINGS = 20;

/**
 * The ledger's guarantees as its Postgres read model shows them, read in one snapshot (`paystream ledger check`):
 * - every posting's entries sum to zero, per currency (money is neither created nor destroyed by a command);
 * - each client, merchant or organization account's entries sum to the balance its latest accepted result reports
 *   (every leg of such an account travels in its own results, so the two are written together and agree in any
 *   snapshot);
 * - the balances table agrees with that result where both are at the same account version (they come from different
 *   topics, so one may be ahead of the other for a moment: counted, not a finding);
 * - no account below zero unless it allows it;
 * - all entries of a currency sum to zero (the system accounts included).
 * It reads only: nothing is repaired. A finding means the read model, or the ledger, broke a guarantee.
 */
export interface LedgerReadModelCheck {
  /** Each posting off names every currency it is off in; a posting off in two currencies counts once. */
  postings: { checked: number; unbalanced: { postingId: string; sums: { currency: string; sumMinor: bigint }[] }[] };
  unbalancedPostings: number;
  accounts: { checked: number; differing: { accountId: string; resultMinor: bigint; entriesMinor: bigint }[] };
  differingAccounts: number;
  balances: {
    compared: number;
    atOtherVersion: number;
    differing: { accountId: string; version: bigint; tableMinor: bigint; resultMinor: bigint }[];
  };
  differingBalances: number;
  negative: { accountId: string; balanceMinor: bigint }[];
  negativeAccounts: number;
  /** The sum of all entries per currency: 0 each. */
  currencies: { currency: string; sumMinor: bigint }[];
}

/** Whether the check found nothing wrong. */
export function readModelHolds(c: LedgerReadModelCheck): boolean {
  return (
    c.unbalancedPostings === 0 &&
    c.differingAccounts === 0 &&
    c.differingBalances === 0 &&
    c.negativeAccounts === 0 &&
    c.currencies.every((x) => x.sumMinor === 0n)
  );
}

// Each account's latest accepted result: the balance it left, at its version (results written before the read model
// kept the version are ordered by time after every versioned one).
const LATEST = `
  latest as (
    select distinct on (account_id) account_id, balance_after_minor, balance_version
    from ledger_results
    where accepted and balance_after_minor is not null and account_id not like 'system:%'
    order by account_id, balance_version desc nulls last, processed_at desc
  )`;

/** Runs every check in one read-only, repeatable-read transaction: one snapshot of the read model. */
export async function checkLedgerReadModel(pool: Pool): Promise<LedgerReadModelCheck> {
  const client = await pool.connect();
  try {
    await client.query('begin isolation level repeatable read read only');
    // Each query counts what it checked and what it found, and names the first findings, in one pass.
    const postings = await client.query<{
      posting_id: string | null;
      currencies: string[] | null;
      sums: string[] | null;
      checked: string;
      found: string;
    }>(
      `with sums as (
         select posting_id, currency, sum(amount_minor) as sum from ledger_entries group by posting_id, currency
       ),
       off as (
         select posting_id, array_agg(currency::text order by currency) as currencies,
                array_agg(sum::text order by currency) as sums
         from sums where sum <> 0 group by posting_id
       ),
       counts as (
         select (select count(distinct posting_id) from sums) as checked, (select count(*) from off) as found
       )
       select d.posting_id, d.currencies, d.sums, c.checked::text, c.found::text
       from counts c left join lateral (
         select * from off order by posting_id limit $1
       ) d on true`,
      [NAMED_FINDINGS],
    );
    const accounts = await client.query<{
      account_id: string | null;
      result: string | null;
      entries: string | null;
      checked: string;
      found: string;
    }>(
      `with ${LATEST},
       sums as (
         select account_id, sum(amount_minor) as total from ledger_entries
         where account_id not like 'system:%' group by account_id
       ),
       compared as (
         select coalesce(l.account_id, s.account_id) as account_id,
                coalesce(l.balance_after_minor, 0) as result, coalesce(s.total, 0) as entries
         from latest l full join sums s on s.account_id = l.account_id
       ),
       counts as (
         select (select count(*) from latest) as checked, count(*) filter (where result <> entries) as found
         from compared
       )
       select d.account_id, d.result::text, d.entries::text, c.checked::text, c.found::text
       from counts c left join lateral (
         select * from compared where result <> entries order by account_id limit $1
       ) d on true`,
      [NAMED_FINDINGS],
    );
    const balances = await client.query<{
      account_id: string | null;
      version: string | null;
      table_minor: string | null;
      result_minor: string | null;
      compared: string;
      other_version: string;
      differing: string;
    }>(
      `with ${LATEST},
       joined as (
         select b.account_id, b.version, b.balance_minor, l.balance_after_minor, l.balance_version
         from balances b join latest l on l.account_id = b.account_id
       ),
       counts as (
         select count(*) filter (where version = balance_version) as compared,
                count(*) filter (where version is distinct from balance_version) as other_version,
                count(*) filter (where version = balance_version and balance_minor <> balance_after_minor) as differing
         from joined
       )
       select d.account_id, d.version::text, d.balance_minor::text as table_minor,
              d.balance_after_minor::text as result_minor,
              c.compared::text, c.other_version::text, c.differing::text
       from counts c left join lateral (
         select * from joined
         where version = balance_version and balance_minor <> balance_after_minor
         order by account_id limit $1
       ) d on true`,
      [NAMED_FINDINGS],
    );
    const negative = await client.query<{ account_id: string; balance: string; n: string }>(
      `select account_id, balance_minor::text as balance, count(*) over ()::text as n
       from balances where balance_minor < 0 and not allow_negative and account_id not like 'system:%'
       order by account_id limit $1`,
      [NAMED_FINDINGS],
    );
    const currencies = await client.query<{ currency: string; sum: string }>(
      'select currency, sum(amount_minor)::text as sum from ledger_entries group by currency order by currency',
    );
    await client.query('commit');
    client.release();
    const counts = balances.rows[0];
    return {
      postings: {
        checked: Number(postings.rows[0]?.checked ?? 0),
        unbalanced: postings.rows.flatMap((r) =>
          r.posting_id === null
            ? []
            : [
                {
                  postingId: r.posting_id,
                  sums: (r.currencies ?? []).map((currency, i) => ({ currency, sumMinor: BigInt(r.sums?.[i] ?? 0) })),
                },
              ],
        ),
      },
      unbalancedPostings: Number(postings.rows[0]?.found ?? 0),
      accounts: {
        checked: Number(accounts.rows[0]?.checked ?? 0),
        differing: accounts.rows.flatMap((r) =>
          r.account_id === null
            ? []
            : [{ accountId: r.account_id, resultMinor: BigInt(r.result ?? 0), entriesMinor: BigInt(r.entries ?? 0) }],
        ),
      },
      differingAccounts: Number(accounts.rows[0]?.found ?? 0),
      balances: {
        compared: Number(counts?.compared ?? 0),
        atOtherVersion: Number(counts?.other_version ?? 0),
        differing: balances.rows
          .filter((r) => r.account_id !== null)
          .map((r) => ({
            accountId: r.account_id ?? '',
            version: BigInt(r.version ?? 0),
            tableMinor: BigInt(r.table_minor ?? 0),
            resultMinor: BigInt(r.result_minor ?? 0),
          })),
      },
      differingBalances: Number(counts?.differing ?? 0),
      negative: negative.rows.map((r) => ({ accountId: r.account_id, balanceMinor: BigInt(r.balance) })),
      negativeAccounts: Number(negative.rows[0]?.n ?? 0),
      currencies: currencies.rows.map((r) => ({ currency: r.currency, sumMinor: BigInt(r.sum) })),
    };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    // Released with its error, so that the pool drops a connection that failed.
    client.release(err as Error);
    throw err;
  }
}
