import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';

import { Counter } from 'prom-client';

import { toPaystreamError } from '../../../platform/src/errors';
import type { LedgerCommand, LedgerResult } from '../../../platform/src/sdk/event-types.generated';
import { creditCommandId, reversalCommandId } from '../../../platform/src/sdk/ledger-ids';
import { commandFingerprint } from '../../../platform/src/sdk/ledger-requests';
import { newWalletToken } from '../adapters/directory';
import { mayStillBeApplied } from '../adapters/ledger-client';
import type { OperationRecord } from '../adapters/redis-state';
import { ApiError, errorResponse, invalid } from '../domain/api-error';
import { sameBic, sameOrganizationName } from '../domain/bank-identifiers';
import { encodeCursor, historyItem, parseHistoryQuery, parseWalletListQuery } from '../domain/history';
import { formatAmount } from '../domain/money';
import { partyRegisteredEvent } from '../domain/party-event';
import {
  acceptedOrError,
  awaitedFollowUp,
  chargeCommandId,
  duplicateBulkError,
  firstUseVerdict,
  operationAnsweredBy,
  reusedKeyError,
  settled,
  settledInReadModel,
} from '../domain/outcomes';
import type { Settled } from '../domain/outcomes';
import { openingOutcome, openingOutcomeOf, openWalletCommand, openWalletCommandId } from '../domain/wallet-opening';
import {
  bulkIdentity as bulkIdentityOf,
  type BulkTransferRequest,
  parseBulkTransfer,
  parseCharge,
  parseDeposit,
  parseEmptyBody,
  parseLogin,
  parseSignup,
  refuseTransfersToItself,
  walletToken,
} from '../domain/requests';
import type { Bookkeeping } from './bookkeeping';
import type { Caller, GatewayDeps, Reply } from './context';
import { derivedUuid } from './derived-id';

/**
 * Route handlers. Each money movement is one ledger command keyed by the account it debits (or credits, for a
 * deposit) and identified by `commandId`, which is derived from the Idempotency-Key when there is one: a retry after
 * a crash re-sends the same command id and the ledger applies it once. A handler waits for the ledger's result up to
 * the reply timeout and answers with the balance after it, or 202 with the command id as the operation to poll.
 */

export interface Request {
  caller?: Caller;
  body: unknown;
  params: Record<string, string>;
  query: Record<string, string | string[] | undefined>;
  /** Deterministic per (caller, Idempotency-Key) when the client sent a key; random otherwise. */
  operationId: string;
  idempotencyKey?: string;
  /** Where the request came from (see `clientAddress`): the connection's peer, or what trusted proxies say. */
  clientAddress: string;
}

type Party = Extract<Caller, { kind: 'CLIENT' | 'MERCHANT' }>;
type Org = Extract<Caller, { kind: 'ORGANIZATION' }>;

/** Sends of one bulk after ledger refusals (without an Idempotency-Key) tried in one request: see `bulkTransfer`. */
const MAX_BULK_RESENDS = 50;

function pending(operationId: string, extra: Record<string, string> = {}): Reply {
  return {
    status: 202,
    body: { ...extra, operation_id: operationId, status: 'PENDING' },
    headers: { location: `/operations/${operationId}` },
  };
}

function rejectedAs(result: LedgerResult, code: string): boolean {
  const o = result.outcome;
  return 'paystream.ledger.CommandRejected' in o && o['paystream.ledger.CommandRejected'].code === code;
}

function command(accountId: string, commandId: string, now: Date, body: LedgerCommand['command']): LedgerCommand {
  return { commandId, accountId, issuedAt: now, command: body };
}

/** A dummy hash with the production parameters, so an unknown e-mail costs as much time as a wrong password. */
let dummyHash: Promise<string> | undefined;

type BulkItemRow = Awaited<ReturnType<GatewayDeps['directory']['bulkItems']>>[number];

/** A wallet whose account is open: 201, with where it is read. */
function walletCreated(wallet: string, currency: string): Reply {
  return {
    status: 201,
    body: { wallet, balance: formatAmount(0n, currency), currency },
    headers: { location: `/wallet/info/${wallet}` },
  };
}

/** A bulk's credit transfer as GET /bulk_transfer/:id lists it. */
function bulkItem(i: BulkItemRow) {
  return {
    item_id: i.itemId,
    amount: formatAmount(i.amountMinor, i.currency),
    counterparty_name: i.counterpartyName,
    counterparty_iban: i.counterpartyIban,
    counterparty_bic: i.counterpartyBic,
    description: i.description,
    status: 'REQUESTED',
  };
}

