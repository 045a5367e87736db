import {
  DEDUP_CLOCK_MARGIN_MS,
  DEFAULT_DEDUP_WINDOW_MS,
  LEDGER_STORES,
  ledgerProcessor,
  ledgerProcessorWith,
  MAX_MINOR,
  movementOf,
  processedEntry,
  systemAccount,
} from '../../../../services/ledger/src/domain/ledger';
import { creditCommandId, isReversalEntry, reversalCommandId } from '../../../../services/platform/src/sdk/ledger-ids';
import { describeCommand, requestFingerprint } from '../../../../services/platform/src/sdk/ledger-requests';
import type {
  AccountBalance,
  BulkCreditItem,
  Charge,
  LedgerCommand,
  LedgerResult,
} from '../../../../services/platform/src/sdk/event-types.generated';
import { evictExpired, PartitionState } from '../../../../services/processor-runtime/src/partition-state';
import { cmd, commandEvent, LedgerModel, legsOf, withCredits } from '../../../support/ledger-model';

const code = (r: LedgerResult | undefined) =>
  r && 'paystream.ledger.CommandRejected' in r.outcome
    ? r.outcome['paystream.ledger.CommandRejected'].code
    : 'ACCEPTED';
const after = (r: LedgerResult | undefined) =>
  r && 'paystream.ledger.CommandAccepted' in r.outcome
    ? r.outcome['paystream.ledger.CommandAccepted'].balanceAfterMinor
    : undefined;

function ledger() {
  const m = new LedgerModel();
  m.run([
    cmd.open('alice'),
    cmd.open('bob'),
    cmd.open('shop', 'EUR', 'MERCHANT'),
    cmd.open('usd', 'USD'),
    cmd.open('org', 'EUR', 'ORGANIZATION'),
    cmd.open('credit-line', 'EUR', 'CLIENT', true),
    cmd.deposit('alice', 1_000n),
    cmd.deposit('org', 10_000n),
  ]);
  return m;
}

describe('ledger: every command × every outcome', () => {
  it.each([
    ['OpenAccount: new', 'ACCEPTED', cmd.open('carol')],
    ['OpenAccount: exists', 'ACCOUNT_EXISTS', cmd.open('alice')],
    ['OpenAccount: bad currency', 'INVALID_COMMAND', cmd.open('dave', 'euro')],
    ['OpenAccount: reserved id', 'INVALID_COMMAND', cmd.open('system:transit:EUR')],
    ['Deposit: ok', 'ACCEPTED', cmd.deposit('alice', 5n)],
    ['Deposit: unknown account', 'UNKNOWN_ACCOUNT', cmd.deposit('nobody', 5n)],
    ['Deposit: currency mismatch', 'CURRENCY_MISMATCH', cmd.deposit('alice', 5n, 'USD')],
    ['Deposit: zero', 'INVALID_AMOUNT', cmd.deposit('alice', 0n)],
    ['Deposit: negative', 'INVALID_AMOUNT', cmd.deposit('alice', -5n)],
    ['Deposit: overflow', 'AMOUNT_OVERFLOW', cmd.deposit('alice', MAX_MINOR)],
    ['Charge: ok', 'ACCEPTED', cmd.charge('alice', 'shop', 300n)],
    ['Charge: exactly the balance', 'ACCEPTED', cmd.charge('alice', 'shop', 1_000n)],
    ['Charge: insufficient funds', 'INSUFFICIENT_FUNDS', cmd.charge('alice', 'shop', 1_001n)],
    ['Charge: negative allowed', 'ACCEPTED', cmd.charge('credit-line', 'shop', 50n)],
    ['Charge: unknown payer', 'UNKNOWN_ACCOUNT', cmd.charge('nobody', 'shop', 1n)],
    ['Charge: currency mismatch', 'CURRENCY_MISMATCH', cmd.charge('alice', 'shop', 1n, 'USD')],
    ['Charge: zero', 'INVALID_AMOUNT', cmd.charge('alice', 'shop', 0n)],
    ['Charge: to itself', 'INVALID_COMMAND', cmd.charge('alice', 'alice', 1n)],
    ['Transfer: ok', 'ACCEPTED', cmd.transfer('alice', 'bob', 10n)],
    ['Transfer: insufficient', 'INSUFFICIENT_FUNDS', cmd.transfer('bob', 'alice', 10n)],
    ['Transfer: to a system account', 'INVALID_COMMAND', cmd.transfer('alice', 'system:external:EUR', 10n)],
    ['BulkDebit: ok', 'ACCEPTED', cmd.bulk('org', [4_000n, 6_000n])],
    ['BulkDebit: total too high', 'INSUFFICIENT_FUNDS', cmd.bulk('org', [4_000n, 6_001n])],
    ['BulkDebit: empty', 'INVALID_COMMAND', cmd.bulk('org', [])],
    ['BulkDebit: a zero item', 'INVALID_AMOUNT', cmd.bulk('org', [1n, 0n])],
    ['BulkDebit: total overflows', 'AMOUNT_OVERFLOW', cmd.bulk('org', [MAX_MINOR, 1n])],
    ['BulkDebit: currency mismatch', 'CURRENCY_MISMATCH', cmd.bulk('org', [1n], 'USD')],
  ])('%s → %s', (_name, expected, command) => {
    const m = ledger();
    m.apply(command);
    expect(code(m.result(command.commandId))).toBe(expected);
  });
});

