import { Registry } from 'prom-client';

import { ledgerProcessor } from '../../../services/ledger/src/domain/ledger';
import { PaystreamError } from '../../../services/platform/src/errors';
import { KeyPartitioner } from '../../../services/platform/src/events/key-partitioner';
import { SchemaCatalogue } from '../../../services/platform/src/schemas/schema-catalogue';
import type { LedgerCommand } from '../../../services/platform/src/sdk/event-types.generated';
import type { ProcessorDefinition } from '../../../services/processor-runtime/src/processor';
import type { ProcessorRuntime } from '../../../services/processor-runtime/src/processor-runtime';
import { eventually, integrationEnv } from '../../support/integration-env';
import { balanceAfter, cmd } from '../../support/ledger-model';
import { LEDGER_TOPICS, publishCommands, resultsOfCommands, startLedgerRuntime } from '../../support/ledger-workload';

/** Two account ids whose commands land on different partitions of ledger.commands. */
function accountsOnTwoPartitions(prefix: string): [string, string] {
  const partitions = SchemaCatalogue.load().topic('ledger.commands').partitions;
  const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({
    partitionErrorCode: 0,
    partitionId: i,
    leader: 0,
    replicas: [0],
    isr: [0],
  }));
  const partitionOf = KeyPartitioner();
  const of = (key: string) =>
    partitionOf({ topic: 'ledger.commands', partitionMetadata, message: { key, value: null } });
  const first = `${prefix}-0`;
  for (let i = 1; ; i++) {
    const other = `${prefix}-${i}`;
    if (of(other) !== of(first)) return [first, other];
  }
}

/**
 * A partition whose transaction fails with a retryable error waits out its backoff without holding up the process's
 * other partitions: records of another partition published during the wait are processed during the wait. (kafkajs
 * fetches the next round only when every batch of the last one was handled, so a backoff slept inside the handler
 * stalled every partition of the process.) The held partition then retries from where it stopped and applies its
 * command exactly once.
 */
describe('processor runtime: a partition waiting to retry does not hold up the others', () => {
  const env = integrationEnv('proc-iso');
  let runtime: ProcessorRuntime<LedgerCommand>;
  const [held, free] = accountsOnTwoPartitions('iso-acct');
  /** When each command was handed to the processor (every attempt), by command id. */
  const attempts = new Map<string, number[]>();
  let failuresLeft = 2;
  const failing = 'iso-held-dep';

  const flaky: ProcessorDefinition<LedgerCommand> = {
    ...ledgerProcessor,
    process(state, event, ctx) {
      const id = event.value.commandId;
      attempts.set(id, [...(attempts.get(id) ?? []), Date.now()]);
      if (id === failing && failuresLeft-- > 0) throw PaystreamError.retryable('KAFKA_UNAVAILABLE', 'injected failure');
      return ledgerProcessor.process(state, event, ctx);
    },
  };

  beforeAll(async () => {
    await env.provision(LEDGER_TOPICS);
    runtime = await startLedgerRuntime(env, {
      metrics: new Registry(),
      definition: flaky,
      // Three attempts: the third succeeds, so the partition is never re-initialised here.
      maxAttempts: 3,
      // With random 0.5 every wait is 2 s: long enough that a stalled partition cannot go unnoticed.
      retryBackoff: { initialMs: 4_000, maxMs: 4_000 },
      random: () => 0.5,
    });
  });
  afterAll(async () => {
    await runtime.stop();
    await env.cleanup();
  });

  it('processes the other partition during the backoff, then retries the held one exactly once', async () => {
    const commands = [
      cmd.open(held, 'EUR', 'CLIENT', false, 'iso-held-open'),
      cmd.open(free, 'EUR', 'CLIENT', false, 'iso-free-open'),
    ];
    await publishCommands(env, commands);
    await eventually(() => (attempts.has('iso-free-open') && attempts.has('iso-held-open') ? true : undefined), 60_000);

    const deposit = cmd.deposit(held, 7n, 'EUR', failing);
    await publishCommands(env, [deposit]);
    await eventually(() => attempts.get(failing), 30_000);

    // The held partition is now waiting 2 s before its second attempt; the other partition's command goes in now.
    const sent = Date.now();
    const other = cmd.deposit(free, 5n, 'EUR', 'iso-free-dep');
    await publishCommands(env, [other]);

    const ours = await resultsOfCommands(env, [...commands, deposit, other]);
    const balanceOf = (id: string) => ours.filter((r) => r.commandId === id).map(balanceAfter);

    const heldAttempts = attempts.get(failing) ?? [];
    const [first, second, third] = heldAttempts;
    const freeProcessed = attempts.get('iso-free-dep')?.[0];
    expect(heldAttempts).toHaveLength(3);
    expect(first !== undefined && second !== undefined && third !== undefined).toBe(true);
    // The backoff held: each retry came about 2 s after the failure before it.
    expect(second! - first!).toBeGreaterThanOrEqual(1_500);
    expect(third! - second!).toBeGreaterThanOrEqual(1_500);
    // The other partition did not wait for it: its command was processed before the held one's first retry.
    expect(freeProcessed).toBeDefined();
    expect(freeProcessed!).toBeLessThan(second!);
    expect(freeProcessed! - sent).toBeLessThan(1_500);
    // Each command applied exactly once.
    expect(ours.filter((r) => r.duplicate)).toHaveLength(0);
    expect(balanceOf(failing)).toEqual([7n]);
    expect(balanceOf('iso-free-dep')).toEqual([5n]);
    expect(attempts.get('iso-free-dep')).toHaveLength(1);
  });
});
