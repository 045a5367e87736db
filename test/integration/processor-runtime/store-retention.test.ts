import { Registry } from 'prom-client';

import { DEDUP_CLOCK_MARGIN_MS, LEDGER_STORES, ledgerProcessorWith } from '../../../services/ledger/src/domain/ledger';
import { HEADER } from '../../../services/platform/src/events/event-headers';
import type { LedgerCommand, LedgerResult } from '../../../services/platform/src/sdk/event-types.generated';
import type { ProcessorRuntime } from '../../../services/processor-runtime/src/processor-runtime';
import { eventually, integrationEnv } from '../../support/integration-env';
import type { IntegrationEnv } from '../../support/integration-env';
import { balanceAfter, cmd } from '../../support/ledger-model';
import { LEDGER_TOPICS, startLedgerRuntime } from '../../support/ledger-workload';
import { readTopic } from '../../support/topic-reader';
import { writeTimed } from '../../support/topic-writer';

const HOUR = 3_600_000;
const WINDOW = HOUR;

/** Commands published with the record timestamps given (the clock the dedup window is measured by), in one request. */
function publishAt(env: IntegrationEnv, commands: [LedgerCommand, number][]): Promise<void> {
  return writeTimed(
    env,
    'ledger.commands',
    commands.map(([c, at]) => ({ key: c.accountId, value: c, at, headers: { [HEADER.eventId]: c.commandId } })),
  );
}

async function resultsOf(env: IntegrationEnv, count: number): Promise<LedgerResult[]> {
  const records = await readTopic<LedgerResult>(env, 'ledger.results', (rs) => rs.length >= count);
  return records.map((r) => r.value as LedgerResult);
}

/** The gauge and counter samples of the processed-commands store, summed over partitions. */
async function storeMetrics(registry: Registry): Promise<{ entries: number; evicted: number }> {
  const sum = async (name: string) =>
    (await registry.getSingleMetric(name)?.get())?.values
      .filter((v) => v.labels.store === LEDGER_STORES.processed)
      .reduce((n, v) => n + v.value, 0) ?? 0;
  return {
    entries: await sum('paystream_processor_store_entries'),
    evicted: await sum('paystream_processor_store_evicted_total'),
  };
}

/**
 * The ledger's processed-commands store is bounded by the dedup window, measured in record time: the runtime drops
 * entries once the partition's newest record timestamp is past an entry's time by the window plus the clock margin,
 * and a restore leaves them out too. A repeat inside the window is still answered with its first result, before and
 * after a restart. Record timestamps are set by the test, hours apart, so no test waits for an hour.
 */
