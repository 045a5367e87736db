-- Operations answered 202 whose record Redis did not take (down, or past its command timeout) when the gateway wrote
-- it. The command may still be applied, so the 202 stands and its record is kept here instead, for its caller to poll
-- at /operations/:id (read when Redis holds no record under the id). Only written then: rows stay (they are few).
create table gateway_operations (
  operation_id text primary key,
  party_id text not null,
  record jsonb not null,
  created_at timestamptz not null default now()
);
