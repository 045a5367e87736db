import { setTimeout as sleep } from 'node:timers/promises';

import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';

import { ledgerProcessor } from '../../../services/ledger/src/domain/ledger';
import { PaystreamError } from '../../../services/platform/src/errors';
import { EventProducer } from '../../../services/platform/src/events/event-producer';
import { silentLogger } from '../../../services/platform/src/logger';
import { SchemaCatalogue } from '../../../services/platform/src/schemas/schema-catalogue';
import type {
  AccountBalance,
  LedgerCommand,
  LedgerResult,
} from '../../../services/platform/src/sdk/event-types.generated';
import type { ProcessorDefinition } from '../../../services/processor-runtime/src/processor';
import type { ProcessorRuntime } from '../../../services/processor-runtime/src/processor-runtime';
import { eventually, integrationEnv } from '../../support/integration-env';
import { balanceAfter, cmd } from '../../support/ledger-model';
import { LEDGER_TOPICS, publishCommands, resultsOfCommands, startLedgerRuntime } from '../../support/ledger-workload';
import { readTopic } from '../../support/topic-reader';

/** The exposition lines of `metric` in `registry` that start with `sample` (its samples, not HELP or TYPE). */
async function samples(registry: Registry, metric: string, sample = metric): Promise<string[]> {
  return (await registry.getSingleMetricAsString(metric)).split('\n').filter((l) => l.startsWith(sample));
}

/**
 * The runtime's failure path: a partition's transaction keeps failing while later records of the partition were
 * already fetched behind it. After its retries the runtime re-initialises the partition (fence, restore, committed
 * offset) — and must then process every record exactly once, in order: none of the fetched records may be skipped,
 * none applied twice. Run twice: failing after the partition committed transactions, and failing in its very first
 * transaction (nothing committed yet, so only the consumer's position says where to resume).
 */
describe.each([
  { when: 'after earlier transactions committed', failing: 'flaky-dep-10', before: 'flaky-dep-0' },
  { when: "in the partition's first transaction", failing: 'flaky-open', before: undefined },
])(
  'processor runtime: a transaction that keeps failing $when, with later records fetched behind it',
  ({ failing, before }) => {
    const env = integrationEnv('proc-rt');
    const metrics = new Registry();
    let runtime: ProcessorRuntime<LedgerCommand>;
    const seen: string[] = [];
    let failuresLeft = 3;

    // The ledger, failing one command with a retryable error the first three times it is processed.
    const flaky: ProcessorDefinition<LedgerCommand> = {
      ...ledgerProcessor,
      process(state, event, ctx) {
        seen.push(event.value.commandId);
        if (event.value.commandId === failing && failuresLeft-- > 0)
          throw PaystreamError.retryable('KAFKA_UNAVAILABLE', 'injected failure');
        return ledgerProcessor.process(state, event, ctx);
      },
    };

    beforeAll(async () => {
      await env.provision(LEDGER_TOPICS);
      runtime = await startLedgerRuntime(env, {
        metrics,
        definition: flaky,
        // Two attempts per transaction, so the third failure comes after the partition was re-initialised once.
        maxAttempts: 2,
        // Small transactions, so the failing one has later records of its partition fetched behind it.
        maxBatchMessages: 5,
        // Mid-range jitter, not 0: the same random paces the runtime's wait for CONCURRENT_TRANSACTIONS between
        // back-to-back transactions, and at 0 its ten attempts came 1 ms apart and gave up on a freshly started broker
        // (a fourth KAFKA_UNAVAILABLE abort, beside the three injected).
        random: () => 0.5,
      });
    });
    afterAll(async () => {
      await runtime.stop();
      await env.cleanup();
    });

    it('re-initialises the partition, then applies every command exactly once, in order', async () => {
      const deposits = Array.from({ length: 50 }, (_, i) => cmd.deposit('flaky-acct', 1n, 'EUR', `flaky-dep-${i}`));
      const commands = [cmd.open('flaky-acct', 'EUR', 'CLIENT', false, 'flaky-open'), ...deposits];
      // One produce request: the runtime fetches them together and processes them in transactions of five.
      await publishCommands(env, commands);

      const ours = await resultsOfCommands(env, commands);
      // Exactly one result per command, in the order the commands were sent, none a duplicate, all accepted.
      expect(ours.map((r) => r.commandId)).toEqual(commands.map((c) => c.commandId));
      expect(ours.filter((r) => r.duplicate)).toHaveLength(0);
      expect(ours.every((r) => 'paystream.ledger.CommandAccepted' in r.outcome)).toBe(true);
      expect(ours.map(balanceAfter).slice(1)).toEqual(deposits.map((_, i) => BigInt(i + 1)));

      // The failing command was tried four times (twice, then twice again after re-initialisation); what committed
      // before it was not processed again.
      expect(seen.filter((id) => id === failing)).toHaveLength(4);
      if (before) expect(seen.filter((id) => id === before)).toHaveLength(1);
      expect(seen.filter((id) => id === 'flaky-dep-49').length).toBeGreaterThanOrEqual(1);
      const aborts = (await samples(metrics, 'paystream_processor_aborts_total')).find((l) =>
        l.includes('reason="KAFKA_UNAVAILABLE"'),
      );
      expect(aborts).toMatch(/ 3$/);
      // The business counters heard of committed transactions only: each command once, none of the aborted tries.
      expect(await samples(metrics, 'paystream_ledger_commands_total', 'paystream_ledger_commands_total{')).toEqual([
        'paystream_ledger_commands_total{kind="open_account",outcome="ACCEPTED",currency="EUR"} 1',
        'paystream_ledger_commands_total{kind="deposit",outcome="ACCEPTED",currency="EUR"} 50',
      ]);
      expect(runtime.ready()).toBe(true);
    });
  },
);

