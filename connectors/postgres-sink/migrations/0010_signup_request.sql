-- The operation id of a sign-up sent with an Idempotency-Key (derived from the key, never the key itself): the same
-- sign-up sent again after the gateway forgot its key (past the idempotency TTL, Redis lost, or a claim taken over
-- from a gateway that was alive after all) is answered as the first was, with a new session, instead of 409
-- EMAIL_TAKEN. Null for sign-ups without a key and for accounts made before this column.
alter table gateway_credentials add column request_id text;
