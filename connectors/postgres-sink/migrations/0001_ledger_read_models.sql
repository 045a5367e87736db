-- Read models of the ledger and the wallet/bulk domains, built by the COPY sink from Kafka topics.
-- Every table can be truncated and rebuilt by replay (`paystream db rebuild --domain <d>`); Kafka is the source of
-- truth. Money is bigint minor units with an ISO-4217 currency.

create table parties (
  party_id     text primary key,
  kind         text not null check (kind in ('CLIENT', 'MERCHANT', 'ORGANIZATION')),
  email        text unique,
  display_name text,
  created_at   timestamptz not null
);

create table wallets (
  wallet_id   text primary key,
  owner_kind  text not null check (owner_kind in ('CLIENT', 'MERCHANT', 'ORGANIZATION')),
  owner_id    text not null,
  currency    char(3) not null,
  opened_at   timestamptz not null
);
create index wallets_owner on wallets (owner_id);

-- Latest balance per account from the ledger.balances changelog; `version` only moves forward.
create table balances (
  account_id     text primary key,
  owner_kind     text not null,
  owner_id       text not null,
  currency       char(3) not null,
  balance_minor  bigint not null,
  allow_negative boolean not null,
  closed         boolean not null,
  version        bigint not null,
  updated_at     timestamptz not null
);

create table ledger_entries (
  entry_id                text primary key,
  posting_id              text not null,
  command_id              text not null,
  account_id              text not null,
  counterparty_account_id text,
  amount_minor            bigint not null,
  currency                char(3) not null,
  kind                    text not null,
  summary                 text,
  posted_at               timestamptz not null
);
create index ledger_entries_account on ledger_entries (account_id, posted_at desc);
create index ledger_entries_posting on ledger_entries (posting_id);

create table ledger_results (
  command_id          text primary key,
  account_id          text not null,
  accepted            boolean not null,
  rejection_code      text,
  balance_after_minor bigint,
  processed_at        timestamptz not null
);

-- Operation history per wallet, partitioned by month (the seed's own answer to its growth); the sink creates the
-- month's partition before writing into it. The primary key includes the partition column, as Postgres requires.
create table operation_history (
  entry_id        text not null,
  wallet_id       text not null,
  counterpart_id  text,
  kind            text not null,
  amount_minor    bigint not null,
  currency        char(3) not null,
  summary         text,
  success         boolean not null,
  occurred_at     timestamptz not null,
  primary key (occurred_at, entry_id)
) partition by range (occurred_at);
create index operation_history_wallet_time on operation_history (wallet_id, occurred_at desc);

create table bulk_transfers (
  bulk_id                 text primary key,
  organization_account_id text not null,
  status                  text not null,
  created_at              timestamptz not null
);

create table bulk_transfer_items (
  event_id                text primary key,
  bulk_id                 text not null,
  item_id                 text not null,
  organization_account_id text not null,
  amount_minor            bigint not null check (amount_minor > 0),
  currency                char(3) not null,
  counterparty_name       text not null,
  counterparty_iban       text not null,
  counterparty_bic        text not null,
  description             text not null,
  requested_at            timestamptz not null,
  unique (bulk_id, item_id)
);