/**
 * A commit reported failed after the broker took it (kafkajs retries EndTxn, and can report an error after success):
 * the runtime cannot know which, so it re-initialises the partition instead of processing the chunk again. The
 * commit is found there: nothing is processed twice, and the `committed` listener hears of that transaction once.
 */
describe('processor runtime: a commit that succeeded but was reported failed', () => {
  const env = integrationEnv('proc-rt-commit-unknown');
  const metrics = new Registry();
  let runtime: ProcessorRuntime<LedgerCommand>;
  let misreported = 0;

  beforeAll(async () => {
    await env.provision(LEDGER_TOPICS);
    // The real client, whose producers' first commit reports a failure once the broker has committed it.
    const misreporting = Object.create(env.kafka) as Kafka;
    misreporting.producer = (config) => {
      const producer = env.kafka.producer(config);
      const transaction = producer.transaction.bind(producer);
      producer.transaction = async () => {
        const open = await transaction();
        const commit = open.commit.bind(open);
        open.commit = async () => {
          await commit();
          if (misreported++ === 0)
            throw PaystreamError.retryable('KAFKA_UNAVAILABLE', 'injected: the commit succeeded, reported failed');
        };
        return open;
      };
      return producer;
    };
    runtime = await startLedgerRuntime(env, { kafka: misreporting, metrics });
  });
  afterAll(async () => {
    await runtime.stop();
    await env.cleanup();
  });

  it('re-initialises the partition, processes nothing twice, and tells the committed outputs once', async () => {
    const commands = [
      cmd.open('unknown-acct', 'EUR', 'CLIENT', false, 'unknown-open'),
      ...Array.from({ length: 10 }, (_, i) => cmd.deposit('unknown-acct', 5n, 'EUR', `unknown-dep-${i}`)),
    ];
    await publishCommands(env, commands);
    const ours = await resultsOfCommands(env, commands);
    expect(ours.map((r) => r.commandId)).toEqual(commands.map((c) => c.commandId));
    expect(ours.filter((r) => r.duplicate)).toHaveLength(0);
    expect(ours.map(balanceAfter).slice(1)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(5 * (i + 1))));
    // The misreported commit happened, and was taken for an outcome unknown.
    expect(misreported).toBeGreaterThanOrEqual(1);
    const aborts = await samples(metrics, 'paystream_processor_aborts_total', 'paystream_processor_aborts_total{');
    expect(aborts.some((l) => !l.includes('reason="fenced"'))).toBe(true);
    const counted = () =>
      samples(metrics, 'paystream_ledger_commands_total', 'paystream_ledger_commands_total{').then((l) => l.sort());
    // Told once the partition is restored (after its results were read, which the restore does not wait for).
    await eventually(async () => ((await counted()).length === 2 ? true : undefined));
    expect(await counted()).toEqual([
      'paystream_ledger_commands_total{kind="deposit",outcome="ACCEPTED",currency="EUR"} 10',
      'paystream_ledger_commands_total{kind="open_account",outcome="ACCEPTED",currency="EUR"} 1',
    ]);
  });
});

