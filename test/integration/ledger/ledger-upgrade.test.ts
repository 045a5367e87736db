import type { Producer } from 'kafkajs';
import { Registry } from 'prom-client';

import { CopySink } from '../../../connectors/postgres-sink/src/app/copy-sink';
import { mappingsFor } from '../../../connectors/postgres-sink/src/app/sink-mappings';
import { silentLogger } from '../../../services/platform/src/logger';
import { groupLag } from '../../../services/platform/src/topics/consumer-group-admin';

import type { AccountBalance, LedgerResult } from '../../../services/platform/src/sdk/event-types.generated';
import { HEADER } from '../../../services/platform/src/events/event-headers';
import { dlqTopic, eventually, integrationEnv } from '../../support/integration-env';
import type { IntegrationEnv } from '../../support/integration-env';
import { cmd } from '../../support/ledger-model';
import { LEDGER_TOPICS, publishCommands, readLedger, startLedgerRuntime } from '../../support/ledger-workload';
import { readTopic } from '../../support/topic-reader';
import type { ReadRecord } from '../../support/topic-reader';
import { tableChecksum, testDatabase, withSinkTopics } from '../../support/sink-env';
import { withoutFields } from '../../support/schema-versions';

const accepted = (r: LedgerResult | null | undefined) => {
  const o = r?.outcome;
  return o && 'paystream.ledger.CommandAccepted' in o ? o['paystream.ledger.CommandAccepted'] : undefined;
};

/**
 * The ledger takes over partitions whose log an earlier release wrote: results without `request`, `balanceVersion`
 * and `entries`, balances without `openedAt`, each with the schema version of its day. The earlier log is made by
 * running this ledger on topics of its own and writing what it committed back in the old shape, partition for
 * partition, with each leg as a ledger.entries record of its own as the earlier release wrote them.
 */
