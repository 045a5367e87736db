-- The account version an accepted command left behind, so a reader that learns an outcome from the read model (the
-- gateway's /operations) can tell whether a balance it holds is older.
alter table ledger_results add column balance_version bigint;
