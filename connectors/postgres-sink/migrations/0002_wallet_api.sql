-- Wallet and bulk-transfer APIs (seeds 004 and 003).

-- Read models -------------------------------------------------------------------------------------------------------

-- One result can put a row in two wallets' histories (a failed charge shows for the payer and for the merchant), so a
-- history row is identified by its event and its wallet.
alter table operation_history drop constraint operation_history_pkey;
alter table operation_history add primary key (occurred_at, entry_id, wallet_id);

-- E-mail uniqueness is enforced where sign-up happens (gateway_credentials); the read model mirrors events and must
-- never refuse one.
alter table parties drop constraint parties_email_key;

-- A bulk's outcome, from the ledger result of its BulkDebit (the old table was never fed).
drop table bulk_transfers;
create table bulk_transfers (
  bulk_id                 text primary key,
  command_id              text not null unique,
  organization_account_id text not null,
  accepted                boolean not null,
  rejection_code          text,
  total_minor             bigint,
  currency                char(3),
  item_count              integer,
  processed_at            timestamptz not null
);
create index bulk_transfer_items_bulk on bulk_transfer_items (bulk_id);

-- Gateway-owned tables (not read models: `db rebuild` never truncates them) -----------------------------------------

-- Credentials stay out of Kafka: a password hash in a log kept forever could never be erased.
create table gateway_credentials (
  party_id      text primary key,
  kind          text not null check (kind in ('CLIENT', 'MERCHANT')),
  email         text not null,
  password_hash text not null,
  profile       jsonb not null,
  created_at    timestamptz not null default now()
);
create unique index gateway_credentials_email on gateway_credentials (lower(email));

-- Who owns which wallet, written when the wallet is created, so authorization never waits for the sink.
create table gateway_wallets (
  wallet_id  text primary key,
  owner_id   text not null references gateway_credentials (party_id),
  currency   char(3) not null,
  created_at timestamptz not null default now()
);
create index gateway_wallets_owner on gateway_wallets (owner_id, created_at);

-- Organizations sending bulk transfers, provisioned by an operator (`paystream org create`); they authenticate with
-- an API key, of which only the SHA-256 is kept (a 256-bit random key needs no slow hash).
create table gateway_organizations (
  organization_id text primary key,
  name            text not null,
  iban            text not null unique,
  bic             text not null,
  account_id      text not null unique,
  currency        char(3) not null,
  api_key_sha256  text not null unique,
  created_at      timestamptz not null default now()
);
