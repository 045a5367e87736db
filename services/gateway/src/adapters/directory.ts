import { createHash, randomBytes } from 'node:crypto';

import type { Pool, PoolClient } from 'pg';

import { missedClientDeadline, transientDatabaseFailure } from '../../../platform/src/db/database-failures';
import { PaystreamError } from '../../../platform/src/errors';
import { ApiError } from '../domain/api-error';
import type { HistoryQuery, HistoryRow } from '../domain/history';
import type { WalletToOpen } from '../domain/wallet-opening';
import type { OperationRecord } from './redis-state';

export interface UnpublishedParty {
  partyId: string;
  kind: 'CLIENT' | 'MERCHANT' | 'ORGANIZATION';
  email: string | null;
  profile: Record<string, unknown>;
  createdAt: Date;
}

/** How an organization's API key is kept and looked up: its SHA-256, never the key. */
const apiKeyDigest = (apiKey: string) => createHash('sha256').update(apiKey).digest('hex');

/** An organization sending bulk transfers, as the gateway keeps it (its API key only as a SHA-256). */
export interface OrganizationRow {
  organizationId: string;
  name: string;
  iban: string;
  bic: string;
  accountId: string;
  currency: string;
}

/**
 * The gateway's Postgres access: its own tables (credentials, wallet ownership, organizations — written
 * synchronously, authoritative for access control) and reads of the sink-built read models (balances, history,
 * bulks). Every statement is parameterised. Failures that may pass (a lost connection, a missed deadline, a broken
 * deadlock) surface as DATABASE_UNAVAILABLE (retryable → 503); the rest as INTERNAL (500).
 */
export class Directory {
  constructor(private readonly pool: Pool) {}