/**
 * A key changed by many records of one transaction is written to its changelog once, with its last value: records
 * published in one request reach the runtime in one fetch, so they form one transaction.
 */
describe('processor runtime: changelog writes per transaction', () => {
  const env = integrationEnv('proc-rt-changelog');
  let runtime: ProcessorRuntime<LedgerCommand>;

  beforeAll(() => env.provision(LEDGER_TOPICS));
  afterAll(async () => {
    await runtime.stop();
    await env.cleanup();
  });

  it('writes the last value of each key once per transaction, every result, and no processed-command record', async () => {
    const deposits = Array.from({ length: 50 }, (_, i) => cmd.deposit('hot-acct', BigInt(i + 1), 'EUR', `hot-${i}`));
    const commands = [cmd.open('hot-acct', 'EUR', 'CLIENT', false, 'hot-open'), ...deposits];
    await publishCommands(env, commands);
    runtime = await startLedgerRuntime(env);

    const results = await readTopic<LedgerResult>(env, 'ledger.results', (rs) => rs.length >= commands.length);
    expect(results.map((r) => r.value?.commandId)).toEqual(commands.map((c) => c.commandId));
    // The processed-commands store is rebuilt from the results (see the restart test below): its changes have no
    // changelog topic, and the results sit in the input's partition, where the restore reads them.
    expect(env.schemas.catalogue.topics.some((t) => t.name === 'ledger.processed-commands')).toBe(false);
    expect(new Set(results.map((r) => r.partition)).size).toBe(1);
    // Settled: a record per deposit, had the changelog been written per command, would be seen.
    const balances = await readTopic<AccountBalance>(env, 'ledger.balances', (rs) => rs.length >= 1, {
      settleMs: 1_000,
    });
    // One transaction: one record of the account, its state after the last deposit (version 51, 1 + … + 50).
    expect(balances.map((b) => [b.key, b.value?.version, b.value?.balanceMinor])).toEqual([['hot-acct', 51n, 1275n]]);
    expect(balances[0]?.headers['event-id']).toBe('hot-49:ledger.balances:hot-acct');
  });
});

/**
 * After a restart the new process knows every command already applied — the processed-commands store, rebuilt from
 * ledger.results rather than a changelog of its own — so a command sent again is answered with its first result
 * (`duplicate: true`) and applies nothing, including a command whose whole transaction wrote no changelog record.
 */