describe('processor runtime: a store with a retention (the ledger dedup window)', () => {
  const env = integrationEnv('proc-rt-retention');
  const definition = ledgerProcessorWith({ dedupWindowMs: WINDOW });
  const keep = WINDOW + DEDUP_CLOCK_MARGIN_MS;
  const t0 = Date.now() - 10 * HOUR;
  let runtime: ProcessorRuntime<LedgerCommand> | undefined;
  let metrics = new Registry();
  /** Waits for the store's metrics to read `expected` (they are set right after the transaction's commit returns). */
  const storeMetricsReach = (expected: { entries: number; evicted: number }) =>
    eventually(async () => {
      const seen = await storeMetrics(metrics);
      return seen.entries === expected.entries && seen.evicted === expected.evicted ? seen : undefined;
    }, 10_000).catch(async () => storeMetrics(metrics));

  const open = cmd.open('ret-acct', 'EUR', 'CLIENT', false, 'ret-open');
  const first = cmd.deposit('ret-acct', 100n, 'EUR', 'ret-dep-1');
  const second = cmd.deposit('ret-acct', 5n, 'EUR', 'ret-dep-2');

  beforeAll(() => env.provision(LEDGER_TOPICS));
  afterAll(async () => {
    await runtime?.stop();
    await env.cleanup();
  });

  it('answers a repeat inside the window with the first result', async () => {
    runtime = await startLedgerRuntime(env, { definition, metrics });
    await publishAt(env, [
      [open, t0],
      [first, t0],
      [first, t0 + WINDOW], // at the window's end
    ]);
    const results = await resultsOf(env, 3);
    expect(results.map((r) => [r.commandId, r.duplicate])).toEqual([
      ['ret-open', false],
      ['ret-dep-1', false],
      ['ret-dep-1', true],
    ]);
    expect(balanceAfter(results[2])).toBe(100n);
    expect(await storeMetricsReach({ entries: 2, evicted: 0 })).toEqual({ entries: 2, evicted: 0 });
  });

  it('drops ids once a later record is past them by the window and the margin, and keeps the younger ones', async () => {
    // Just inside the retention of the first two: nothing is dropped yet.
    await publishAt(env, [[cmd.deposit('ret-acct', 1n, 'EUR', 'ret-dep-edge'), t0 + keep]]);
    await resultsOf(env, 4);
    expect(await storeMetricsReach({ entries: 3, evicted: 0 })).toEqual({ entries: 3, evicted: 0 });

    await publishAt(env, [[second, t0 + keep + 1]]);
    await resultsOf(env, 5);
    expect(await storeMetricsReach({ entries: 2, evicted: 2 })).toEqual({ entries: 2, evicted: 2 });

    // The bound on memory: a repeat of a forgotten id is a new command.
    await publishAt(env, [[first, t0 + keep + 1]]);
    const results = await resultsOf(env, 6);
    expect(results[5]?.duplicate).toBe(false);
    expect(balanceAfter(results[5])).toBe(206n);
  });

  it('restores only what the window still holds, and still answers repeats inside it', async () => {
    await runtime?.stop();
    metrics = new Registry();
    runtime = await startLedgerRuntime(env, { definition, metrics });
    // The restore read every result and left out the two ids past the window: ret-dep-edge, ret-dep-2 and ret-dep-1's
    // second, new processing remain.
    expect(await storeMetricsReach({ entries: 3, evicted: 0 })).toEqual({ entries: 3, evicted: 0 });
    await publishAt(env, [[second, t0 + keep + 2]]);
    const results = await resultsOf(env, 7);
    expect(results[6]).toMatchObject({ commandId: 'ret-dep-2', duplicate: true });
    expect(balanceAfter(results[6])).toBe(106n);
  });

  it('writes every record with the timestamp of the input it came from, so a follow-up keeps the time of its cause', async () => {
    // A backlog processed late: were the merchant's credit stamped with the wall clock, the merchant's partition would
    // jump ten hours ahead and age out ids its older records still need.
    const at = t0 + keep + 1;
    const commands: [LedgerCommand, number][] = [
      [cmd.open('ret-shop', 'EUR', 'MERCHANT', false, 'ret-open-shop'), at],
      [cmd.charge('ret-acct', 'ret-shop', 6n, 'EUR', 'ret-chg'), at],
    ];
    await publishAt(env, commands);
    const credit = (
      await readTopic<LedgerCommand>(env, 'ledger.commands', (rs) =>
        rs.some((r) => r.value?.commandId === 'ret-chg:credit'),
      )
    ).find((r) => r.value?.commandId === 'ret-chg:credit');
    expect(credit?.timestamp.getTime()).toBe(at);
    const results = await readTopic<LedgerResult>(env, 'ledger.results', (rs) =>
      rs.some((r) => r.value?.commandId === 'ret-chg:credit'),
    );
    const ours = results.filter((r) =>
      ['ret-open-shop', 'ret-chg', 'ret-chg:credit'].includes(r.value?.commandId ?? ''),
    );
    expect(ours.map((r) => [r.value?.commandId, r.timestamp.getTime()]).sort()).toEqual([
      ['ret-chg', at],
      ['ret-chg:credit', at],
      ['ret-open-shop', at],
    ]);
  });
});
