-- A kept operation is answered, like Redis's record, for the idempotency TTL after it was kept; rows past it are
-- deleted when the next one is kept. This index finds them without reading the table.
create index gateway_operations_created_at on gateway_operations (created_at);