describe('processor runtime: processed commands restored from the results after a restart', () => {
  const env = integrationEnv('proc-rt-restore');
  let runtime: ProcessorRuntime<LedgerCommand> | undefined;

  beforeAll(() => env.provision(LEDGER_TOPICS));
  afterAll(async () => {
    await runtime?.stop();
    await env.cleanup();
  });

  it('answers a command sent again after a restart with its first result and applies nothing', async () => {
    const first = [
      cmd.open('acct-r', 'EUR', 'CLIENT', false, 'r-open'),
      cmd.deposit('acct-r', 700n, 'EUR', 'r-dep'),
      cmd.charge('acct-r', 'acct-nobody', 5_000n, 'EUR', 'r-too-much'),
    ];
    await publishCommands(env, first.slice(0, 2));
    runtime = await startLedgerRuntime(env);
    await readTopic<LedgerResult>(env, 'ledger.results', (rs) => rs.length >= 2);
    // A transaction of its own holding only a rejection: it changes no balance, so it writes no changelog record.
    await publishCommands(env, first.slice(2));
    const before = await readTopic<LedgerResult>(env, 'ledger.results', (rs) => rs.length >= 3);
    await runtime.stop();
    runtime = undefined;

    runtime = await startLedgerRuntime(env);
    await publishCommands(env, [
      cmd.deposit('acct-r', 700n, 'EUR', 'r-dep'),
      cmd.charge('acct-r', 'acct-nobody', 5_000n, 'EUR', 'r-too-much'),
      cmd.deposit('acct-r', 1n, 'EUR', 'r-dep-2'),
    ]);
    const results = await readTopic<LedgerResult>(env, 'ledger.results', (rs) => rs.length >= 6);
    const again = results.slice(3).map((r) => r.value);
    const firstOf = (id: string) => before.find((r) => r.value?.commandId === id)?.value;
    const firstDeposit = firstOf('r-dep')?.outcome;
    const accepted = firstDeposit && 'paystream.ledger.CommandAccepted' in firstDeposit;
    expect(accepted && firstDeposit['paystream.ledger.CommandAccepted'].entries).toHaveLength(2);
    // The first outcome, its legs named by entryIds only: they were published once, with the first result.
    expect(again[0]).toMatchObject({
      commandId: 'r-dep',
      duplicate: true,
      outcome: {
        'paystream.ledger.CommandAccepted': {
          ...(accepted && firstDeposit['paystream.ledger.CommandAccepted']),
          entries: [],
        },
      },
    });
    expect(again[1]).toMatchObject({
      commandId: 'r-too-much',
      duplicate: true,
      outcome: { 'paystream.ledger.CommandRejected': { code: 'INSUFFICIENT_FUNDS' } },
    });
    // Nothing was applied twice: the new deposit lands on 700, not on 1,400.
    expect(again[2]).toMatchObject({
      commandId: 'r-dep-2',
      duplicate: false,
      outcome: { 'paystream.ledger.CommandAccepted': { balanceAfterMinor: 701n } },
    });
  });
});

/**
 * A process that prepared partitions for an assignment already superseded initialises their transactional ids all
 * the same, fencing their owner, and then leaves them in the next join: no rebalance follows. The owner takes them back
 * instead of leaving them unprocessed (a CI run once stalled this way with 35,325 commands pending).
 */
