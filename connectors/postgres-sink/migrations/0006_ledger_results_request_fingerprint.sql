-- What the first command under each id asked for, as one number (LedgerResult.requestFingerprint), so a reader that
-- learns an outcome from the read model (the gateway's /operations) can tell whether it answers the request it sent
-- or an earlier one under the same id. Null for results written before the field existed.
alter table ledger_results add column request_fingerprint bigint;
