-- When the ledger accepted a wallet's OpenAccount. A row without it (the process died before the command left, Kafka
-- did not acknowledge it in time, or its result came late) has the command sent again by the gateway's sweep: the same
-- command id, so the ledger opens the account at most once. Rows from before this column existed are marked when the
-- read model holds their account; the others are sent again once.
alter table gateway_wallets add column opened_at timestamptz;
update gateway_wallets w set opened_at = w.created_at where exists (select 1 from balances b where b.account_id = w.wallet_id);
create index gateway_wallets_unopened on gateway_wallets (created_at) where opened_at is null;