describe('ledger upgrade: a log written with earlier schema versions', () => {
  const earlier = integrationEnv('ledger-upgrade-src');
  const env = integrationEnv('ledger-upgrade');
  const phase1 = [
    cmd.open('c-1', 'EUR', 'CLIENT', false, 'open-c-1'),
    cmd.open('m-1', 'EUR', 'MERCHANT', false, 'open-m-1'),
    cmd.deposit('c-1', 1_050n, 'EUR', 'dep-c-1'),
    cmd.charge('c-1', 'm-1', 200n, 'EUR', 'chg-0'),
  ];
  let old: Awaited<ReturnType<typeof readLedger>>;
  let after: ReadRecord<LedgerResult>[];
  let versionOf: (account: string) => bigint;
  const mappings = mappingsFor('ledger');
  const topics = withSinkTopics(LEDGER_TOPICS, mappings);
  /** What a sink built from each log, before this release wrote anything to the upgraded one. */
  const readModels: Record<string, unknown>[] = [];

  /** The ledger read model a sink builds from `from`'s topics, in a database schema of its own. */
  const readModel = async (from: IntegrationEnv, label: string, results: number) => {
    const db = await testDatabase(label, from.config.database.url);
    const groupId = from.group('sink');
    const sink = new CopySink({
      kafka: from.kafka,
      schemas: from.schemas,
      pool: db.pool,
      logger: silentLogger,
      metrics: new Registry(),
      mappings,
      groupId,
    });
    await sink.start();
    try {
      const physical = [...new Set(mappings.map((m) => from.schemas.physicalTopic(m.topic)))];
      await eventually(
        async () =>
          (await tableChecksum(db.pool, 'ledger_results', 'command_id')).rows === results &&
          (await groupLag(from.kafka, groupId, physical)).lag === 0
            ? true
            : undefined,
        60_000,
      );
      const rows = async (sql: string) => (await db.pool.query(sql)).rows as unknown[];
      return {
        ledger_entries: await tableChecksum(db.pool, 'ledger_entries', 'entry_id'),
        operation_history: await tableChecksum(db.pool, 'operation_history', 'occurred_at, entry_id, wallet_id'),
        balances: await tableChecksum(db.pool, 'balances', 'account_id'),
        // balance_version is 0 in results written before it existed.
        ledger_results: await rows(
          'select command_id, account_id, accepted, rejection_code, balance_after_minor, processed_at ' +
            'from ledger_results order by command_id',
        ),
      };
    } finally {
      await sink.stop();
      await db.cleanup();
    }
  };

  beforeAll(async () => {
    await earlier.provision(topics);
    const first = await startLedgerRuntime(earlier);
    await publishCommands(earlier, phase1);
    // Four commands and the charge's credit.
    old = await readLedger(earlier, phase1.length + 1, 60_000);
    await first.stop();
    const balances = await readTopic<AccountBalance>(earlier, 'ledger.balances', (rs) => rs.length >= 1, {
      settleMs: 2_000,
    });
    versionOf = (account) =>
      old.balances.filter((b) => b.accountId === account).reduce((v, b) => (b.version > v ? b.version : v), 0n);

    // The earlier release's schema versions, registered and written first; then this release provisions on top.
    const results = withoutFields(env.catalogue.schemaOf('paystream.ledger.LedgerResult'), 'LedgerResult', [
      'request',
      'requestFingerprint',
    ]);
    await env.schemas.register(
      'ledger.results',
      withoutFields(results, 'CommandAccepted', ['balanceVersion', 'entries']),
    );
    await env.schemas.register(
      'ledger.balances',
      withoutFields(env.catalogue.schemaOf('paystream.ledger.AccountBalance'), 'AccountBalance', ['openedAt']),
    );
    const oldResults = await Promise.all(
      old.results.map(async (r) => {
        const v = r.value!;
        const a = accepted(v);
        const outcome = a
          ? {
              'paystream.ledger.CommandAccepted': {
                balanceAfterMinor: a.balanceAfterMinor,
                currency: a.currency,
                entryIds: a.entryIds,
              },
            }
          : v.outcome;
        const value = {
          commandId: v.commandId,
          accountId: v.accountId,
          processedAt: v.processedAt,
          outcome,
          duplicate: v.duplicate,
        };
        return { r, bytes: await env.schemas.encode('ledger.results', value) };
      }),
    );
    const oldBalances = await Promise.all(
      balances.map(async (b) => {
        const value: Partial<AccountBalance> = { ...b.value! };
        delete value.openedAt;
        return { r: b, bytes: await env.schemas.encode('ledger.balances', value) };
      }),
    );
    await env.provision(topics);
    // The earlier release wrote each leg of an accepted command as a ledger.entries record of its own.
    const oldEntries = await Promise.all(
      old.entries.map(async (e) => ({ key: e.accountId, value: await env.schemas.encode('ledger.entries', e) })),
    );
    const producer: Producer = env.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (const [topic, records] of [
        ['ledger.results', oldResults],
        ['ledger.balances', oldBalances],
      ] as const) {
        await producer.send({
          topic: env.schemas.physicalTopic(topic),
          acks: -1,
          messages: records.map(({ r, bytes }) => ({
            partition: r.partition,
            key: r.key,
            value: bytes,
            // The input offsets the earlier run stamped refer to its own command topic, not this one.
            headers: Object.fromEntries(
              Object.entries(r.headers).filter(([k, v]) => k !== HEADER.inputOffset && v !== undefined),
            ) as Record<string, string>,
          })),
        });
      }
      await producer.send({ topic: env.schemas.physicalTopic('ledger.entries'), acks: -1, messages: oldEntries });
    } finally {
      await producer.disconnect();
    }
    readModels.push(
      await readModel(earlier, 'upgrade_current', old.results.length),
      await readModel(env, 'upgrade_old', old.results.length),
    );

    const runtime = await startLedgerRuntime(env);
    try {
      await publishCommands(env, [
        cmd.deposit('c-1', 1_050n, 'EUR', 'dep-c-1'),
        cmd.charge('c-1', 'm-1', 200n, 'EUR', 'chg-0'),
        cmd.deposit('c-1', 100n, 'EUR', 'dep-c-1b'),
        cmd.charge('c-1', 'm-1', 150n, 'EUR', 'chg-1'),
      ]);
      // The earlier results, two duplicates, a deposit, a charge and its credit.
      after = await readTopic<LedgerResult>(env, 'ledger.results', (rs) => rs.length >= oldResults.length + 5, {
        timeoutMs: 90_000,
        settleMs: 2_000,
      });
    } finally {
      await runtime.stop();
    }
  }, 240_000);

  afterAll(async () => {
    await env.cleanup();
    await earlier.cleanup();
  });

  const resultOf = (commandId: string, duplicate = false) =>
    after.filter((r) => r.value?.commandId === commandId && r.value.duplicate === duplicate);

  it('the earlier log was written with the earlier schema ids and reads with the current defaults', async () => {
    const current = await env.schemas.schemaId('ledger.results');
    const written = after.filter((r) => r.raw?.readInt32BE(1) !== current);
    expect(old.results).toHaveLength(phase1.length + 1);
    expect(written).toHaveLength(old.results.length);
    for (const r of written) {
      expect(r.value?.request).toBeNull();
      const a = accepted(r.value);
      expect(a).toBeDefined();
      expect(a?.entries).toEqual([]);
      expect(a?.balanceVersion).toBe(0n);
    }
  });

  it('a sink builds the same read model from the old-shaped log as from the log this release wrote', () => {
    const [current, upgraded] = readModels;
    expect(old.entries.length).toBeGreaterThan(0);
    expect((current?.ledger_entries as { rows: number }).rows).toBe(old.entries.length);
    expect(upgraded).toEqual(current);
  });

  it('repeated commands from before the upgrade are answered with their first result and change nothing', () => {
    const [dep] = resultOf('dep-c-1', true);
    expect(accepted(dep?.value)?.balanceAfterMinor).toBe(1_050n);
    expect(accepted(dep?.value)?.entryIds).toEqual(accepted(resultOf('dep-c-1')[0]?.value)?.entryIds);
    const [chg] = resultOf('chg-0', true);
    expect(accepted(chg?.value)?.balanceAfterMinor).toBe(850n);
    expect(resultOf('chg-0:credit')).toHaveLength(1);
  });

  it('new commands continue the balances and versions the earlier release left', () => {
    const dep = accepted(resultOf('dep-c-1b')[0]?.value);
    expect(dep?.balanceAfterMinor).toBe(950n);
    expect(dep?.balanceVersion).toBe(versionOf('c-1') + 1n);
    const chg = accepted(resultOf('chg-1')[0]?.value);
    expect(chg?.balanceAfterMinor).toBe(800n);
    expect(chg?.balanceVersion).toBe(versionOf('c-1') + 2n);
    const credit = accepted(resultOf('chg-1:credit')[0]?.value);
    expect(credit?.balanceAfterMinor).toBe(350n);
    expect(credit?.balanceVersion).toBe(versionOf('m-1') + 1n);
    expect(credit?.entries.length).toBeGreaterThan(0);
  });

  it('nothing was dead-lettered, and later balances keep openedAt null as the old record had it', async () => {
    const balances = await readTopic<AccountBalance>(
      env,
      'ledger.balances',
      (rs) => rs.some((b) => b.value?.accountId === 'c-1' && b.value.version === versionOf('c-1') + 2n),
      { timeoutMs: 30_000 },
    );
    const latest = balances.filter((b) => b.value?.accountId === 'c-1').at(-1)?.value;
    expect(latest).toMatchObject({ balanceMinor: 800n, version: versionOf('c-1') + 2n, openedAt: null });
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      const dlq = await admin.fetchTopicOffsets(dlqTopic(env.schemas.physicalTopic('ledger.commands')));
      expect(dlq.map((o) => o.high)).toEqual(dlq.map(() => '0'));
    } finally {
      await admin.disconnect();
    }
  });
});
