-- When the broker acknowledged a party's PartyRegistered event. A row without it (a process died between writing the
-- row and publishing) is published again by the gateway (same event id, so consumers keep one). Rows from before this
-- column existed are published again once too: nothing tells which of them a crash left behind.
alter table gateway_credentials add column event_published_at timestamptz;
alter table gateway_organizations add column event_published_at timestamptz;
create index gateway_credentials_unpublished on gateway_credentials (created_at) where event_published_at is null;
create index gateway_organizations_unpublished on gateway_organizations (created_at) where event_published_at is null;