describe('ledger: no balance leaves the signed 64-bit range', () => {
  // An account allowed to go negative can be debited down to −(2^63 − 1), the lowest balance any command leaves; a
  // debit past it is refused whatever the command, and the balance stays where it was.
  it.each([
    ['Charge', (amount: bigint) => cmd.charge('credit-line', 'shop', amount)],
    ['Transfer', (amount: bigint) => cmd.transfer('credit-line', 'bob', amount)],
    ['BulkDebit', (amount: bigint) => cmd.bulk('credit-line', [amount])],
  ])('%s past −(2^63 − 1) → AMOUNT_OVERFLOW', (_name, debit) => {
    const m = ledger();
    const toTheEdge = debit(MAX_MINOR);
    m.apply(toTheEdge);
    expect(code(m.result(toTheEdge.commandId))).toBe('ACCEPTED');
    expect(m.balance('credit-line')).toBe(-MAX_MINOR);
    const past = debit(1n);
    m.apply(past);
    expect(code(m.result(past.commandId))).toBe('AMOUNT_OVERFLOW');
    expect(m.balance('credit-line')).toBe(-MAX_MINOR);
  });
});

describe('ledger: balances and postings', () => {
  it('a charge debits the payer, credits the merchant through transit, and every posting sums to zero', () => {
    const m = ledger();
    const charge = cmd.charge('alice', 'shop', 300n);
    m.run([charge]);
    expect(m.balance('alice')).toBe(700n);
    expect(m.balance('shop')).toBe(300n);
    expect(after(m.result(charge.commandId))).toBe(700n);
    expect(code(m.result(`${charge.commandId}:credit`))).toBe('ACCEPTED');
    const entries = m.outputs.flatMap((o) => (o.topic === 'ledger.results' ? legsOf(o.value as LedgerResult) : []));
    // Payer and transit legs with the charge's result, transit and merchant legs with the credit's; no other record.
    expect(entries.filter((e) => e.commandId.startsWith(charge.commandId)).map((e) => e.entryId)).toEqual([
      `${charge.commandId}:0`,
      `${charge.commandId}:1`,
      `${charge.commandId}:credit:0`,
      `${charge.commandId}:credit:1`,
    ]);
    expect(m.outputs.map((o) => o.topic)).not.toContain('ledger.entries');
    const accepted = m.result(charge.commandId)?.outcome;
    expect(
      accepted && 'paystream.ledger.CommandAccepted' in accepted && accepted['paystream.ledger.CommandAccepted'],
    ).toMatchObject({
      entryIds: [`${charge.commandId}:0`, `${charge.commandId}:1`],
      entries: [
        {
          entryId: `${charge.commandId}:0`,
          accountId: 'alice',
          counterpartyAccountId: 'shop',
          amountMinor: -300n,
          kind: 'CHARGE',
        },
        { entryId: `${charge.commandId}:1`, accountId: systemAccount('transit', 'EUR'), amountMinor: 300n },
      ],
    });
    const byPosting = new Map<string, bigint>();
    for (const e of entries) byPosting.set(e.postingId, (byPosting.get(e.postingId) ?? 0n) + e.amountMinor);
    for (const sum of byPosting.values()) expect(sum).toBe(0n);
    const transit = entries.filter((e) => e.accountId === systemAccount('transit', 'EUR'));
    expect(transit.reduce((s, e) => s + e.amountMinor, 0n)).toBe(0n);
  });

  it('a rejected command changes no balance and writes no entry', () => {
    const m = ledger();
    const before = m.outputs.length;
    const charge = cmd.charge('alice', 'shop', 5_000n);
    const r = m.apply(charge);
    expect(m.balance('alice')).toBe(1_000n);
    expect(r.outputs.map((o) => o.topic)).toEqual(['ledger.results']);
    expect(r.state.map((c) => c.store)).toEqual(['ledger.processed-commands']);
    expect(m.outputs.length).toBe(before + 1);
  });

  it("restores each command's processed-commands entry from its result, exactly as the processor stored it", () => {
    const m = ledger();
    for (const c of [cmd.charge('alice', 'shop', 300n), cmd.charge('alice', 'shop', 5_000n)]) {
      const r = m.apply(c);
      const result = r.outputs.find((o) => o.topic === 'ledger.results')?.value as LedgerResult;
      const stored = r.state.find((s) => s.store === LEDGER_STORES.processed);
      expect(result.request).not.toBeNull();
      expect(processedEntry(result)).toEqual({ key: stored?.key, value: stored?.value });
      // A repeated command's answer stands for no new entry.
      const again = m.apply(c).outputs.find((o) => o.topic === 'ledger.results')?.value as LedgerResult;
      expect(again.duplicate).toBe(true);
      expect(processedEntry(again)).toBeUndefined();
    }
  });

  it('a credit to an account that cannot take it is reversed to the sender', () => {
    const m = ledger();
    const toUsd = cmd.transfer('alice', 'usd', 100n);
    const toNobody = cmd.transfer('alice', 'ghost', 200n);
    m.run([toUsd, toNobody]);
    expect(code(m.result(`${toUsd.commandId}:credit`))).toBe('CURRENCY_MISMATCH');
    expect(code(m.result(`${toNobody.commandId}:credit`))).toBe('UNKNOWN_ACCOUNT');
    const reversalId = reversalCommandId(creditCommandId(toUsd.commandId));
    expect(reversalId).toBe(`${toUsd.commandId}:credit:reversal`);
    expect(code(m.result(reversalId))).toBe('ACCEPTED');
    expect(m.balance('alice')).toBe(1_000n);
    expect(m.balance('usd')).toBe(0n);
    // Read models tell the reversal's entries from a credit's by their ids alone.
    const reversalLegs = legsOf(m.result(reversalId)!);
    expect(reversalLegs.map((e) => [e.accountId, e.amountMinor, isReversalEntry(e.entryId)])).toEqual([
      [expect.stringMatching(/^system:transit:/), -100n, true],
      ['alice', 100n, true],
    ]);
    const credited = cmd.transfer('alice', 'shop', 50n);
    m.run([credited]);
    const creditLegs = legsOf(m.result(creditCommandId(credited.commandId))!);
    expect(creditLegs).toHaveLength(2);
    expect(creditLegs.some((e) => isReversalEntry(e.entryId))).toBe(false);
  });

  it('a bulk debit emits one credit transfer per item, keyed by the bulk', () => {
    const m = ledger();
    const bulk = cmd.bulk('org', [2_500n, 1_500n]);
    const r = m.apply(bulk);
    expect(m.balance('org')).toBe(6_000n);
    const transfers = r.outputs.filter((o) => o.topic === 'bulk.credit-transfers');
    expect(transfers.map((t) => [t.key, (t.value as { amountMinor: bigint }).amountMinor])).toEqual([
      [`b-${bulk.commandId}`, 2_500n],
      [`b-${bulk.commandId}`, 1_500n],
    ]);
  });

  it('every result carries what its command asked for, and an accepted one the account version after it', () => {
    const m = ledger();
    const charge = cmd.charge('alice', 'shop', 5_000n);
    const ok = cmd.charge('alice', 'shop', 300n);
    const bulk = cmd.bulk('org', [2_500n, 1_500n]);
    m.run([charge, ok, bulk]);
    expect(m.result(charge.commandId)?.request).toEqual({
      kind: 'CHARGE',
      amountMinor: 5_000n,
      currency: 'EUR',
      counterpartyAccountId: 'shop',
      summary: expect.any(String) as string,
      reference: null,
      itemCount: null,
    });
    const accepted = m.result(ok.commandId)?.outcome;
    // alice: opened (1), deposited (2), charged (3); the rejected charge changed nothing.
    expect(
      accepted &&
        'paystream.ledger.CommandAccepted' in accepted &&
        accepted['paystream.ledger.CommandAccepted'].balanceVersion,
    ).toBe(3n);
    const credit = m.result(`${ok.commandId}:credit`);
    expect(credit?.request).toMatchObject({
      kind: 'CREDIT',
      amountMinor: 300n,
      counterpartyAccountId: 'alice',
      reference: ok.commandId,
    });
    expect(m.result(bulk.commandId)?.request).toMatchObject({
      kind: 'BULK_DEBIT',
      amountMinor: 4_000n,
      reference: `b-${bulk.commandId}`,
      itemCount: 2,
    });
  });

  it('every version of an account says when it was opened, also one restored from a record without the field', () => {
    const m = new LedgerModel();
    const opened = new Date('2026-11-01T08:00:00Z');
    m.apply(cmd.open('dora'), opened);
    m.apply(cmd.deposit('dora', 10n), new Date('2026-11-24T10:00:00Z'));
    const dora = m.get<AccountBalance>(LEDGER_STORES.accounts, 'dora');
    expect([dora?.version, dora?.openedAt, dora?.updatedAt]).toEqual([2n, opened, new Date('2026-11-24T10:00:00Z')]);
    // State restored from a changelog record written before openedAt existed has no such field.
    const legacy = { ...dora } as Partial<AccountBalance>;
    delete legacy.openedAt;
    m.stores.get(LEDGER_STORES.accounts)?.set('dora', legacy);
    m.apply(cmd.deposit('dora', 5n));
    expect(m.get<AccountBalance>(LEDGER_STORES.accounts, 'dora')).toMatchObject({ version: 3n, openedAt: null });
  });

  it('the balance may go negative only where allowed', () => {
    const m = ledger();
    m.run([cmd.charge('credit-line', 'shop', 70n)]);
    expect(m.balance('credit-line')).toBe(-70n);
  });
});