  private async q<R extends object>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw asDatabaseError(err);
    }
  }

  /** @throws ApiError CONFLICT EMAIL_TAKEN when the e-mail is registered already (any kind, case-insensitive). */
  async createParty(p: {
    partyId: string;
    kind: 'CLIENT' | 'MERCHANT';
    email: string;
    passwordHash: string;
    profile: object;
    /** The sign-up's operation id when it came with an Idempotency-Key (see {@link credentials}). */
    requestId?: string;
  }): Promise<void> {
    try {
      await this.pool.query(
        `insert into gateway_credentials (party_id, kind, email, password_hash, profile, request_id)
         values ($1, $2, $3, $4, $5, $6)`,
        [p.partyId, p.kind, p.email, p.passwordHash, JSON.stringify(p.profile), p.requestId ?? null],
      );
    } catch (err) {
      if ((err as { code?: string }).code === '23505')
        throw new ApiError('CONFLICT', 'EMAIL_TAKEN', 'this e-mail is registered already', 'email');
      throw asDatabaseError(err);
    }
  }

  /** Records that the party's PartyRegistered event reached the broker (organizations live in their own table). */
  async markPartyPublished(partyId: string, kind: UnpublishedParty['kind']): Promise<void> {
    await this.q(
      kind === 'ORGANIZATION'
        ? 'update gateway_organizations set event_published_at = now() where organization_id = $1'
        : 'update gateway_credentials set event_published_at = now() where party_id = $1',
      [partyId],
    );
  }

  /** Parties recorded more than `graceSeconds` ago whose PartyRegistered event was never acknowledged, oldest first. */
  async unpublishedParties(graceSeconds: number, limit: number): Promise<UnpublishedParty[]> {
    const rows = await this.q<{
      party_id: string;
      kind: UnpublishedParty['kind'];
      email: string | null;
      profile: Record<string, unknown>;
      created_at: Date;
    }>(
      `select * from (
         select party_id, kind, email, profile, created_at from gateway_credentials
          where event_published_at is null and created_at < now() - make_interval(secs => $1)
         union all
         select organization_id, 'ORGANIZATION', null, jsonb_build_object('name', name), created_at
           from gateway_organizations
          where event_published_at is null and created_at < now() - make_interval(secs => $1)
       ) p order by created_at limit $2`,
      [graceSeconds, limit],
    );
    return rows.map((r) => ({
      partyId: r.party_id,
      kind: r.kind,
      email: r.email,
      profile: r.profile,
      createdAt: r.created_at,
    }));
  }

  async deleteParty(partyId: string): Promise<void> {
    await this.q('delete from gateway_credentials where party_id = $1', [partyId]);
  }

  /**
   * The account under an e-mail (any case): its credentials, the keyed sign-up that made it (`requestId`, null for one
   * without a key), its profile, and whether its PartyRegistered event has reached the broker (`published`; until then
   * its sign-up may still be undone).
   */
  async credentials(email: string): Promise<
    | {
        partyId: string;
        kind: 'CLIENT' | 'MERCHANT';
        hash: string;
        requestId: string | null;
        profile: unknown;
        published: boolean;
      }
    | undefined
  > {
    const rows = await this.q<{
      party_id: string;
      kind: 'CLIENT' | 'MERCHANT';
      password_hash: string;
      request_id: string | null;
      profile: unknown;
      published: boolean;
    }>(
      `select party_id, kind, password_hash, request_id, profile, event_published_at is not null as published
         from gateway_credentials where lower(email) = lower($1)`,
      [email],
    );
    const r = rows[0];
    return (
      r && {
        partyId: r.party_id,
        kind: r.kind,
        hash: r.password_hash,
        requestId: r.request_id,
        profile: r.profile,
        published: r.published,
      }
    );
  }

  /**
   * Records a new wallet for its owner, holding the owner's row lock so concurrent creations respect the limit. Given
   * the `requestId` of a creation sent with an Idempotency-Key, a wallet its owner created under that request before
   * is returned instead (`created: false`), and nothing is recorded.
   * @throws ApiError CONFLICT WALLET_LIMIT_REACHED
   */
  async reserveWallet(
    ownerId: string,
    limit: number,
    walletId: string,
    currency: string,
    requestId?: string,
  ): Promise<{ walletId: string; currency: string; opened: boolean; created: boolean }> {
    const client = await this.connect();
    // Only a connection that may still be busy or lost goes back as broken, so the pool drops it: one that missed its
    // deadline, or whose rollback failed. After a refusal (a deadlock, a constraint) the rollback leaves it healthy.
    let broken = false;
    try {
      await client.query('begin');
      await client.query('select 1 from gateway_credentials where party_id = $1 for update', [ownerId]);
      const earlier =
        requestId === undefined
          ? undefined
          : (
              await client.query<{ wallet_id: string; currency: string; opened: boolean }>(
                `select wallet_id, currency, opened_at is not null as opened from gateway_wallets
                  where owner_id = $1 and request_id = $2`,
                [ownerId, requestId],
              )
            ).rows[0];
      if (earlier) {
        await client.query('commit');
        return { walletId: earlier.wallet_id, currency: earlier.currency, opened: earlier.opened, created: false };
      }
      const count = Number(
        (await client.query<{ n: string }>('select count(*) as n from gateway_wallets where owner_id = $1', [ownerId]))
          .rows[0]?.n ?? 0,
      );
      if (limit > 0 && count >= limit) {
        await client.query('rollback');
        throw new ApiError(
          'CONFLICT',
          'WALLET_LIMIT_REACHED',
          limit === 1 ? 'this account may own one wallet and already does' : `at most ${limit} wallets per client`,
        );
      }
      await client.query(
        'insert into gateway_wallets (wallet_id, owner_id, currency, request_id) values ($1, $2, $3, $4)',
        [walletId, ownerId, currency, requestId ?? null],
      );
      await client.query('commit');
      return { walletId, currency, opened: false, created: true };
    } catch (err) {
      if (missedClientDeadline(err)) broken = true;
      else if (!(err instanceof PaystreamError))
        await client.query('rollback').catch(() => {
          broken = true;
        });
      throw err instanceof PaystreamError ? err : asDatabaseError(err);
    } finally {
      client.release(broken);
    }
  }

  /** Records that the ledger accepted the wallet's OpenAccount (the sweep stops sending it). */
  async markWalletOpened(walletId: string): Promise<void> {
    await this.q('update gateway_wallets set opened_at = now() where wallet_id = $1 and opened_at is null', [walletId]);
  }

  /** Wallets recorded more than `graceSeconds` ago whose OpenAccount the ledger has not been seen to accept, oldest first. */
  async unopenedWallets(graceSeconds: number, limit: number): Promise<WalletToOpen[]> {
    const rows = await this.q<{ wallet_id: string; owner_id: string; kind: 'CLIENT' | 'MERCHANT'; currency: string }>(
      `select w.wallet_id, w.owner_id, c.kind, w.currency
         from gateway_wallets w join gateway_credentials c on c.party_id = w.owner_id
        where w.opened_at is null and w.created_at < now() - make_interval(secs => $1)
        order by w.created_at limit $2`,
      [graceSeconds, limit],
    );
    return rows.map((r) => ({ walletId: r.wallet_id, ownerId: r.owner_id, ownerKind: r.kind, currency: r.currency }));
  }

  async dropWallet(walletId: string): Promise<void> {
    await this.q('delete from gateway_wallets where wallet_id = $1', [walletId]);
  }

  /** The wallet's owner, and whether the ledger's acceptance of its account was recorded (see `markWalletOpened`). */
  async wallet(walletId: string): Promise<{ ownerId: string; opened: boolean } | undefined> {
    const row = (
      await this.q<{ owner_id: string; opened: boolean }>(
        'select owner_id, opened_at is not null as opened from gateway_wallets where wallet_id = $1',
        [walletId],
      )
    )[0];
    return row && { ownerId: row.owner_id, opened: row.opened };
  }

  /** The owner's wallets, oldest first, with whether the ledger's acceptance of each one's account was recorded. */
  /**
   * An owner's wallets in the order they were created, a page at a time: `after` is the last wallet of the page
   * before (keyset on created_at and wallet_id in byte order, compared in the database at its own precision: a
   * timestamp in microseconds would not survive a trip through a JavaScript Date). 'unknown cursor' when
   * `after` is not one of the owner's wallets.
   */
  async walletsOf(
    ownerId: string,
    page: { limit: number; after?: string },
  ): Promise<{ walletId: string; currency: string; opened: boolean }[] | 'unknown cursor'> {
    const rows = await this.q<{ wallet_id: string; currency: string; opened: boolean }>(
      `with cursor as (select created_at, wallet_id from gateway_wallets where wallet_id = $2 and owner_id = $1)
       select w.wallet_id, w.currency, w.opened_at is not null as opened
         from gateway_wallets w
        where w.owner_id = $1
          and ($2::text is null
               or (w.created_at, w.wallet_id collate "C") > (select created_at, wallet_id collate "C" from cursor))
        order by w.created_at, w.wallet_id collate "C"
        limit $3`,
      [ownerId, page.after ?? null, page.limit],
    );
    if (page.after !== undefined && rows.length === 0) {
      const found = await this.q('select 1 from gateway_wallets where wallet_id = $1 and owner_id = $2', [
        page.after,
        ownerId,
      ]);
      if (found.length === 0) return 'unknown cursor';
    }
    return rows.map((r) => ({ walletId: r.wallet_id, currency: r.currency, opened: r.opened }));
  }

  /** Balances from the sink's read model (may lag the ledger; see BalanceCache for read-your-writes). */
  async balances(walletIds: string[]): Promise<Map<string, { balanceMinor: bigint; version: bigint }>> {
    if (walletIds.length === 0) return new Map();
    const rows = await this.q<{ account_id: string; balance_minor: string; version: string }>(
      'select account_id, balance_minor::text, version::text from balances where account_id = any($1)',
      [walletIds],
    );
    return new Map(
      rows.map((r) => [r.account_id, { balanceMinor: BigInt(r.balance_minor), version: BigInt(r.version) }]),
    );
  }

  /** A page of a wallet's history, newest first, keyset-paginated on (occurred_at, entry_id). */
  async history(walletId: string, query: HistoryQuery): Promise<HistoryRow[]> {
    const rows = await this.q<{
      entry_id: string;
      wallet_id: string;
      counterpart_id: string | null;
      kind: string;
      amount_minor: string;
      currency: string;
      summary: string | null;
      success: boolean;
      occurred_at: Date;
    }>(
      `select entry_id, wallet_id, counterpart_id, kind, amount_minor::text, currency, summary, success, occurred_at
         from operation_history
        where wallet_id = $1
          and ($2::timestamptz is null or occurred_at >= $2)
          and ($3::timestamptz is null or occurred_at < $3)
          and ($4::timestamptz is null or (occurred_at, entry_id) < ($4, $5))
        order by occurred_at desc, entry_id desc
        limit $6`,
      [
        walletId,
        query.from ?? null,
        query.to ?? null,
        query.cursor?.occurredAt ?? null,
        query.cursor?.entryId ?? '',
        query.limit,
      ],
    );
    return rows.map((r) => ({
      entryId: r.entry_id,
      walletId: r.wallet_id,
      counterpartId: r.counterpart_id,
      kind: r.kind,
      amountMinor: BigInt(r.amount_minor),
      currency: r.currency.trim(),
      summary: r.summary,
      success: r.success,
      occurredAt: r.occurred_at,
    }));
  }

  /** True once the wallet's history in the read model holds any of these entry ids. */
  async historyHas(walletId: string, entryIds: string[]): Promise<boolean> {
    const rows = await this.q('select 1 from operation_history where wallet_id = $1 and entry_id = any($2) limit 1', [
      walletId,
      entryIds,
    ]);
    return rows.length > 0;
  }

  async ledgerResult(commandId: string): Promise<
    | {
        accountId: string;
        accepted: boolean;
        rejectionCode: string | null;
        balanceAfterMinor: bigint | null;
        balanceVersion: bigint | null;
        /** What the first command under this id asked for (LedgerResult.requestFingerprint); null before it existed. */
        requestFingerprint: bigint | null;
        processedAt: Date;
      }
    | undefined
  > {
    const r = (
      await this.q<{
        account_id: string;
        accepted: boolean;
        rejection_code: string | null;
        balance_after_minor: string | null;
        balance_version: string | null;
        request_fingerprint: string | null;
        processed_at: Date;
      }>(
        `select account_id, accepted, rejection_code, balance_after_minor::text, balance_version::text,
                request_fingerprint::text, processed_at
           from ledger_results where command_id = $1`,
        [commandId],
      )
    )[0];
    return (
      r && {
        accountId: r.account_id,
        accepted: r.accepted,
        rejectionCode: r.rejection_code,
        balanceAfterMinor: r.balance_after_minor === null ? null : BigInt(r.balance_after_minor),
        balanceVersion: r.balance_version === null ? null : BigInt(r.balance_version),
        requestFingerprint: r.request_fingerprint === null ? null : BigInt(r.request_fingerprint),
        processedAt: r.processed_at,
      }
    );
  }

  /**
   * Keeps an operation answered 202 whose record Redis did not take (see migration 0007), answered for `keepSeconds`
   * (the idempotency TTL, as Redis keeps its records). Written once per id: a second write (a retry under the same
   * Idempotency-Key, answered the same way) keeps the first.
   */
  async saveOperation(operationId: string, record: OperationRecord, keepSeconds: number): Promise<void> {
    // Rows past their time go with the next row kept (rows are written only while Redis fails, so this is where they
    // accumulate); a row under the same id is left to the conflict, so the insert never races its own delete.
    await this.q(
      `with expired as (
         delete from gateway_operations
          where created_at < now() - make_interval(secs => $4) and operation_id <> $1
       )
       insert into gateway_operations (operation_id, party_id, record) values ($1, $2, $3)
         on conflict (operation_id) do nothing`,
      [operationId, record.partyId, JSON.stringify(record), keepSeconds],
    );
  }

  /** An operation kept by {@link saveOperation} within its last `keepSeconds`, if any. */
  async savedOperation(operationId: string, keepSeconds: number): Promise<OperationRecord | undefined> {
    const rows = await this.q<{ record: OperationRecord }>(
      `select record from gateway_operations
        where operation_id = $1 and created_at >= now() - make_interval(secs => $2)`,
      [operationId, keepSeconds],
    );
    return rows[0]?.record;
  }

  /** Records an organization with its API key; only the key's SHA-256 is stored. */
  async createOrganization(o: OrganizationRow & { apiKey: string }): Promise<void> {
    try {
      await this.pool.query(
        `insert into gateway_organizations (organization_id, name, iban, bic, account_id, currency, api_key_sha256)
         values ($1, $2, $3, $4, $5, $6, $7)`,
        [o.organizationId, o.name, o.iban, o.bic, o.accountId, o.currency, apiKeyDigest(o.apiKey)],
      );
    } catch (err) {
      if ((err as { code?: string }).code === '23505')
        throw new ApiError('CONFLICT', 'ORGANIZATION_EXISTS', `an organization with IBAN ${o.iban} exists`, 'iban');
      throw asDatabaseError(err);
    }
  }

  /** Replaces an organization's API key (its digest): the old key is refused from the next request on. */
  async replaceOrganizationKey(organizationId: string, apiKey: string): Promise<boolean> {
    const updated = await this.q(
      'update gateway_organizations set api_key_sha256 = $2 where organization_id = $1 returning 1 as updated',
      [organizationId, apiKeyDigest(apiKey)],
    );
    return updated.length === 1;
  }

  async organizationIbanTaken(iban: string): Promise<boolean> {
    return (await this.q('select 1 from gateway_organizations where iban = $1', [iban])).length > 0;
  }

  async organizationByKey(apiKey: string): Promise<OrganizationRow | undefined> {
    return this.organizationWhere('api_key_sha256', apiKeyDigest(apiKey));
  }

  /** The organization whose account has this IBAN (electronic format: no spaces, upper case). */
  async organizationByIban(iban: string): Promise<OrganizationRow | undefined> {
    return this.organizationWhere('iban', iban);
  }

  private async organizationWhere(
    column: 'api_key_sha256' | 'iban',
    value: string,
  ): Promise<OrganizationRow | undefined> {
    const r = (
      await this.q<{
        organization_id: string;
        name: string;
        iban: string;
        bic: string;
        account_id: string;
        currency: string;
      }>(
        `select organization_id, name, iban, bic, account_id, currency from gateway_organizations where ${column} = $1`,
        [value],
      )
    )[0];
    return (
      r && {
        organizationId: r.organization_id,
        name: r.name,
        iban: r.iban,
        bic: r.bic,
        accountId: r.account_id,
        currency: r.currency.trim(),
      }
    );
  }

  async bulk(bulkId: string): Promise<
    | {
        organizationAccountId: string;
        accepted: boolean;
        rejectionCode: string | null;
        totalMinor: bigint | null;
        currency: string | null;
        itemCount: number | null;
        processedAt: Date;
      }
    | undefined
  > {
    const r = (
      await this.q<{
        organization_account_id: string;
        accepted: boolean;
        rejection_code: string | null;
        total_minor: string | null;
        currency: string | null;
        item_count: number | null;
        processed_at: Date;
      }>(
        `select organization_account_id, accepted, rejection_code, total_minor::text, currency, item_count, processed_at
           from bulk_transfers where bulk_id = $1`,
        [bulkId],
      )
    )[0];
    return (
      r && {
        organizationAccountId: r.organization_account_id,
        accepted: r.accepted,
        rejectionCode: r.rejection_code,
        totalMinor: r.total_minor === null ? null : BigInt(r.total_minor),
        currency: r.currency?.trim() ?? null,
        itemCount: r.item_count,
        processedAt: r.processed_at,
      }
    );
  }

  async bulkItems(bulkId: string): Promise<
    {
      itemId: string;
      amountMinor: bigint;
      currency: string;
      counterpartyName: string;
      counterpartyIban: string;
      counterpartyBic: string;
      description: string;
    }[]
  > {
    const rows = await this.q<{
      item_id: string;
      amount_minor: string;
      currency: string;
      counterparty_name: string;
      counterparty_iban: string;
      counterparty_bic: string;
      description: string;
    }>(
      `select item_id, amount_minor::text, currency, counterparty_name, counterparty_iban, counterparty_bic, description
         from bulk_transfer_items where bulk_id = $1 order by length(item_id), item_id`,
      [bulkId],
    );
    return rows.map((r) => ({
      itemId: r.item_id,
      amountMinor: BigInt(r.amount_minor),
      currency: r.currency.trim(),
      counterpartyName: r.counterparty_name,
      counterpartyIban: r.counterparty_iban,
      counterpartyBic: r.counterparty_bic,
      description: r.description,
    }));
  }

  private async connect(): Promise<PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw asDatabaseError(err);
    }
  }
}

/**
 * A database failure that may pass (see `transientDatabaseFailure`: a lost connection, a missed deadline, a deadlock
 * Postgres broke) is DATABASE_UNAVAILABLE, retryable, so the client is answered 503 and may retry; the rest are bugs.
 */
function asDatabaseError(err: unknown): PaystreamError {
  if (err instanceof PaystreamError) return err;
  const message = `database: ${err instanceof Error ? err.message : String(err)}`;
  if (transientDatabaseFailure(err)) return PaystreamError.retryable('DATABASE_UNAVAILABLE', message, { cause: err });
  return new PaystreamError('INTERNAL', message, { cause: err });
}

/** 192 random bits, base64url (32 characters): a wallet token nobody can guess. */
export const newWalletToken = (): string => randomBytes(24).toString('base64url');
