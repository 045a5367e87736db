import { processLedgerCommand } from '../../services/ledger/src/domain/ledger';
import type {
  BulkCreditItem,
  LedgerCommand,
  LedgerEntry,
  LedgerResult,
} from '../../services/platform/src/sdk/event-types.generated';
import type { InputEvent, Output, ProcessResult, StateReader } from '../../services/processor-runtime/src/processor';

/** The ledger entries a result carries: an accepted first result's legs; none for a rejection or a duplicate. */
export function legsOf(result: LedgerResult): LedgerEntry[] {
  const o = result.outcome;
  return !result.duplicate && 'paystream.ledger.CommandAccepted' in o
    ? o['paystream.ledger.CommandAccepted'].entries
    : [];
}

/** The balance an accepted result left its account at; undefined for a rejection (or no result). */
export function balanceAfter(result: LedgerResult | undefined): bigint | undefined {
  const o = result?.outcome;
  return o && 'paystream.ledger.CommandAccepted' in o
    ? o['paystream.ledger.CommandAccepted'].balanceAfterMinor
    : undefined;
}

/** A command as the runtime hands it to the processor: on partition 0 at `offset`, stamped `now`. */
/** A BulkDebit `bulk` with its credit transfers as `change` makes them: the same command id, bulk id and currency. */
export function withCredits(
  bulk: LedgerCommand,
  change: (credits: BulkCreditItem[]) => BulkCreditItem[],
): LedgerCommand {
  if (!('paystream.ledger.BulkDebit' in bulk.command)) throw new Error(`${bulk.commandId} is not a BulkDebit`);
  const b = bulk.command['paystream.ledger.BulkDebit'];
  return { ...bulk, command: { 'paystream.ledger.BulkDebit': { ...b, credits: change(b.credits) } } };
}

export function commandEvent(command: LedgerCommand, offset: number, now: Date): InputEvent<LedgerCommand> {
  return {
    topic: 'ledger.commands',
    partition: 0,
    offset: String(offset),
    key: command.accountId,
    value: command,
    eventId: command.commandId,
    correlationId: command.commandId,
    timestamp: now,
  };
}

/**
 * Runs the pure ledger over commands in memory, feeding follow-up commands (credits, reversals) back in after the
 * commands already queued — the same per-account order the runtime gives, with no Kafka in between. Used by unit
 * tests and as the oracle the integration tests compare against.
 */
export class LedgerModel implements StateReader {
  readonly stores = new Map<string, Map<string, unknown>>();
  readonly outputs: Output[] = [];
  /** The first (non-duplicate) result published for each command id, as consumers of ledger.results see it. */
  readonly results = new Map<string, LedgerResult>();
  private offset = 0;

  get<T>(store: string, key: string): T | undefined {
    return this.stores.get(store)?.get(key) as T | undefined;
  }

  apply(command: LedgerCommand, now = new Date('2026-11-24T10:00:00Z')): ProcessResult {
    const result = processLedgerCommand(this, commandEvent(command, this.offset++, now), { now });
    for (const c of result.state) {
      let m = this.stores.get(c.store);
      if (!m) this.stores.set(c.store, (m = new Map<string, unknown>()));
      if (c.value === null) m.delete(c.key);
      else m.set(c.key, c.value);
    }
    this.outputs.push(...result.outputs);
    for (const o of result.outputs) {
      const r = o.value as LedgerResult;
      if (o.topic === 'ledger.results' && !r.duplicate && !this.results.has(r.commandId))
        this.results.set(r.commandId, r);
    }
    return result;
  }

  /** Applies the commands, then every follow-up command they produce, until none is left. */
  run(commands: LedgerCommand[], now?: Date): void {
    const queue = [...commands];
    for (let next = queue.shift(); next; next = queue.shift()) {
      const r = this.apply(next, now);
      for (const o of r.outputs) if (o.topic === 'ledger.commands') queue.push(o.value as LedgerCommand);
    }
  }

  balance(accountId: string): bigint | undefined {
    return this.get<{ balanceMinor: bigint }>('ledger.balances', accountId)?.balanceMinor;
  }

  result(commandId: string): LedgerResult | undefined {
    return this.results.get(commandId);
  }
}

const at = new Date('2026-11-24T09:00:00Z');
let seq = 0;
const id = (p: string) => `${p}-${++seq}`;

export const cmd = {
  open: (
    accountId: string,
    currency = 'EUR',
    ownerKind: 'CLIENT' | 'MERCHANT' | 'ORGANIZATION' = 'CLIENT',
    allowNegative = false,
    commandId = id('open'),
  ): LedgerCommand => ({
    commandId,
    accountId,
    issuedAt: at,
    command: { 'paystream.ledger.OpenAccount': { ownerKind, ownerId: `owner-${accountId}`, currency, allowNegative } },
  }),
  deposit: (accountId: string, amountMinor: bigint, currency = 'EUR', commandId = id('dep')): LedgerCommand => ({
    commandId,
    accountId,
    issuedAt: at,
    command: { 'paystream.ledger.Deposit': { amountMinor, currency, reference: null } },
  }),
  charge: (
    payer: string,
    merchant: string,
    amountMinor: bigint,
    currency = 'EUR',
    commandId = id('chg'),
  ): LedgerCommand => ({
    commandId,
    accountId: payer,
    issuedAt: at,
    command: { 'paystream.ledger.Charge': { merchantAccountId: merchant, amountMinor, currency, summary: 'coffee' } },
  }),
  transfer: (
    from: string,
    to: string,
    amountMinor: bigint,
    currency = 'EUR',
    commandId = id('trf'),
  ): LedgerCommand => ({
    commandId,
    accountId: from,
    issuedAt: at,
    command: { 'paystream.ledger.Transfer': { toAccountId: to, amountMinor, currency, description: null } },
  }),
  bulk: (org: string, amounts: bigint[], currency = 'EUR', commandId = id('bulk')): LedgerCommand => ({
    commandId,
    accountId: org,
    issuedAt: at,
    command: {
      'paystream.ledger.BulkDebit': {
        bulkId: `b-${commandId}`,
        currency,
        credits: amounts.map((amountMinor, i) => ({
          itemId: `i${i}`,
          amountMinor,
          counterpartyName: 'Bip Bip',
          counterpartyIban: 'FR1420041010050500013M02606',
          counterpartyBic: 'CRLYFRPPTOU',
          description: 'Wonderland',
        })),
      },
    },
  }),
};
