import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Output } from '../../../processor-runtime/src/processor';
import { movementOf } from '../domain/ledger';

/**
 * The ledger's business counters, fed with committed transactions' outputs (the runtime's `committed` listener):
 * - `paystream_ledger_commands_total{kind, outcome, currency}`: commands processed for the first time, ACCEPTED or by
 *   rejection code;
 * - `paystream_ledger_volume_minor_total{kind, currency}`: minor units moved by accepted commands.
 *
 * Guarantee: each command counts once, in the process that committed its result (but for a commit whose outcome was
 * unknown across a rebalance: not at all, see ProcessorRuntimeOptions.committed); a repeat of its id counts for
 * nothing, and aborted transactions count for nothing. A charge is two commands, the payer's CHARGE and the merchant's CREDIT
 * (a reversal is a CREDIT back to the payer). Each ledger process counts the partitions it owns: sum over instances.
 * One listener per registry: a second call with the same registry shares its counters.
 */
export function ledgerMovementCounters(registry: Registry): (outputs: readonly Output[]) => void {
  const commands = counter(registry, {
    name: 'paystream_ledger_commands_total',
    help: 'Ledger commands processed for the first time (repeats excluded), by kind, outcome (ACCEPTED or the rejection code) and currency',
    labelNames: ['kind', 'outcome', 'currency'],
  });
  const volume = counter(registry, {
    name: 'paystream_ledger_volume_minor_total',
    help: 'Minor units moved by accepted ledger commands, by kind and currency (a float: exact up to 2^53 in total)',
    labelNames: ['kind', 'currency'],
  });
  // Summed per label set over the transaction first: a transaction holds up to hundreds of commands of a handful of
  // kinds, and each counter increment hashes its labels.
  return (outputs) => {
    const sums = new Map<string, { kind: string; outcome: string; currency: string; n: number; minor: bigint }>();
    for (const output of outputs) {
      const m = movementOf(output);
      if (!m) continue;
      const key = `${m.kind}\u0000${m.outcome}\u0000${m.currency}`;
      const sum = sums.get(key);
      if (sum) {
        sum.n++;
        sum.minor += m.amountMinor;
      } else sums.set(key, { kind: m.kind, outcome: m.outcome, currency: m.currency, n: 1, minor: m.amountMinor });
    }
    for (const { kind, outcome, currency, n, minor } of sums.values()) {
      commands.inc({ kind, outcome, currency }, n);
      if (minor > 0n) volume.inc({ kind, currency }, Number(minor));
    }
  };
}

/** The registry's counter of that name, created on first need. */
function counter<L extends string>(
  registry: Registry,
  options: { name: string; help: string; labelNames: L[] },
): Counter<L> {
  return (
    (registry.getSingleMetric(options.name) as Counter<L> | undefined) ??
    new Counter({ ...options, registers: [registry] })
  );
}