describe('ledger: duplicates', () => {
  it('a repeated command id returns the first result and applies nothing', () => {
    const m = ledger();
    const charge = cmd.charge('alice', 'shop', 300n, 'EUR', 'same-id');
    const first = m.apply(charge);
    // A retry is stamped anew; time is not part of what a command asks for.
    const again = m.apply({ ...charge, issuedAt: new Date('2026-11-25T08:00:00Z') });
    expect(m.balance('alice')).toBe(700n);
    expect(again.state).toEqual([]);
    expect(again.outputs).toHaveLength(1);
    const firstResult = first.outputs[0]?.value as LedgerResult;
    const firstAccepted =
      'paystream.ledger.CommandAccepted' in firstResult.outcome &&
      firstResult.outcome['paystream.ledger.CommandAccepted'];
    expect(firstAccepted && firstAccepted.entries).toHaveLength(2);
    // The first outcome again, flagged; the request details and the legs stay with the first result only (the legs
    // are named by entryIds), so read models that took them from the first result get nothing twice.
    expect(again.outputs[0]?.value).toEqual({
      ...firstResult,
      outcome: { 'paystream.ledger.CommandAccepted': { ...firstAccepted, entries: [] } },
      duplicate: true,
      request: null,
    });
  });

  it('a repeated rejected command is answered with the same rejection even after funds arrive', () => {
    const m = ledger();
    const charge = cmd.charge('bob', 'shop', 10n, 'EUR', 'retry-me');
    m.apply(charge);
    m.apply(cmd.deposit('bob', 100n));
    const again = m.apply(charge);
    expect(code(again.outputs[0]?.value as LedgerResult)).toBe('INSUFFICIENT_FUNDS');
    expect(m.balance('bob')).toBe(100n);
  });

  const charge = cmd.charge('alice', 'shop', 300n, 'EUR', 'reused-id');
  const body: Charge = { merchantAccountId: 'shop', amountMinor: 300n, currency: 'EUR', summary: 'coffee' };
  const asCharge = (c: Partial<Charge>, accountId = 'alice'): LedgerCommand => ({
    ...charge,
    accountId,
    command: { 'paystream.ledger.Charge': { ...body, ...c } },
  });
  it.each<[string, LedgerCommand]>([
    ['another amount', asCharge({ amountMinor: 999n })],
    ['another summary', asCharge({ summary: 'tea' })],
    ['an empty summary', asCharge({ summary: '' })],
    ['another payee', asCharge({ merchantAccountId: 'bob' })],
    ['another currency', asCharge({ currency: 'USD' })],
    ['another payer', asCharge({}, 'credit-line')],
    [
      'another kind',
      { ...charge, command: { 'paystream.ledger.Deposit': { amountMinor: 300n, currency: 'EUR', reference: null } } },
    ],
  ])('a command id used before for another request (%s) is refused and applies nothing', (_, reused) => {
    const m = ledger();
    const first = m.apply(charge).outputs[0]?.value as LedgerResult;
    const balances = [m.balance('alice'), m.balance('credit-line'), m.balance('bob')];
    const r = m.apply(reused);
    expect(r.state).toEqual([]);
    expect(r.outputs).toHaveLength(1);
    expect(r.outputs[0]).toMatchObject({ topic: 'ledger.results', key: reused.accountId });
    const refusal = r.outputs[0]?.value as LedgerResult;
    expect(refusal).toMatchObject({
      commandId: 'reused-id',
      accountId: reused.accountId,
      duplicate: true,
      outcome: { 'paystream.ledger.CommandRejected': { code: 'COMMAND_ID_REUSED' } },
    });
    expect(code(refusal)).toBe('COMMAND_ID_REUSED');
    const message =
      'paystream.ledger.CommandRejected' in refusal.outcome &&
      refusal.outcome['paystream.ledger.CommandRejected'].message;
    expect(message).toContain(first.processedAt.toISOString());
    // It describes this command, not the first.
    expect(refusal.request).toEqual(describeCommand(reused));
    expect([m.balance('alice'), m.balance('credit-line'), m.balance('bob')]).toEqual(balances);
    // The first command is still the one its id stands for: repeated exactly, it gets its own result.
    const again = m.apply(charge).outputs[0]?.value as LedgerResult;
    expect(again.duplicate).toBe(true);
    expect(after(again)).toBe(700n);
    // Read models and restores take nothing from the refusal.
    expect(processedEntry(refusal)).toBeUndefined();
  });

  it('a partition taken over recognises a reused id from the results it restores', () => {
    const m = ledger();
    const first = m.apply(charge).outputs[0]?.value as LedgerResult;
    const restored = new LedgerModel();
    const entry = processedEntry(first);
    expect(entry).toBeDefined();
    if (!entry) return;
    restored.stores.set(LEDGER_STORES.processed, new Map([[entry.key, entry.value]]));
    expect(code(restored.apply(asCharge({ amountMinor: 301n })).outputs[0]?.value as LedgerResult)).toBe(
      'COMMAND_ID_REUSED',
    );
    expect(after(restored.apply(charge).outputs[0]?.value as LedgerResult)).toBe(700n);
  });

  it('a first result written before results carried their fingerprint gets it from its request', () => {
    const m = ledger();
    const first = m.apply(charge).outputs[0]?.value as LedgerResult;
    expect(first.requestFingerprint).toBe(BigInt(requestFingerprint('alice', describeCommand(charge))));
    expect(processedEntry({ ...first, requestFingerprint: null })?.value.requestFingerprint).toBe(
      first.requestFingerprint,
    );
  });

  it('a bulk id used before for a bulk of the same total and count paying someone else is refused', () => {
    const m = ledger();
    const payroll = cmd.bulk('org', [4_000n, 6_000n], 'EUR', 'bulk-reused');
    const first = m.apply(payroll).outputs[0]?.value as LedgerResult;
    expect(after(first)).toBe(0n);
    const variant = (change: (c: BulkCreditItem[]) => BulkCreditItem[]) => withCredits(payroll, change);
    m.apply(cmd.deposit('org', 10_000n));
    for (const other of [
      variant((c) => [{ ...c[0]!, counterpartyIban: 'DE89370400440532013000' }, c[1]!]),
      variant((c) => [{ ...c[0]!, counterpartyName: 'Wile E Coyote' }, c[1]!]),
      variant((c) => [c[0]!, { ...c[1]!, description: 'Acme' }]),
      variant((c) => [
        { ...c[0]!, amountMinor: 6_000n },
        { ...c[1]!, amountMinor: 4_000n },
      ]),
      variant((c) => [c[1]!, c[0]!]),
    ]) {
      const r = m.apply(other);
      expect(r.state).toEqual([]);
      expect(code(r.outputs[0]?.value as LedgerResult)).toBe('COMMAND_ID_REUSED');
      // The id, total and count are the first bulk's: only the credit transfers tell them apart.
      expect((r.outputs[0]?.value as LedgerResult).request).toEqual(first.request);
    }
    expect(m.balance('org')).toBe(10_000n);
    const again = m.apply(payroll).outputs[0]?.value as LedgerResult;
    expect(again.duplicate).toBe(true);
    expect(after(again)).toBe(0n);
    // A first result written before a bulk's credit transfers counted carries the fingerprint of its id, total and
    // count: a repeat that matches those still gets it.
    const restored = new LedgerModel();
    const entry = processedEntry({
      ...first,
      requestFingerprint: BigInt(requestFingerprint('org', describeCommand(payroll))),
    });
    if (entry) restored.stores.set(LEDGER_STORES.processed, new Map([[entry.key, entry.value]]));
    expect((restored.apply(payroll).outputs[0]?.value as LedgerResult).duplicate).toBe(true);
    expect(after(restored.apply(payroll).outputs[0]?.value as LedgerResult)).toBe(0n);
    expect(
      code(restored.apply(cmd.bulk('org', [4_000n], 'EUR', 'bulk-reused')).outputs[0]?.value as LedgerResult),
    ).toBe('COMMAND_ID_REUSED');
  });

  it('a first result written before results carried their request is answered to any repeat of its id', () => {
    const m = ledger();
    const first = m.apply(charge).outputs[0]?.value as LedgerResult;
    const entry = processedEntry({ ...first, request: null, requestFingerprint: null });
    expect(entry?.value.requestFingerprint).toBeNull();
    const restored = new LedgerModel();
    if (entry) restored.stores.set(LEDGER_STORES.processed, new Map([[entry.key, entry.value]]));
    const r = restored.apply(asCharge({ amountMinor: 999n })).outputs[0]?.value as LedgerResult;
    expect(r.duplicate).toBe(true);
    expect(after(r)).toBe(700n);
  });
});