export function handlers(deps: GatewayDeps, bookkeep: Bookkeeping) {
  const { config, directory, sessions, ledger, balances } = deps;
  const deadline = () => Date.now() + config.replyTimeoutMs;
  const merchantWallets = new Map<string, { walletId: string; currency: string }>();
  // What clients were told, not what the ledger did: a request run again under its command id (a retry whose key was
  // forgotten, or of a 202 whose outcome is known now) counts again, and a 202 never retried counts never. Money moved
  // is counted once per command by the ledger (paystream_ledger_commands_total, paystream_ledger_volume_minor_total).
  const answers = new Counter({
    name: 'paystream_gateway_operations_total',
    help: 'Answers to money movements given from a ledger result, by kind, outcome (ACCEPTED or the rejection code) and currency; the ledger counts each movement once',
    labelNames: ['kind', 'outcome', 'currency'],
    registers: [deps.metrics],
  });
  /** Counts one answer given from a ledger result. */
  const count = (kind: 'deposit' | 'charge' | 'bulk_transfer', result: LedgerResult, currency: string) => {
    const o = result.outcome;
    const outcome = 'paystream.ledger.CommandAccepted' in o ? 'ACCEPTED' : o['paystream.ledger.CommandRejected'].code;
    answers.inc({ kind, outcome, currency });
  };

  /**
   * Whether the ledger accepted the wallet's OpenAccount, as its result in the read model says (a creation answered 202
   * learns it here before the sweep does); records it when so.
   */
  async function openedByLedger(walletId: string): Promise<boolean> {
    const result = await directory.ledgerResult(openWalletCommandId(walletId));
    if (!result || !openingOutcomeOf(result.accepted, result.rejectionCode).opened) return false;
    await directory.markWalletOpened(walletId);
    return true;
  }

  /** The caller's wallet named by `token`, and whether its account was seen opened. */
  async function ownWallet(caller: Party, token: unknown, field: string): Promise<{ wallet: string; opened: boolean }> {
    const wallet = walletToken(token, field);
    const found = await directory.wallet(wallet);
    if (found === undefined) throw new ApiError('NOT_FOUND', 'WALLET_NOT_FOUND', 'no such wallet', field);
    if (found.ownerId !== caller.partyId)
      throw new ApiError('FORBIDDEN', 'FORBIDDEN', 'this wallet belongs to someone else', field);
    return { wallet, opened: found.opened };
  }

  /** The freshest balance known: the read model's, or the last result this gateway answered with, by version. */
  async function freshBalances(walletIds: string[]) {
    const [stored, cached] = await Promise.all([directory.balances(walletIds), balances.read(walletIds)]);
    const out = new Map<string, { balanceMinor: bigint; version: bigint }>();
    for (const id of walletIds) {
      const a = stored.get(id);
      const b = cached.get(id);
      const best = a && b ? (b.version > a.version ? b : a) : (a ?? b);
      out.set(id, best ?? { balanceMinor: 0n, version: 0n });
    }
    return out;
  }

  /**
   * The 202 for `sent`, whose result did not arrive in time, recorded so that its caller may poll it: who may, and (as
   * the fingerprint of what was sent) which request the ledger's first result under its id must answer, since a key
   * reused after the gateway forgot it names an earlier request's. The command may be applied whatever is answered
   * now, so a record Redis does not take is kept in Postgres instead (a 503 would invite a client without a key to pay
   * again); only when neither takes it is the answer 503.
   */
  async function answerLater(
    sent: LedgerCommand,
    record: Omit<OperationRecord, 'createdAt' | 'requestFingerprint'>,
    extra?: Record<string, string>,
  ): Promise<Reply> {
    const op: OperationRecord = {
      ...record,
      requestFingerprint: String(commandFingerprint(sent)),
      createdAt: deps.now().toISOString(),
    };
    if (!(await bookkeep('operation', () => deps.operations.put(sent.commandId, op))))
      await directory.saveOperation(sent.commandId, op, deps.config.idempotencyTtlSeconds);
    return pending(sent.commandId, extra);
  }

  /** An operation's record: Redis's, else the one kept in Postgres when Redis did not take it (see answerLater). */
  async function operationRecord(id: string): Promise<OperationRecord | undefined> {
    return (await deps.operations.get(id)) ?? directory.savedOperation(id, deps.config.idempotencyTtlSeconds);
  }

  /**
   * A command whose id comes from an Idempotency-Key the gateway no longer remembers (its record expired after
   * PAYSTREAM_IDEMPOTENCY_TTL_HOURS, or Redis lost it) may have been processed before; the read model tells. Another
   * request under the key is refused at once, as the ledger would refuse it. The same request first processed longer
   * ago than the ledger remembers ids is refused too: the ledger would take it for a new command, and its result,
   * entries and events would carry the ids of the first one's. A command the read model does not show goes on: the
   * ledger still recognises it.
   */
  async function refuseForgottenKey(req: Request, sent: LedgerCommand): Promise<void> {
    if (req.idempotencyKey === undefined) return;
    const first = await directory.ledgerResult(sent.commandId);
    const verdict = firstUseVerdict(first, sent, deps.now(), config.ledgerDedupWindowMs);
    if (verdict === 'OTHER_REQUEST') throw reusedKeyError();
    if (first && verdict === 'FORGOTTEN')
      throw new ApiError(
        'UNPROCESSABLE',
        'IDEMPOTENCY_KEY_REUSED',
        `this Idempotency-Key was first used at ${first.processedAt.toISOString()}, longer ago than the ledger ` +
          `remembers commands (${config.ledgerDedupWindowMs / 86_400_000} days); nothing was applied: send this ` +
          'request with a new key',
        'Idempotency-Key',
      );
  }

  /**
   * Records an accepted result for read-your-writes: a read after the answer reflects it. When Redis does not take the
   * records, the read model stands in for them: the answer waits (until `until`) for it to show the result, and then
   * answers the ledger's outcome whether or not it did (see {@link Bookkeeping}).
   */
  async function remember(result: LedgerResult, until: number): Promise<void> {
    const o = result.outcome;
    if (!('paystream.ledger.CommandAccepted' in o)) return;
    const a = o['paystream.ledger.CommandAccepted'];
    const recorded = await bookkeep('read-your-writes', () =>
      Promise.all([
        balances.record(result.accountId, a.balanceVersion, a.balanceAfterMinor),
        deps.lastWrites.record(result.accountId, 'entries', a.entryIds),
      ]),
    );
    if (!recorded)
      await readModelShows(result.commandId, until, { accountId: result.accountId, version: a.balanceVersion });
  }

  /**
   * Waits until the read model holds the result of `commandId` (and, given one, the account's balance at `version` or
   * later), or `until`. A read model that cannot be read (Postgres down too) ends the wait. Logs a wait that ended
   * without it: reads right after that answer may not reflect it until the sink catches up.
   */
  async function readModelShows(
    commandId: string,
    until: number,
    balance?: { accountId: string; version: bigint },
  ): Promise<void> {
    for (;;) {
      try {
        const [row, stored] = await Promise.all([
          directory.ledgerResult(commandId),
          balance ? directory.balances([balance.accountId]) : undefined,
        ]);
        const balanceShown = !balance || (stored?.get(balance.accountId)?.version ?? -1n) >= balance.version;
        if (row && balanceShown) return;
      } catch {
        break;
      }
      if (Date.now() >= until) break;
      await sleep(50);
    }
    deps.logger.warn('answered before the read model showed the result; reads may not reflect it yet', { commandId });
  }

  async function signup(kind: 'CLIENT' | 'MERCHANT', req: Request): Promise<Reply> {
    const s = parseSignup(req.body, kind);
    // Counted before the hash, whatever its outcome: a sign-up refused for a taken e-mail still told its sender that.
    const wait = await deps.signupLimiter.attempt(req.clientAddress);
    if (wait > 0)
      throw ApiError.rateLimited(
        'TOO_MANY_SIGNUPS',
        `more than ${config.signupsPerAddressPerHour} sign-ups from this address in an hour; try again in ${wait} s`,
        wait,
      );
    const partyId = `pty_${deps.newId().replace(/-/g, '')}`;
    const requestId = req.idempotencyKey === undefined ? undefined : req.operationId;
    try {
      const passwordHash = await deps.passwords.hash(s.password);
      await directory.createParty({ partyId, kind, email: s.email, passwordHash, profile: s.profile, requestId });
      try {
        await deps.events.publish(
          partyRegisteredEvent({ partyId, kind, email: s.email, displayName: s.displayName, registeredAt: deps.now() }),
        );
      } catch (err) {
        // Without its event the party would be missing from every read model: undo, and let the client retry.
        await directory.deleteParty(partyId);
        throw err;
      }
    } catch (err) {
      const again =
        requestId !== undefined && err instanceof ApiError && err.apiCode === 'EMAIL_TAKEN'
          ? await signupAgain(kind, requestId, s)
          : undefined;
      // A sign-up the gateway failed (503: refused under load, a dependency down) created nothing and told nothing:
      // its retry is not the address's to pay for, and neither is the same sign-up answered again. A taken e-mail
      // (409) stays counted.
      if (again !== undefined || errorResponse(toPaystreamError(err)).status >= 500)
        await deps.signupLimiter
          .uncount(req.clientAddress)
          .catch((e: unknown) => deps.logger.warn('a failed sign-up stays counted', { error: (e as Error).message }));
      if (again !== undefined) return again;
      throw err;
    }
    // Were the process to die before this line, the gateway's sweep (republishPartyEvents) publishes the event again.
    await directory.markPartyPublished(partyId, kind).catch((err: unknown) => {
      deps.logger.warn('party event published but not marked; the sweep will publish it again', {
        partyId,
        error: (err as Error).message,
      });
    });
    const token = await sessions.create({ partyId, kind });
    return { status: 201, body: { token } };
  }

  /**
   * A keyed sign-up whose e-mail is taken by the account this same request made (its Idempotency-Key forgotten by the
   * gateway, or the request run twice after a claim was taken over from a gateway alive after all): answered as the
   * first run was, 201 with a session of its own, when the password and the profile are that account's. While the
   * first run can still be undone (its PartyRegistered event not yet acknowledged) it is in progress (409). Otherwise
   * undefined: the e-mail is someone else's (409 EMAIL_TAKEN).
   */
  async function signupAgain(
    kind: 'CLIENT' | 'MERCHANT',
    requestId: string,
    s: { email: string; password: string; profile: object },
  ): Promise<Reply | undefined> {
    const earlier = await directory.credentials(s.email);
    if (earlier?.requestId !== requestId || earlier.kind !== kind) return undefined;
    if (!isDeepStrictEqual(earlier.profile, s.profile)) return undefined;
    if (!(await deps.passwords.verify(s.password, earlier.hash))) return undefined;
    if (!earlier.published)
      throw new ApiError('CONFLICT', 'REQUEST_IN_PROGRESS', 'the same request is being processed', 'Idempotency-Key');
    const token = await sessions.create({ partyId: earlier.partyId, kind });
    return { status: 201, body: { token } };
  }

  async function login(kind: 'CLIENT' | 'MERCHANT', req: Request): Promise<Reply> {
    const { email, password } = parseLogin(req.body);
    const [wait, found] = await Promise.all([
      deps.loginThrottle.attempt(email, req.clientAddress),
      directory.credentials(email),
    ]);
    if (wait > 0)
      throw ApiError.rateLimited(
        'TOO_MANY_LOGIN_ATTEMPTS',
        `too many failed logins for this e-mail; try again in ${wait} s`,
        wait,
        'email',
      );
    const known = found?.kind === kind ? found : undefined;
    let verified: boolean;
    try {
      if (known) verified = await deps.passwords.verify(password, known.hash);
      else {
        // A failed hash (refused under load, say) is not kept: the next login makes it again.
        dummyHash ??= deps.passwords.hash('timing-equaliser').catch((err: unknown) => {
          dummyHash = undefined;
          throw err;
        });
        await deps.passwords.verify(password, await dummyHash);
        verified = false;
      }
    } catch (err) {
      // The password was not checked (503 OVERLOADED, or a failure): the attempt is not the e-mail's to pay for.
      await deps.loginThrottle
        .unchecked(email, req.clientAddress)
        .catch((e: unknown) => deps.logger.warn('a login not checked stays counted', { error: (e as Error).message }));
      throw err;
    }
    if (!known || !verified)
      throw new ApiError('UNAUTHENTICATED', 'INVALID_CREDENTIALS', 'e-mail or password is wrong');
    await deps.loginThrottle.succeeded(email, req.clientAddress);
    const token = await sessions.create({ partyId: known.partyId, kind });
    return { status: 200, body: { token } };
  }

  async function logout(req: Request): Promise<Reply> {
    parseEmptyBody(req.body);
    await sessions.revoke((req.caller as Party).token);
    return { status: 204 };
  }

  /**
   * Records the wallet, then opens its ledger account. Guarantees: a 201 names an open account; a 202 names a wallet
   * that will open (or be dropped if the ledger refuses it); a 503 for a command withdrawn unsent drops the wallet, and
   * nothing was opened. Whatever is answered, a recorded wallet never stays without its account: the row stays until
   * the ledger's acceptance is recorded, and the sweep (`openLeftWallets`) sends the same command again until it is.
   */
  async function createWallet(req: Request): Promise<Reply> {
    parseEmptyBody(req.body);
    const caller = req.caller as Party;
    const limit = caller.kind === 'MERCHANT' ? 1 : config.maxWalletsPerClient;
    // A creation sent with an Idempotency-Key the gateway forgot names the wallet it created the first time: answered
    // as then once its account is open, else its opening is sent again (the same command id, applied at most once).
    const reserved = await directory.reserveWallet(
      caller.partyId,
      limit,
      newWalletToken(),
      config.currency,
      req.idempotencyKey === undefined ? undefined : req.operationId,
    );
    const { walletId: wallet, currency } = reserved;
    if (reserved.opened) return walletCreated(wallet, currency);
    const open = openWalletCommand(
      { walletId: wallet, ownerKind: caller.kind, ownerId: caller.partyId, currency },
      deps.now(),
    );
    const later = () =>
      answerLater(open, { partyId: caller.partyId, kind: 'WALLET_CREATE', walletId: wallet }, { wallet });
    let result: LedgerResult | undefined;
    const until = deadline();
    try {
      result = await ledger.request(open, until);
    } catch (err) {
      // Left in a produce request Kafka had not acknowledged: the account may still open, so the wallet stays. So
      // does a wallet of an earlier request, whose own opening may have left then (the sweep sends it again).
      if (mayStillBeApplied(err)) return later();
      if (reserved.created) await directory.dropWallet(wallet);
      throw err;
    }
    if (!result) return later();
    const outcome = openingOutcome(result);
    if (!outcome.opened) {
      await directory.dropWallet(wallet);
      throw new ApiError('UNPROCESSABLE', outcome.code, 'the wallet could not be opened; retry');
    }
    await remember(result, until);
    await directory.markWalletOpened(wallet).catch((err: unknown) => {
      // The account is open; the sweep finds the unmarked row, is answered with this acceptance, and marks it.
      deps.logger.warn('wallet opened but not marked; the sweep will mark it', {
        wallet,
        error: (err as Error).message,
      });
    });
    return walletCreated(wallet, currency);
  }

  async function deposit(req: Request): Promise<Reply> {
    const caller = req.caller as Party;
    const d = parseDeposit(req.body, config.currency, config.maxAmountMinor);
    const { wallet, opened } = await ownWallet(caller, d.wallet, 'wallet');
    const sent = command(wallet, `dep:${req.operationId}`, deps.now(), {
      'paystream.ledger.Deposit': { amountMinor: d.amountMinor, currency: config.currency, reference: null },
    });
    await refuseForgottenKey(req, sent);
    const until = deadline();
    const result = await ledger.request(sent, until);
    if (!result) return answerLater(sent, { partyId: caller.partyId, kind: 'DEPOSIT', walletId: wallet }, { wallet });
    count('deposit', result, config.currency);
    // A wallet answered 202 at its creation (or left by a crash) exists before its account does: not a 404, a wait.
    if (!opened && rejectedAs(result, 'UNKNOWN_ACCOUNT'))
      throw new ApiError(
        'CONFLICT',
        'WALLET_OPENING',
        'the wallet is still being opened (its creation answered 202: poll that operation); this deposit moved ' +
          'nothing: send it again shortly, with a new Idempotency-Key',
        'wallet',
      );
    const accepted = acceptedOrError(result, { field: 'wallet', what: 'the wallet' });
    await remember(result, until);
    return {
      status: 200,
      body: {
        wallet,
        balance: formatAmount(accepted.balanceAfterMinor, accepted.currency),
        currency: accepted.currency,
      },
    };
  }

  async function charge(req: Request): Promise<Reply> {
    const caller = req.caller as Party;
    const c = parseCharge(req.body, config.currency, config.maxAmountMinor);
    // A company's one wallet never changes once its account is open: remembered per process from then on.
    let merchantWallet = merchantWallets.get(caller.partyId);
    if (!merchantWallet) {
      const own = await directory.walletsOf(caller.partyId, { limit: 1 });
      const found = own === 'unknown cursor' ? undefined : own[0];
      if (!found)
        throw new ApiError(
          'CONFLICT',
          'MERCHANT_WALLET_MISSING',
          'create your wallet (POST /wallet/create) before charging',
        );
      // Charging into an account not open yet would debit the payer only to send the money back.
      if (!found.opened && !(await openedByLedger(found.walletId)))
        throw new ApiError(
          'CONFLICT',
          'WALLET_OPENING',
          'your wallet is still being opened (its creation answered 202: poll that operation); nothing was charged',
        );
      merchantWallet = { walletId: found.walletId, currency: found.currency };
      merchantWallets.set(caller.partyId, merchantWallet);
    }
    if (merchantWallet.walletId === c.wallet)
      throw new ApiError(
        'VALIDATION_FAILED',
        'VALIDATION_FAILED',
        'wallet: a merchant cannot charge its own wallet',
        'wallet',
      );
    const commandId = chargeCommandId(req.operationId);
    const creditId = creditCommandId(commandId);
    // The ledger's own follow-up when the credit cannot land: the money sent back to the payer.
    const reversalId = reversalCommandId(creditId);
    const until = deadline();
    // Registered before the charge is sent: the credit's result may arrive before the charge's is handled, and the
    // reversal's before the credit's is.
    const creditReply = ledger.expect(creditId);
    const reversalReply = ledger.expect(reversalId);
    const forgetFollowUps = () => {
      ledger.forget(creditId);
      ledger.forget(reversalId);
    };
    const sent = command(c.wallet, commandId, deps.now(), {
      'paystream.ledger.Charge': {
        merchantAccountId: merchantWallet.walletId,
        amountMinor: c.amountMinor,
        currency: merchantWallet.currency,
        summary: c.summary,
      },
    });
    let result: LedgerResult | undefined;
    try {
      await refuseForgottenKey(req, sent);
      result = await ledger.request(sent, until);
    } catch (err) {
      forgetFollowUps();
      throw err;
    }
    const chargeAnsweredAt = performance.now();
    const later = () =>
      answerLater(sent, { partyId: caller.partyId, kind: 'CHARGE', walletId: merchantWallet.walletId });
    if (!result) {
      forgetFollowUps();
      return later();
    }
    count('charge', result, merchantWallet.currency);
    try {
      acceptedOrError(result, { field: 'wallet', what: 'the charged wallet' });
    } catch (err) {
      forgetFollowUps();
      // The payer's wallet may exist before its account does (its creation answered 202, or a crash left it to the
      // sweep): that is a wait, as for a deposit, not a wallet that does not exist.
      if (rejectedAs(result, 'UNKNOWN_ACCOUNT') && (await directory.wallet(c.wallet))?.opened === false)
        throw new ApiError(
          'CONFLICT',
          'WALLET_OPENING',
          'the charged wallet is still being opened; nothing was charged: send it again shortly, with a new ' +
            'Idempotency-Key',
          'wallet',
        );
      if (rejectedAs(result, 'INSUFFICIENT_FUNDS')) {
        // A refused charge shows in both histories under its command id.
        const recorded = await bookkeep('read-your-writes', () =>
          Promise.all([
            deps.lastWrites.record(c.wallet, 'refused', [commandId]),
            deps.lastWrites.record(merchantWallet.walletId, 'refused', [commandId]),
          ]),
        );
        if (!recorded) await readModelShows(commandId, until);
      }
      throw err;
    }
    // A charge the ledger had applied before (a retry whose first request was answered, or whose gateway died) comes
    // back a duplicate: its credit was sent then, and is not sent again.
    const repeated = result.duplicate === true;
    // The payer's result is remembered while the credit travels; both are stored before anything is answered, so a
    // read after this response (or after its 202) reflects the debit.
    const [, credit] = await Promise.all([
      remember(result, until),
      repeated
        ? followUpOfRepeat(creditId, creditReply, until)
        : ledger.waitForFollowUp(creditId, creditReply, until, chargeAnsweredAt).then((r) => r && settled(r)),
    ]);
    if (!credit) {
      ledger.forget(reversalId);
      return later();
    }
    if (!credit.accepted) {
      // Answered once the money is back, and remembered, so a read after this answer shows the payer's balance
      // restored (read-your-writes, as for a charge that went through).
      const reversal = repeated
        ? await followUpOfRepeat(reversalId, reversalReply, until)
        : await ledger.waitFor(reversalId, reversalReply, until).then((r) => r && settled(r));
      const returned = reversal?.accepted === true;
      if (reversal && returned) await rememberSettled(reversal, until);
      throw new ApiError(
        'UNPROCESSABLE',
        'CHARGE_REVERSED',
        `your wallet could not take the money (${credit.code}); it ` +
          (returned ? 'was returned to the payer' : 'is being returned to the payer'),
      );
    }
    ledger.forget(reversalId);
    await rememberSettled(credit, until);
    return {
      status: 200,
      body: {
        wallet: merchantWallet.walletId,
        balance: formatAmount(credit.balanceAfterMinor, merchantWallet.currency),
        currency: merchantWallet.currency,
      },
    };
  }

  /**
   * The result of a follow-up the ledger sent itself when it applied a command (a charge's credit, a credit's
   * reversal), for a command whose result came back a duplicate: the follow-up was sent when it was first applied,
   * and its result published then, or still to come if that was moments ago. So it is taken from whichever has it
   * first, `ledger.results` (`reply`) or the read model; undefined at `until`.
   */
  async function followUpOfRepeat(
    commandId: string,
    reply: Promise<LedgerResult>,
    until: number,
  ): Promise<Settled | undefined> {
    let found: Settled | undefined;
    const arrived = reply.then((r) => {
      found ??= settled(r);
    });
    for (;;) {
      const row = found ? undefined : await directory.ledgerResult(commandId);
      if (row) found ??= settledInReadModel(row);
      if (found) {
        ledger.forget(commandId);
        return found;
      }
      if (Date.now() >= until) break;
      await Promise.race([arrived, sleep(50)]);
    }
    // Late: counted and forgotten as any reply past its deadline is.
    const late = await ledger.waitFor(commandId, reply, Date.now());
    return late && settled(late);
  }

  /** Records a follow-up's accepted result for read-your-writes, as `remember` does a live one. */
  async function rememberSettled(s: Settled, until: number): Promise<void> {
    if (!s.accepted) return;
    if (s.live) return remember(s.live, until);
    // From the read model: the balance at that version is there already, and stays so in the gateway's records.
    await bookkeep('read-your-writes', () => balances.record(s.accountId, s.balanceVersion, s.balanceAfterMinor));
  }

  async function info(req: Request): Promise<Reply> {
    const { wallet } = await ownWallet(req.caller as Party, req.params.token, 'token');
    const b = (await freshBalances([wallet])).get(wallet)!;
    return {
      status: 200,
      body: { wallet, balance: formatAmount(b.balanceMinor, config.currency), currency: config.currency },
    };
  }

  /**
   * The caller's wallets in the order they were created, at most `limit` (1000 by default and at most) per page; the
   * next page's cursor is in `X-Next-Cursor` and `Link: rel="next"`, as for the history.
   */
  async function list(req: Request): Promise<Reply> {
    const query = parseWalletListQuery(req.query);
    const wallets = await directory.walletsOf((req.caller as Party).partyId, query);
    if (wallets === 'unknown cursor') throw invalid('cursor', 'is not a cursor returned by this API');
    const fresh = await freshBalances(wallets.map((w) => w.walletId));
    const headers: Record<string, string> = {};
    const last = wallets[wallets.length - 1];
    if (last && wallets.length === query.limit) {
      headers['x-next-cursor'] = last.walletId;
      const params = new URLSearchParams({ limit: String(query.limit), cursor: last.walletId });
      headers.link = `</wallet/list?${params.toString()}>; rel="next"`;
    }
    return {
      status: 200,
      body: wallets.map((w) => ({
        wallet: w.walletId,
        balance: formatAmount(fresh.get(w.walletId)?.balanceMinor ?? 0n, w.currency),
        currency: w.currency,
      })),
      headers,
    };
  }

  /**
   * History comes from the read model. When a gateway has answered for this wallet with an operation the read model
   * does not show yet, the read waits (up to the reply timeout) for the sink to write it, so a history read after a
   * deposit, a charge or a refused charge shows that operation.
   */
  async function history(req: Request): Promise<Reply> {
    const { wallet } = await ownWallet(req.caller as Party, req.params.token, 'token');
    const query = parseHistoryQuery(req.query);
    const pending = await deps.lastWrites.read(wallet);
    const until = deadline();
    while (pending.length > 0 && Date.now() < until) {
      const first = pending[0]!;
      if (await directory.historyHas(wallet, first)) pending.shift();
      else await sleep(25);
    }
    const rows = await directory.history(wallet, query);
    const headers: Record<string, string> = {};
    const last = rows[rows.length - 1];
    if (last && rows.length === query.limit) {
      const cursor = encodeCursor(last);
      headers['x-next-cursor'] = cursor;
      const params = new URLSearchParams({ limit: String(query.limit), cursor });
      if (query.from) params.set('from', query.from.toISOString());
      if (query.to) params.set('to', query.to.toISOString());
      headers.link = `</wallet/history/${wallet}?${params.toString()}>; rel="next"`;
    }
    return { status: 200, body: rows.map(historyItem), headers };
  }

  /**
   * Each request's bulk as `readBulk` accepted it, by the request's parsed body: a bulk without a key is read for its
   * identity and then to be sent, once (a bulk of 1,000 took 2.3 ms to parse). Refusals are not kept: they end the
   * request.
   */
  const readBulks = new WeakMap<object, { org: Org; bulk: BulkTransferRequest }>();

  /**
   * A bulk as the organization of the caller's key may send it: the body names the organization three ways, and each
   * must be the key's, so a client that took the wrong key, or the wrong organization's details, is refused before
   * anything moves (the first that differs is named).
   */
  function readBulk(body: unknown, org: Org): BulkTransferRequest {
    const read = typeof body === 'object' && body !== null ? readBulks.get(body) : undefined;
    if (read?.org === org) return read.bulk;
    const b = parseBulkTransfer(body, org.currency, config.maxAmountMinor);
    const other = (
      [
        ['organization_name', 'organization', sameOrganizationName(b.organizationName, org.name)],
        ['organization_iban', 'account', b.organizationIban === org.iban],
        ['organization_bic', 'account', sameBic(b.organizationBic, org.bic)],
      ] as const
    ).find(([, , same]) => !same);
    if (other)
      throw new ApiError('FORBIDDEN', 'FORBIDDEN', `${other[0]} is not the ${other[1]} of this API key`, other[0]);
    refuseTransfersToItself(b);
    if (typeof body === 'object' && body !== null) readBulks.set(body, { org, bulk: b });
    return b;
  }

  /** The route's `dedupeBy`: what a bulk does, read as `bulkTransfer` reads it (its refusals included). */
  function bulkIdentity(body: unknown, caller: Caller | undefined): string {
    return bulkIdentityOf(readBulk(body, caller as Org));
  }

  async function bulkTransfer(req: Request): Promise<Reply> {
    const org = req.caller as Org;
    const b = readBulk(req.body, org);
    const credits = b.creditTransfers.map((t, i) => ({
      itemId: String(i + 1),
      amountMinor: t.amountMinor,
      counterpartyName: t.counterpartyName,
      counterpartyIban: t.counterpartyIban,
      counterpartyBic: t.counterpartyBic,
      description: t.description,
    }));
    // The bulk's id (its command's) is derived from the caller and the Idempotency-Key, or without one from what the
    // bulk does, so a retry after a crash re-sends the same command and the ledger applies it once. Without a key, a
    // bulk the ledger refused may be sent again (the gateway keeps no refusal), but the ledger answers a command id it
    // has seen with its first result: so a result that repeats a refusal sends the bulk again under the next id of a
    // sequence derived the same way. Every retry walks the same sequence, so at most one of its ids is ever accepted.
    //
    // Without a key, the read model is asked first which ids of the sequence were used: an accepted bulk with the same
    // payments is a duplicate (409) however long ago it was, and a refused one moves the bulk on to the next id. So a
    // bulk whose ids the ledger has forgotten (past its dedup window) is not sent under them again, where the read
    // model and the credit transfers' event ids would collide with the earlier bulk's.
    const until = deadline();
    /** The sequence's ids: the operation id, then one derived from it per re-send. */
    const bulkIdAt = (attempt: number) =>
      attempt === 1 ? req.operationId : derivedUuid(`${req.operationId}\nresend ${attempt - 1}`);
    let attempt = 1;
    let bulkId = bulkIdAt(attempt);
    if (req.idempotencyKey === undefined)
      for (let seen = await directory.bulk(bulkId); seen; seen = await directory.bulk(bulkId)) {
        if (seen.accepted) throw duplicateBulkError(bulkId, { at: seen.processedAt });
        if (attempt >= MAX_BULK_RESENDS) break;
        bulkId = bulkIdAt(++attempt);
      }
    let result: LedgerResult | undefined;
    let sent: LedgerCommand;
    for (; ; attempt++) {
      sent = command(org.accountId, `bulk:${bulkId}`, deps.now(), {
        'paystream.ledger.BulkDebit': { bulkId, currency: org.currency, credits },
      });
      await refuseForgottenKey(req, sent);
      result = await ledger.request(sent, until);
      const refusedBefore =
        result?.duplicate === true &&
        'paystream.ledger.CommandRejected' in result.outcome &&
        !rejectedAs(result, 'COMMAND_ID_REUSED');
      if (!refusedBefore || req.idempotencyKey !== undefined || attempt >= MAX_BULK_RESENDS) break;
      bulkId = bulkIdAt(attempt + 1);
    }
    const commandId = sent.commandId;
    const described = {
      partyId: org.partyId,
      kind: 'BULK_TRANSFER' as const,
      bulkId,
      bulk: { totalMinor: b.totalMinor.toString(), currency: org.currency, itemCount: credits.length },
    };
    if (!result) return answerLater(sent, described, { bulk_id: bulkId });
    const record: OperationRecord = {
      ...described,
      requestFingerprint: String(commandFingerprint(sent)),
      createdAt: deps.now().toISOString(),
    };
    count('bulk_transfer', result, org.currency);
    // The id is another bulk's (the key's first use): its record and status stay that bulk's.
    if (rejectedAs(result, 'COMMAND_ID_REUSED')) throw reusedKeyError();
    // Without a key, the ledger's first acceptance of these payments (the read model not there yet) is not this one's.
    if (req.idempotencyKey === undefined && result.duplicate && 'paystream.ledger.CommandAccepted' in result.outcome)
      throw duplicateBulkError(bulkId, { at: result.processedAt });
    const o = result.outcome;
    if (!('paystream.ledger.CommandAccepted' in o)) {
      const code = o['paystream.ledger.CommandRejected'].code;
      await bookkeep('operation', () =>
        deps.operations.put(commandId, { ...record, outcome: { accepted: false, code } }),
      );
      if (code === 'INSUFFICIENT_FUNDS')
        throw new ApiError(
          'UNPROCESSABLE',
          code,
          `the organization account cannot cover the total of ${formatAmount(b.totalMinor, org.currency)}; nothing was debited`,
          'credit_transfers',
        );
      acceptedOrError(result, { field: 'organization_iban', what: 'the organization account' });
    }
    await bookkeep('operation', () => deps.operations.put(commandId, { ...record, outcome: { accepted: true } }));
    await remember(result, until);
    return {
      status: 201,
      body: {
        bulk_id: bulkId,
        status: 'ACCEPTED',
        total_amount: formatAmount(b.totalMinor, org.currency),
        currency: org.currency,
        credit_transfers: b.creditTransfers.length,
      },
      headers: { location: `/bulk_transfer/${bulkId}` },
    };
  }

  /**
   * A bulk's status from the read model. Once the gateway has answered a bulk's outcome (201 or 422), a read waits, up
   * to the reply timeout, until the read model shows the bulk and, accepted, every one of its credit transfers (they
   * reach it from another topic than the bulk's result, so they may lag behind it): a read right after the 201 lists
   * them all. Past the timeout — or at once, for a bulk the ledger processed longer ago than that — it answers what it
   * knows, without `items` while they are incomplete, rather than an accepted bulk with fewer transfers than it has.
   */
  async function bulkStatus(req: Request): Promise<Reply> {
    const org = req.caller as Org;
    const bulkId = req.params.id ?? '';
    const notFound = () => new ApiError('NOT_FOUND', 'BULK_NOT_FOUND', 'no such bulk transfer', 'id');
    if (!/^[0-9a-f-]{36}$/.test(bulkId)) throw notFound();
    // The gateway's own record of its answer (Redis's, or the one kept in Postgres when Redis did not take a 202's),
    // read only when the read model does not show the bulk yet.
    let record: Promise<OperationRecord | undefined> | undefined;
    const ownRecord = () =>
      (record ??= operationRecord(`bulk:${bulkId}`).then((op) => (op?.partyId === org.partyId ? op : undefined)));
    const until = deadline();
    for (;;) {
      const row = await directory.bulk(bulkId);
      if (row) {
        if (row.organizationAccountId !== org.accountId) throw notFound();
        const items = row.accepted ? await directory.bulkItems(bulkId) : [];
        const complete = !row.accepted || row.itemCount === null || items.length >= row.itemCount;
        // Transfers missing from a bulk processed longer ago than a reply's wait are not on their way (one the read
        // model refused waits in its dead-letter topic for a redrive): not waited for again on every read.
        if (complete || Date.now() >= Math.min(until, row.processedAt.getTime() + config.replyTimeoutMs))
          return {
            status: 200,
            body: {
              bulk_id: bulkId,
              status: row.accepted ? 'ACCEPTED' : 'REJECTED',
              rejection_code: row.rejectionCode,
              total_amount: row.totalMinor === null ? null : formatAmount(row.totalMinor, row.currency ?? org.currency),
              currency: row.currency,
              credit_transfers: row.itemCount,
              processed_at: row.processedAt.toISOString(),
              ...(complete ? { items: items.map(bulkItem) } : {}),
            },
          };
      } else if ((await ownRecord())?.outcome === undefined || Date.now() >= until) break;
      await sleep(25);
    }
    const op = await ownRecord();
    if (!op) throw notFound();
    const status = op.outcome === undefined ? 'PENDING' : op.outcome.accepted ? 'ACCEPTED' : 'REJECTED';
    return {
      status: 200,
      body: {
        bulk_id: bulkId,
        status,
        rejection_code: op.outcome?.code ?? null,
        ...(op.bulk
          ? {
              total_amount: formatAmount(BigInt(op.bulk.totalMinor), op.bulk.currency),
              currency: op.bulk.currency,
              credit_transfers: op.bulk.itemCount,
            }
          : {}),
        // A refused bulk moved nothing; an accepted one's transfers are listed once the read model has them.
        ...(status === 'REJECTED' ? { items: [] } : {}),
      },
    };
  }

  async function operation(req: Request): Promise<Reply> {
    const caller = req.caller!;
    const id = req.params.id ?? '';
    const op = id.length <= 200 ? await operationRecord(id) : undefined;
    if (!op || op.partyId !== caller.partyId)
      throw new ApiError('NOT_FOUND', 'OPERATION_NOT_FOUND', 'no such operation', 'id');
    const stillPending: Reply = { status: 200, body: { operation_id: id, status: 'PENDING' } };
    const done = await directory.ledgerResult(id);
    if (!done) return stillPending;
    // The first result under this id answers another request: the key was reused after the gateway forgot it, and the
    // ledger refused this one (COMMAND_ID_REUSED), applying nothing.
    if (!operationAnsweredBy(op, done))
      return {
        status: 200,
        body: {
          operation_id: id,
          status: 'FAILED',
          rejection_code: 'IDEMPOTENCY_KEY_REUSED',
          ...(op.walletId ? { wallet: op.walletId } : {}),
          ...(op.bulkId ? { bulk_id: op.bulkId } : {}),
        },
      };
    // A charge is done once the merchant's wallet is credited: until then the debited money may still go back to the
    // payer (CHARGE_REVERSED, as the charge's own answer would have said).
    const followUp = awaitedFollowUp(id, done.accepted);
    const credit = followUp === undefined ? undefined : await directory.ledgerResult(followUp);
    if (followUp !== undefined && !credit) return stillPending;
    // Whoever learns the outcome here reads a balance at least as fresh afterwards.
    for (const r of [done, credit])
      if (r?.accepted && r.balanceVersion !== null && r.balanceAfterMinor !== null)
        await balances.record(r.accountId, r.balanceVersion, r.balanceAfterMinor);
    const reversed = credit?.accepted === false;
    return {
      status: 200,
      body: {
        operation_id: id,
        status: done.accepted && !reversed ? 'SUCCEEDED' : 'FAILED',
        rejection_code: reversed ? 'CHARGE_REVERSED' : done.rejectionCode,
        ...(op.walletId ? { wallet: op.walletId } : {}),
        ...(op.bulkId ? { bulk_id: op.bulkId } : {}),
      },
    };
  }

  return {
    clientSignup: (r: Request) => signup('CLIENT', r),
    clientLogin: (r: Request) => login('CLIENT', r),
    companySignup: (r: Request) => signup('MERCHANT', r),
    companyLogin: (r: Request) => login('MERCHANT', r),
    logout,
    createWallet,
    deposit,
    charge,
    info,
    list,
    history,
    bulkTransfer,
    bulkIdentity,
    bulkStatus,
    operation,
  };
}
