-- The request that created a wallet, when it was sent with an Idempotency-Key: the operation id derived from the
-- caller and the key (never the key itself). A creation retried under the key after the gateway forgot it (past
-- PAYSTREAM_IDEMPOTENCY_TTL_HOURS, Redis lost it, or its gateway died) names this wallet again instead of creating
-- another, or being refused for a company's one wallet. Wallets created before this column, or without a key, have
-- none.
alter table gateway_wallets add column request_id text;
create unique index gateway_wallets_request on gateway_wallets (owner_id, request_id) where request_id is not null;