describe('ledger: the dedup window', () => {
  const HOUR = 3_600_000;
  const t0 = Date.parse('2026-11-24T10:00:00Z');
  const definition = ledgerProcessorWith({ dedupWindowMs: 24 * HOUR });
  const processed = definition.outputBackedStores?.find((b) => b.store === LEDGER_STORES.processed);

  /**
   * The ledger as the runtime drives it, without Kafka: each command in its own committed batch, then the clock moves
   * to the record's timestamp and the retention runs.
   */
  function drive() {
    const state = new PartitionState([...definition.stores, LEDGER_STORES.processed]);
    let offset = 0;
    return {
      state,
      apply(command: LedgerCommand, at: number): LedgerResult {
        const now = new Date(at);
        const r = definition.process(state, commandEvent(command, offset++, now), { now });
        for (const change of r.state) state.stage(change);
        state.commit();
        state.advanceClock(at);
        if (processed) evictExpired(state, processed);
        return r.outputs[0]?.value as LedgerResult;
      },
    };
  }

  it('keeps each command id for the window plus a margin for clock skew, timed by its first processing', () => {
    expect(processed?.retention?.keepMs).toBe(24 * HOUR + DEDUP_CLOCK_MARGIN_MS);
    const entry = processedEntry({
      commandId: 'c',
      accountId: 'a',
      processedAt: new Date(t0),
      outcome: { 'paystream.ledger.CommandRejected': { code: 'UNKNOWN_ACCOUNT', message: 'x' } },
      duplicate: false,
      request: null,
    });
    expect(processed?.retention?.timeOf(entry?.value)).toBe(t0);
    expect(ledgerProcessor.outputBackedStores?.[0]?.retention?.keepMs).toBe(
      DEFAULT_DEDUP_WINDOW_MS + DEDUP_CLOCK_MARGIN_MS,
    );
  });

  it('answers a repeat inside the window with the first result, and forgets ids once the window has passed', () => {
    const l = drive();
    l.apply(cmd.open('alice'), t0);
    const deposit = cmd.deposit('alice', 100n, 'EUR', 'dep-1');
    expect(l.apply(deposit, t0 + HOUR).duplicate).toBe(false);
    // 24 h after its first processing, at the window's end: still remembered, nothing applied twice.
    const repeat = l.apply(deposit, t0 + 25 * HOUR);
    expect(repeat.duplicate).toBe(true);
    expect(l.state.get<AccountBalance>(LEDGER_STORES.accounts, 'alice')?.balanceMinor).toBe(100n);
    // A later command moves the clock past the window of the first two: their ids are dropped, the balances stay.
    l.apply(cmd.deposit('alice', 5n, 'EUR', 'dep-2'), t0 + 27 * HOUR);
    expect(l.state.get(LEDGER_STORES.processed, 'dep-1')).toBeUndefined();
    expect(l.state.size(LEDGER_STORES.processed)).toBe(1);
    expect(l.state.get<AccountBalance>(LEDGER_STORES.accounts, 'alice')?.balanceMinor).toBe(105n);
    // The bound the window puts on memory: a repeat past it is a new command.
    expect(l.apply(deposit, t0 + 27 * HOUR).duplicate).toBe(false);
    expect(l.state.get<AccountBalance>(LEDGER_STORES.accounts, 'alice')?.balanceMinor).toBe(205n);
  });

  it('refuses a window that is not a positive whole number of milliseconds', () => {
    expect(() => ledgerProcessorWith({ dedupWindowMs: 0 })).toThrow(/dedupWindowMs/);
    expect(() => ledgerProcessorWith({ dedupWindowMs: 1.5 })).toThrow(/dedupWindowMs/);
  });
});

