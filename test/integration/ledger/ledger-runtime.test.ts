import { Registry } from 'prom-client';

import { DLQ_HEADER } from '../../../services/platform/src/events/event-headers';
import { EventProducer } from '../../../services/platform/src/events/event-producer';
import { silentLogger } from '../../../services/platform/src/logger';
import type { LedgerCommand, LedgerResult } from '../../../services/platform/src/sdk/event-types.generated';
import type { ProcessorRuntime } from '../../../services/processor-runtime/src/processor-runtime';
import { dlqTopic, integrationEnv } from '../../support/integration-env';
import { cmd } from '../../support/ledger-model';
import { LEDGER_TOPICS, startLedgerRuntime } from '../../support/ledger-workload';
import { readTopic } from '../../support/topic-reader';

const rejectionCode = (r: LedgerResult) =>
  'paystream.ledger.CommandRejected' in r.outcome ? r.outcome['paystream.ledger.CommandRejected'].code : 'ACCEPTED';

describe('ledger on the processor runtime (one process)', () => {
  const env = integrationEnv('ledger-rt');
  const metrics = new Registry();
  let runtime: ProcessorRuntime<LedgerCommand>;
  const producer = new EventProducer({ kafka: env.kafka, schemas: env.schemas, logger: silentLogger });

  beforeAll(async () => {
    await env.provision(LEDGER_TOPICS);
    runtime = await startLedgerRuntime(env, { metrics });
  });
  afterAll(async () => {
    await runtime.stop();
    await producer.disconnect();
    await env.cleanup();
  });

  const send = (commands: LedgerCommand[]) =>
    producer.publishAll(
      commands.map((c) => ({ topic: 'ledger.commands', key: c.accountId, value: c, eventId: c.commandId })),
    );

  it('race: 1,000 charges of 1 against a wallet holding 500 → exactly 500 accepted, 500 INSUFFICIENT_FUNDS', async () => {
    await send([cmd.open('race-wallet'), cmd.open('race-shop', 'EUR', 'MERCHANT'), cmd.deposit('race-wallet', 500n)]);
    const charges = Array.from({ length: 1000 }, (_, i) =>
      cmd.charge('race-wallet', 'race-shop', 1n, 'EUR', `race-${i}`),
    );
    for (let i = 0; i < charges.length; i += 100) await send(charges.slice(i, i + 100));

    const ids = new Set(charges.map((c) => c.commandId));
    const results = await readTopic<LedgerResult>(
      env,
      'ledger.results',
      (rs) =>
        rs.filter((r) => r.value && (ids.has(r.value.commandId) || r.value.commandId.startsWith('race-'))).length >=
        1500,
      { timeoutMs: 90_000 },
    );
    const charged = results.map((r) => r.value).filter((v): v is LedgerResult => !!v && ids.has(v.commandId));
    expect(charged).toHaveLength(1000);
    expect(new Set(charged.map((r) => r.commandId)).size).toBe(1000);
    const codes = charged.reduce<Record<string, number>>(
      (acc, r) => ({ ...acc, [rejectionCode(r)]: (acc[rejectionCode(r)] ?? 0) + 1 }),
      {},
    );
    expect(codes).toEqual({ ACCEPTED: 500, INSUFFICIENT_FUNDS: 500 });
    const credits = results
      .map((r) => r.value)
      .filter((v): v is LedgerResult => !!v && v.commandId.endsWith(':credit'));
    expect(credits).toHaveLength(500);

    const balances = await readTopic<{ accountId: string; balanceMinor: bigint; version: bigint }>(
      env,
      'ledger.balances',
      (rs) => rs.some((r) => r.value?.accountId === 'race-shop' && r.value.balanceMinor === 500n),
    );
    const last = (id: string) => balances.filter((b) => b.value?.accountId === id).pop()?.value;
    expect(last('race-wallet')?.balanceMinor).toBe(0n);
    expect(last('race-shop')?.balanceMinor).toBe(500n);
    expect(runtime.ready()).toBe(true);
  });

  it('poison: a garbage payload and an unknown schema id go to the DLQ with headers while the partition flows', async () => {
    const raw = env.kafka.producer();
    await raw.connect();
    const topic = env.schemas.physicalTopic('ledger.commands');
    const unknownId = Buffer.from([0, 0x3a, 0xde, 0x68, 0xb1, 1, 2, 3]);
    await send([cmd.open('poison-acct')]);
    await raw.send({ topic, messages: [{ key: 'poison-acct', value: Buffer.from('garbage!') }] });
    await raw.send({ topic, messages: [{ key: 'poison-acct', value: unknownId }] });
    await raw.disconnect();
    const after = cmd.deposit('poison-acct', 42n, 'EUR', 'after-poison');
    await send([after]);

    const results = await readTopic<LedgerResult>(env, 'ledger.results', (rs) =>
      rs.some((r) => r.value?.commandId === 'after-poison'),
    );
    expect(rejectionCode(results.find((r) => r.value?.commandId === 'after-poison')?.value as LedgerResult)).toBe(
      'ACCEPTED',
    );
    const letters = await readTopic(env, dlqTopic(topic), (rs) => rs.length >= 2, { raw: true, physical: true });
    expect(letters.map((l) => l.headers[DLQ_HEADER.errorCode])).toEqual(['DECODE_FAILED', 'SCHEMA_NOT_FOUND']);
    expect(letters[0]?.raw?.toString()).toBe('garbage!');
    expect(letters[1]?.raw?.equals(unknownId)).toBe(true);
    for (const l of letters) {
      expect(l.headers[DLQ_HEADER.sourceTopic]).toBe(topic);
      expect(l.headers[DLQ_HEADER.sourcePartition]).toMatch(/^\d+$/);
      expect(l.headers[DLQ_HEADER.sourceOffset]).toMatch(/^\d+$/);
    }
    const dlqCount = (await metrics.getSingleMetricAsString('paystream_dlq_records_total'))
      .split('\n')
      .filter((l) => !l.startsWith('#'));
    expect(dlqCount.join('\n')).toMatch(/code="DECODE_FAILED"} 1/);
  });
});