describe('processor runtime: partitions fenced by a process that does not own them', () => {
  const env = integrationEnv('proc-rt-stale-fence');
  let runtime: ProcessorRuntime<LedgerCommand> | undefined;

  beforeAll(() => env.provision(LEDGER_TOPICS));
  afterAll(async () => {
    await runtime?.stop();
    await env.cleanup();
  });

  it('are taken back by their owner, which goes on processing them exactly once', async () => {
    const metrics = new Registry();
    runtime = await startLedgerRuntime(env, { sessionTimeoutMs: 6_000, metrics });
    await publishCommands(env, [cmd.open('fenced-acct', 'EUR', 'CLIENT', false, 'f-open')]);
    await readTopic<LedgerResult>(env, 'ledger.results', (rs) => rs.length >= 1);
    // The stale process: it initialises every partition's transactional id, as a preparation would, and goes away.
    const input = env.schemas.physicalTopic('ledger.commands');
    const admin = env.kafka.admin();
    await admin.connect();
    const partitions = (await admin.fetchTopicMetadata({ topics: [input] })).topics[0]?.partitions ?? [];
    await admin.disconnect();
    expect(partitions.length).toBeGreaterThan(0);
    for (const { partitionId } of partitions) {
      const stale = env.kafka.producer({
        transactionalId: `${env.prefix}paystream.ledger.${input}.${partitionId}`,
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await stale.connect();
      // Its first transaction initialises the producer id: that is what fences.
      await (await stale.transaction()).abort();
      await stale.disconnect();
    }
    // The owner's next transaction on the account's partition is refused as fenced; the partition is taken back.
    await publishCommands(
      env,
      Array.from({ length: 5 }, (_, i) => cmd.deposit('fenced-acct', 100n, 'EUR', `f-dep-${i}`)),
    );
    const results = await readTopic<LedgerResult>(env, 'ledger.results', (rs) => rs.length >= 6, {
      timeoutMs: 30_000,
    });
    const values = results.map((r) => r.value);
    expect(values.map((v) => v?.commandId)).toEqual(['f-open', ...Array.from({ length: 5 }, (_, i) => `f-dep-${i}`)]);
    expect(values.map((v) => v?.duplicate)).toEqual(Array.from({ length: 6 }, () => false));
    const last = values[5]?.outcome;
    expect(
      last && 'paystream.ledger.CommandAccepted' in last && last['paystream.ledger.CommandAccepted'],
    ).toMatchObject({ balanceAfterMinor: 500n });
    // The fenced transaction's outputs were never told to the business counters: each deposit counts once.
    expect(await samples(metrics, 'paystream_ledger_commands_total', 'paystream_ledger_commands_total{')).toEqual([
      'paystream_ledger_commands_total{kind="open_account",outcome="ACCEPTED",currency="EUR"} 1',
      'paystream_ledger_commands_total{kind="deposit",outcome="ACCEPTED",currency="EUR"} 5',
    ]);
  }, 60_000);
});

describe('processor runtime: a topic backing a store needs the input topic’s partitions', () => {
  const env = integrationEnv('proc-rt-backing');

  beforeAll(() => env.provision(LEDGER_TOPICS));
  afterAll(() => env.cleanup());

  it('refuses to start (CONFIG_INVALID) when the backing topic has fewer partitions than the input', async () => {
    // bulk.credit-transfers has 3 partitions, ledger.commands 6: partitions 3–5 would have nowhere to keep state.
    const definition: ProcessorDefinition<LedgerCommand> = {
      ...ledgerProcessor,
      outputBackedStores: [{ store: 'x', topic: 'bulk.credit-transfers', restore: () => undefined }],
    };
    const started = startLedgerRuntime(env, { definition });
    await expect(started).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(started).rejects.toThrow(
      /bulk\.credit-transfers backs a store .* needs at least its 6 partitions; it has 3/,
    );
  });
});

/**
 * Transactions of one partition back to back: the next one starts as soon as the previous commit returns, while the
 * coordinator may still be completing it (CONCURRENT_TRANSACTIONS for a moment). The runtime sends a transaction's
 * records and its offsets side by side; both must wait that moment out instead of failing the transaction.
 */
describe('processor runtime: back-to-back transactions on one partition', () => {
  const env = integrationEnv('proc-rt-back-to-back');
  const metrics = new Registry();
  let runtime: ProcessorRuntime<LedgerCommand>;

  beforeAll(() => env.provision(LEDGER_TOPICS));
  afterAll(async () => {
    await runtime.stop();
    await env.cleanup();
  });

  it('commits a transaction per command without a single abort', async () => {
    const deposits = Array.from({ length: 80 }, (_, i) => cmd.deposit('b2b-acct', 1n, 'EUR', `b2b-${i}`));
    const commands = [cmd.open('b2b-acct', 'EUR', 'CLIENT', false, 'b2b-open'), ...deposits];
    await publishCommands(env, commands);
    runtime = await startLedgerRuntime(env, { metrics, maxBatchMessages: 1 });

    const results = await readTopic<LedgerResult>(env, 'ledger.results', (rs) => rs.length >= commands.length, {
      timeoutMs: 60_000,
    });
    expect(results.map((r) => r.value?.commandId)).toEqual(commands.map((c) => c.commandId));
    const [committed] = await samples(
      metrics,
      'paystream_processor_commit_seconds',
      'paystream_processor_commit_seconds_count',
    );
    expect(committed).toMatch(/ 81$/);
    // Every committed transaction is split into its three phases, once each.
    const phases = await samples(
      metrics,
      'paystream_processor_transaction_phase_seconds',
      'paystream_processor_transaction_phase_seconds_count',
    );
    expect(phases.map((l) => /phase="(\w+)"/.exec(l)?.[1]).sort()).toEqual(['commit', 'process', 'send']);
    for (const l of phases) expect(l).toMatch(/ 81$/);
    const aborts = await samples(metrics, 'paystream_processor_aborts_total');
    expect(aborts).toEqual([]);
  });
});

/**
 * The fetch settings reach the consumer: with a minimum no fetch reaches, each fetch returns only when its wait runs
 * out, so records published apart within one wait are processed together, in one transaction per fetch. (With the
 * default minimum of one byte, each of these records would be fetched, and committed, on its own.)
 */
describe('processor runtime: fetch minimum bytes and wait', () => {
  const env = integrationEnv('proc-rt-fetch-min');
  const metrics = new Registry();
  let runtime: ProcessorRuntime<LedgerCommand>;
  let producer: EventProducer;

  beforeAll(async () => {
    await env.provision(LEDGER_TOPICS);
    producer = new EventProducer({ kafka: env.kafka, schemas: env.schemas, logger: silentLogger });
  });
  afterAll(async () => {
    await runtime.stop();
    await producer.disconnect();
    await env.cleanup();
  });

  it('gathers records published 50 ms apart into at most two transactions', async () => {
    runtime = await startLedgerRuntime(env, { metrics, minBytes: 1024 * 1024, maxWaitMs: 3_000 });
    // Published only once the runtime owns its partitions, so the records arrive over fetches that wait.
    await eventually(() => (runtime.ready() ? true : undefined));
    const commands = [
      cmd.open('gather-acct', 'EUR', 'CLIENT', false, 'gather-open'),
      ...Array.from({ length: 10 }, (_, i) => cmd.deposit('gather-acct', 1n, 'EUR', `gather-${i}`)),
    ];
    const started = Date.now();
    for (const c of commands) {
      await producer.publishAll([{ topic: 'ledger.commands', key: c.accountId, value: c, eventId: c.commandId }]);
      await sleep(50);
    }
    const publishedWithinMs = Date.now() - started;

    const results = await readTopic<LedgerResult>(env, 'ledger.results', (rs) => rs.length >= commands.length, {
      timeoutMs: 60_000,
    });
    expect(results.map((r) => r.value?.commandId)).toEqual(commands.map((c) => c.commandId));
    // Spread over less than one fetch wait, the records straddle at most one fetch's end.
    expect(publishedWithinMs).toBeLessThan(3_000);
    const [committed] = await samples(
      metrics,
      'paystream_processor_commit_seconds',
      'paystream_processor_commit_seconds_count',
    );
    const transactions = Number(committed?.split(' ').pop());
    expect(transactions).toBeGreaterThanOrEqual(1);
    expect(transactions).toBeLessThanOrEqual(2);
  });
});

/**
 * Per-partition gauges describe what the process owns: after a rebalance gives some of its partitions to a second
 * process, the first one's lag and store-entry samples for those partitions are gone, not frozen at their last value.
 */
describe('processor runtime: per-partition gauges after a rebalance', () => {
  const env = integrationEnv('proc-rt-gauges');
  const first = new Registry();
  const second = new Registry();
  const runtimes: ProcessorRuntime<LedgerCommand>[] = [];

  /** The partitions that `metric` has a sample for in `registry`. */
  async function partitionsOf(registry: Registry, metric: string): Promise<Set<string>> {
    const lines = await samples(registry, metric);
    return new Set(lines.map((l) => /partition="(\d+)"/.exec(l)?.[1]).filter((p): p is string => p !== undefined));
  }

  beforeAll(async () => {
    await env.provision(LEDGER_TOPICS);
  });
  afterAll(async () => {
    for (const r of runtimes) await r.stop();
    await env.cleanup();
  });

  it('removes the lag and store-entry samples of the partitions a process gave up', async () => {
    runtimes.push(await startLedgerRuntime(env, { metrics: first }));
    // Enough accounts to reach every partition, so the first process commits (and sets its lag) on each of them.
    const commands = Array.from({ length: 60 }, (_, i) =>
      cmd.open(`gauge-acct-${i}`, 'EUR', 'CLIENT', false, `g-${i}`),
    );
    await publishCommands(env, commands);
    const partitions = SchemaCatalogue.load().topic('ledger.commands').partitions;
    await eventually(
      async () => ((await partitionsOf(first, 'paystream_processor_lag')).size === partitions ? true : undefined),
      60_000,
    );

    runtimes.push(await startLedgerRuntime(env, { metrics: second }));
    const [ownedByFirst, ownedBySecond] = await eventually(async () => {
      if (!runtimes.every((r) => r.ready())) return undefined;
      const a = await partitionsOf(first, 'paystream_processor_store_entries');
      const b = await partitionsOf(second, 'paystream_processor_store_entries');
      const shared = [...a].filter((p) => b.has(p));
      return a.size > 0 && b.size > 0 && a.size + b.size === partitions && shared.length === 0 ? [a, b] : undefined;
    }, 60_000);

    // The first process kept only some partitions; its lag samples are for those alone.
    expect(ownedByFirst.size).toBeLessThan(partitions);
    const lagOfFirst = await partitionsOf(first, 'paystream_processor_lag');
    expect([...lagOfFirst].filter((p) => !ownedByFirst.has(p))).toEqual([]);
    const lagOfSecond = await partitionsOf(second, 'paystream_processor_lag');
    expect([...lagOfSecond].filter((p) => !ownedBySecond.has(p))).toEqual([]);
  });
});

/**
 * The lag gauge of a partition whose transactions keep failing: set from every fetch, not only after a commit, so a
 * partition that cannot move shows what waits behind it (it stood at its last committed value, or had no sample).
 */
describe('processor runtime: the lag of a partition whose transactions keep failing', () => {
  const env = integrationEnv('proc-rt-stuck-lag');
  const metrics = new Registry();
  let runtime: ProcessorRuntime<LedgerCommand>;
  let stuck = true;

  const failing: ProcessorDefinition<LedgerCommand> = {
    ...ledgerProcessor,
    process(state, event, ctx) {
      if (stuck && event.value.accountId === 'stuck-acct')
        throw PaystreamError.retryable('KAFKA_UNAVAILABLE', 'injected failure');
      return ledgerProcessor.process(state, event, ctx);
    },
  };

  /** The lag sample of each partition that has one. */
  const lags = async () =>
    new Map(
      (await samples(metrics, 'paystream_processor_lag')).map((l) => [
        /partition="(\d+)"/.exec(l)?.[1] ?? '',
        Number(l.split(' ').pop()),
      ]),
    );

  beforeAll(async () => {
    await env.provision(LEDGER_TOPICS);
    runtime = await startLedgerRuntime(env, {
      metrics,
      definition: failing,
      maxAttempts: 2,
      retryBackoff: { initialMs: 50, maxMs: 200 },
    });
  });
  afterAll(async () => {
    await runtime.stop();
    await env.cleanup();
  });

  it('grows while the partition cannot commit, and falls to 0 once it can', async () => {
    const commands = [
      cmd.open('stuck-acct', 'EUR', 'CLIENT', false, 'stuck-open'),
      ...Array.from({ length: 9 }, (_, i) => cmd.deposit('stuck-acct', 1n, 'EUR', `stuck-dep-${i}`)),
    ];
    await publishCommands(env, commands);
    const partition = await eventually(async () => {
      const behind = [...(await lags())].find(([, lag]) => lag >= commands.length);
      return behind?.[0];
    }, 30_000);
    expect(runtime.ready()).toBe(true);

    stuck = false;
    await resultsOfCommands(env, commands);
    await eventually(async () => ((await lags()).get(partition) === 0 ? true : undefined), 30_000);
  });
});