describe('ledger: movements for the business counters', () => {
  const movements = (outputs: ReturnType<LedgerModel['apply']>['outputs']) =>
    outputs.map(movementOf).filter((x) => x !== undefined);

  it('one movement per first result: the kind, ACCEPTED with the amount moved, or the rejection code with none', () => {
    const m = ledger();
    expect(movements(m.apply(cmd.deposit('alice', 5n)).outputs)).toEqual([
      { kind: 'deposit', outcome: 'ACCEPTED', currency: 'EUR', amountMinor: 5n },
    ]);
    expect(movements(m.apply(cmd.charge('alice', 'shop', 2_000n)).outputs)).toEqual([
      { kind: 'charge', outcome: 'INSUFFICIENT_FUNDS', currency: 'EUR', amountMinor: 0n },
    ]);
    expect(movements(m.apply(cmd.open('carol')).outputs)).toEqual([
      { kind: 'open_account', outcome: 'ACCEPTED', currency: 'EUR', amountMinor: 0n },
    ]);
    // A currency that is no code is not a label value.
    expect(movements(m.apply(cmd.open('dave', 'euro')).outputs)).toEqual([
      { kind: 'open_account', outcome: 'INVALID_COMMAND', currency: 'invalid', amountMinor: 0n },
    ]);
  });

  it('a charge counts its debit and, when its credit is processed, the credit; a bulk its total, not its transfers', () => {
    const m = ledger();
    const charged = m.apply(cmd.charge('alice', 'shop', 300n));
    // The follow-up credit command is not a movement until the ledger processes it.
    expect(charged.outputs.some((o) => o.topic === 'ledger.commands')).toBe(true);
    expect(movements(charged.outputs)).toEqual([
      { kind: 'charge', outcome: 'ACCEPTED', currency: 'EUR', amountMinor: 300n },
    ]);
    const credit = charged.outputs.find((o) => o.topic === 'ledger.commands')?.value as LedgerCommand;
    expect(movements(m.apply(credit).outputs)).toEqual([
      { kind: 'credit', outcome: 'ACCEPTED', currency: 'EUR', amountMinor: 300n },
    ]);
    const bulk = m.apply(cmd.bulk('org', [4_000n, 6_000n]));
    expect(bulk.outputs.filter((o) => o.topic === 'bulk.credit-transfers')).toHaveLength(2);
    expect(movements(bulk.outputs)).toEqual([
      { kind: 'bulk_debit', outcome: 'ACCEPTED', currency: 'EUR', amountMinor: 10_000n },
    ]);
  });

  it('a repeated command id counts for nothing, whether answered with its first result or refused as reused', () => {
    const m = ledger();
    const charge = cmd.charge('alice', 'shop', 300n, 'EUR', 'counted-once');
    expect(movements(m.apply(charge).outputs)).toHaveLength(1);
    const again = m.apply(charge);
    expect(again.outputs).toHaveLength(1);
    expect(movements(again.outputs)).toEqual([]);
    const reused = m.apply(cmd.charge('alice', 'shop', 301n, 'EUR', 'counted-once'));
    expect(code(reused.outputs[0]?.value as LedgerResult)).toBe('COMMAND_ID_REUSED');
    expect(movements(reused.outputs)).toEqual([]);
  });

  it('over a whole run, the accepted volume by kind is what the balances say moved', () => {
    const m = new LedgerModel();
    m.run([
      cmd.open('x'),
      cmd.open('y', 'EUR', 'MERCHANT'),
      cmd.deposit('x', 500n),
      cmd.charge('x', 'y', 120n),
      cmd.charge('x', 'y', 400n),
      cmd.charge('x', 'nobody', 30n),
    ]);
    const volume = new Map<string, bigint>();
    for (const mv of movements(m.outputs))
      volume.set(`${mv.kind} ${mv.outcome}`, (volume.get(`${mv.kind} ${mv.outcome}`) ?? 0n) + mv.amountMinor);
    // 120 reached y; 30 left x for an account that does not exist and came back as a credit (the reversal).
    expect(Object.fromEntries(volume)).toEqual({
      'open_account ACCEPTED': 0n,
      'deposit ACCEPTED': 500n,
      'charge ACCEPTED': 150n,
      'charge INSUFFICIENT_FUNDS': 0n,
      'credit ACCEPTED': 150n,
      'credit UNKNOWN_ACCOUNT': 0n,
    });
    expect(m.balance('x')).toBe(500n - 120n);
    expect(m.balance('y')).toBe(120n);
  });
});

describe('ledger: determinism', () => {
  it('the same commands into empty state give identical outputs', () => {
    const commands = [
      cmd.open('x'),
      cmd.open('y', 'EUR', 'MERCHANT'),
      cmd.deposit('x', 50n),
      cmd.charge('x', 'y', 20n),
      cmd.charge('x', 'y', 40n),
    ];
    const a = new LedgerModel();
    const b = new LedgerModel();
    a.run(commands);
    b.run(commands);
    expect(b.outputs).toEqual(a.outputs);
  });
});
