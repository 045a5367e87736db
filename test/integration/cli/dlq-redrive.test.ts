import { Registry } from 'prom-client';

import { CopySink } from '../../../connectors/postgres-sink/src/app/copy-sink';
import { mappingsFor } from '../../../connectors/postgres-sink/src/app/sink-mappings';
import type { TableMapping } from '../../../connectors/postgres-sink/src/domain/table-mapping';
import { PaystreamError } from '../../../services/platform/src/errors';
import { DeadLetterPublisher } from '../../../services/platform/src/events/dead-letter';
import { redriveGroup } from '../../../services/platform/src/events/dead-letter-reader';
import { redriveDeadLetters } from '../../../services/platform/src/events/dead-letter-redrive';
import { DLQ_HEADER } from '../../../services/platform/src/events/event-headers';
import { EventProducer } from '../../../services/platform/src/events/event-producer';
import { silentLogger } from '../../../services/platform/src/logger';
import type { CreditTransferRequested } from '../../../services/platform/src/sdk/event-types.generated';
import { dlqTopic, eventually, integrationEnv } from '../../support/integration-env';
import type { IntegrationEnv } from '../../support/integration-env';
import { lettersAroundOpenTransaction } from '../../support/open-dead-letter-transaction';
import { paystreamCli } from '../../support/paystream-cli';
import { testDatabase } from '../../support/sink-env';
import { readTopic } from '../../support/topic-reader';

const items = mappingsFor('ledger').find((m) => m.name === 'bulk_transfer_items') as TableMapping;

const transfer = (i: number, name = 'Bip Bip'): CreditTransferRequested => ({
  eventId: `ct-${i}`,
  bulkId: 'bulk-redrive',
  itemId: `i-${i}`,
  organizationAccountId: 'org-1',
  amountMinor: BigInt(i * 100),
  currency: 'EUR',
  counterpartyName: name,
  counterpartyIban: 'FR1420041010050500013M02606',
  counterpartyBic: 'CRLYFRPPTOU',
  description: 'Wonderland',
  requestedAt: new Date('2026-12-07T10:00:00Z'),
});

/** Deletes the group that marks how far `topic`'s dead letters were redriven (env.cleanup deletes topics only). */
async function forgetRedrives(env: IntegrationEnv, topic: string): Promise<void> {
  const admin = env.kafka.admin();
  await admin.connect();
  await admin.deleteGroups([redriveGroup(dlqTopic(env.schemas.physicalTopic(topic)))]).catch(() => undefined);
  await admin.disconnect();
}

/**
 * `paystream dlq redrive`: once what set records aside is fixed, an operator writes them back to their topic; each
 * letter once, to the partition it came from, and what still fails comes back as a new letter.
 */
describe('paystream dlq redrive', () => {
  const env = integrationEnv('dlq-redrive');
  const producer = new EventProducer({ kafka: env.kafka, schemas: env.schemas, logger: silentLogger });
  let db: Awaited<ReturnType<typeof testDatabase>>;
  let cli: ReturnType<typeof paystreamCli>;
  let sink: CopySink;
  const physical = () => env.schemas.physicalTopic('bulk.credit-transfers');

  beforeAll(async () => {
    await env.provision(['bulk.credit-transfers']);
    db = await testDatabase('dlq_redrive', env.config.database.url);
    cli = paystreamCli({ ...process.env, PAYSTREAM_TOPIC_PREFIX: env.prefix, PAYSTREAM_LOG_LEVEL: 'warn' });
    sink = new CopySink({
      kafka: env.kafka,
      schemas: env.schemas,
      pool: db.pool,
      logger: silentLogger,
      metrics: new Registry(),
      mappings: [items],
      groupId: env.group('sink'),
    });
  });
  afterAll(async () => {
    await sink.stop();
    await producer.disconnect();
    await db.cleanup();
    await forgetRedrives(env, 'bulk.credit-transfers');
    await env.cleanup();
  });

  const itemIds = async () =>
    (await db.pool.query<{ event_id: string }>('select event_id from bulk_transfer_items order by event_id')).rows.map(
      (r) => r.event_id,
    );
  const letters = (n: number) =>
    readTopic(env, dlqTopic(physical()), (rs) => rs.length >= n, { raw: true, physical: true });

  it('writes fixed letters back once each; what still fails is set aside again', async () => {
    // A constraint the read model should never have had refuses one transfer; an undecodable record is set aside too.
    await db.pool.query(
      "alter table bulk_transfer_items add constraint refuses_zed check (counterparty_name <> 'Zed Zebra')",
    );
    await producer.publishAll(
      [transfer(1), transfer(2, 'Zed Zebra'), transfer(3)].map((t) => ({
        topic: 'bulk.credit-transfers',
        key: t.bulkId,
        value: t,
        eventId: t.eventId,
      })),
    );
    const raw = env.kafka.producer();
    await raw.connect();
    await raw.send({ topic: physical(), messages: [{ key: 'bulk-redrive', value: Buffer.from('not avro') }] });
    await raw.disconnect();
    await sink.start();
    await eventually(async () => ((await itemIds()).length === 2 ? true : undefined));
    const first = await letters(2);
    // Decoding comes first (the whole fetched batch), the database's verdict second; one key, so one partition.
    expect(first.map((l) => [l.headers[DLQ_HEADER.errorCode], l.headers['event-id']])).toEqual([
      ['DECODE_FAILED', undefined],
      ['ROW_REJECTED', 'ct-2'],
    ]);
    const [garbage, refused] = first as [(typeof first)[number], (typeof first)[number]];
    const dlq = dlqTopic(physical());
    const at = (l: { partition: number; offset: string }) => `${dlq}/${l.partition}/${l.offset}`;

    // Dry: counted, nothing written, nothing marked.
    const dry = await cli('dlq', 'redrive', '--topic', 'bulk.credit-transfers', '--dry-run');
    expect(dry).toMatchObject({ code: 0 });
    expect(dry.stdout).toBe(
      `${dlq}: 2 dead letters to redrive to ${physical()} (dry run: nothing written)\n` +
        `  partition ${garbage.partition}: offsets ${garbage.offset} to ${refused.offset} (2)\n`,
    );

    // The fix; then the oldest letter only: the undecodable record goes back, and is set aside again as a third
    // letter that names the one it was.
    await db.pool.query('alter table bulk_transfer_items drop constraint refuses_zed');
    const one = await cli('dlq', 'redrive', '--topic', 'bulk.credit-transfers', '--limit', '1');
    expect(one.code).toBe(0);
    expect(one.stdout).toBe(
      `${dlq}: 1 dead letter redriven to ${physical()}\n` +
        `  partition ${garbage.partition}: offset ${garbage.offset} (1)\n` +
        'more remain past --limit; run it again for them\n',
    );
    const third = (await letters(3))[2];
    expect(third).toMatchObject({
      headers: { [DLQ_HEADER.errorCode]: 'DECODE_FAILED', [DLQ_HEADER.redrivenFrom]: at(garbage) },
    });
    expect(third?.raw?.toString()).toBe('not avro');
    expect(await itemIds()).toEqual(['ct-1', 'ct-3']);

    // The rest, each once: the refused transfer and the third letter, not the first again.
    const rest = await cli('dlq', 'redrive', '--topic', 'bulk.credit-transfers');
    expect(rest.code).toBe(0);
    expect(rest.stdout).toBe(
      `${dlq}: 2 dead letters redriven to ${physical()}\n` +
        `  partition ${refused.partition}: offsets ${refused.offset} to ${third?.offset} (2)\n`,
    );
    await eventually(async () => ((await itemIds()).length === 3 ? true : undefined));
    expect(await itemIds()).toEqual(['ct-1', 'ct-2', 'ct-3']);

    // Written back byte for byte, to the partition it came from, without the dead-lettering headers.
    const source = await readTopic(env, physical(), (rs) => rs.length >= 7, { raw: true, physical: true });
    const original = source.find((r) => r.headers['event-id'] === 'ct-2' && !r.headers[DLQ_HEADER.redrivenFrom]);
    const rewritten = source.filter((r) => r.headers['event-id'] === 'ct-2' && r.headers[DLQ_HEADER.redrivenFrom]);
    expect(rewritten).toHaveLength(1);
    expect(rewritten[0]).toMatchObject({
      partition: Number(refused.headers[DLQ_HEADER.sourcePartition]),
      key: 'bulk-redrive',
      headers: { 'event-id': 'ct-2', [DLQ_HEADER.redrivenFrom]: at(refused) },
    });
    expect(rewritten[0]?.partition).toBe(original?.partition);
    expect(rewritten[0]?.raw?.equals(original?.raw ?? Buffer.alloc(0))).toBe(true);
    for (const h of [DLQ_HEADER.errorCode, DLQ_HEADER.errorMessage, DLQ_HEADER.sourceOffset])
      expect(rewritten[0]?.headers[h]).toBeUndefined();

    // What is left is the fourth letter alone; the listing says which were redriven.
    const fourth = (await letters(4))[3];
    expect(fourth?.headers[DLQ_HEADER.redrivenFrom]).toBe(at(third!));
    const dryAgain = await cli('dlq', 'redrive', '--topic', 'bulk.credit-transfers', '--dry-run');
    expect(dryAgain.stdout).toBe(
      `${dlq}: 1 dead letter to redrive to ${physical()} (dry run: nothing written)\n` +
        `  partition ${fourth?.partition}: offset ${fourth?.offset} (1)\n`,
    );
    const listed = await cli('dlq', 'list', '--topic', 'bulk.credit-transfers');
    expect(listed.stdout).toContain(`${dlq}: 4 dead letters (3 redriven)\n`);
    expect(listed.stdout).toContain(`offset ${refused.offset} at ${refused.timestamp.toISOString()} (redriven)\n`);
    expect(listed.stdout).toContain(`offset ${fourth?.offset} at ${fourth?.timestamp.toISOString()}\n`);
    expect(await itemIds()).toEqual(['ct-1', 'ct-2', 'ct-3']);
  });

  it('runs started together write each letter once: a later run fences an earlier one, which stops', async () => {
    const race = integrationEnv('dlq-redrive-race');
    await race.provision(['ledger.results']);
    try {
      const physicalResults = race.schemas.physicalTopic('ledger.results');
      const publisher = new DeadLetterPublisher(race.kafka);
      const total = 600;
      // 4 KiB each: several fetches, so several transactions, per run.
      for (let i = 0; i < total; i++)
        await publisher.publish({
          sourceTopic: physicalResults,
          partition: i % 6,
          offset: String(i),
          key: Buffer.from(`acct-${i % 13}`),
          value: Buffer.concat([Buffer.from(`r-${i}:`), Buffer.alloc(4096)]),
          headers: { 'event-id': `r-${i}` },
          error: new PaystreamError('ROW_REJECTED', 'a constraint since dropped'),
        });
      await publisher.disconnect();
      // In one process, so they start within milliseconds: each reads where the last run ended before any commits.
      const redrive = (limit?: number) =>
        redriveDeadLetters(race.kafka, race.schemas, 'ledger.results', {
          clientId: 'test-dlq-race',
          ...(limit !== undefined ? { limit } : {}),
        });
      const runs = await Promise.allSettled([redrive(250), redrive(), redrive(400)]);
      for (const r of runs)
        if (r.status === 'rejected')
          expect(String(r.reason)).toMatch(/CONFLICT|another dlq redrive of \S+ started and took over/);
      expect(runs.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
      const raceCli = paystreamCli({
        ...process.env,
        PAYSTREAM_TOPIC_PREFIX: race.prefix,
        PAYSTREAM_LOG_LEVEL: 'error',
      });
      const rest = await raceCli('dlq', 'redrive', '--topic', 'ledger.results');
      expect(rest.code).toBe(0);
      const written = await readTopic(race, physicalResults, (rs) => rs.length >= total, {
        raw: true,
        physical: true,
        settleMs: 2_000,
      });
      const ids = written.map((r) => r.headers['event-id']);
      expect(ids).toHaveLength(total);
      expect(new Set(ids).size).toBe(total);
      for (const r of written) expect(r.partition).toBe(Number(r.headers['event-id']?.slice(2)) % 6);
      expect((await raceCli('dlq', 'redrive', '--topic', 'ledger.results')).stdout).toBe(
        `${dlqTopic(physicalResults)}: nothing to redrive\n`,
      );
    } finally {
      await forgetRedrives(race, 'ledger.results');
      await race.cleanup();
    }
  }, 120_000);

  it('refuses a compacted topic, whose latest record per key is state, and names a bad --limit', async () => {
    const compacted = await cli('dlq', 'redrive', '--topic', 'ledger.balances');
    expect(compacted.code).toBe(1);
    expect(compacted.stderr).toContain('VALIDATION_FAILED: topic ledger.balances is compacted');
    const zero = await cli('dlq', 'redrive', '--topic', 'bulk.credit-transfers', '--limit', '0');
    expect(zero.code).toBe(1);
    expect(zero.stderr).toContain('--limit: a whole number from 1 to 999999');
    const unknown = await cli('dlq', 'redrive', '--topic', 'ledger.nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('TOPIC_UNKNOWN: topic ledger.nope is not in the catalogue');
  });
});

/** A transaction still open on a dead-letter topic: its letters, and those after it, wait for a later run, which says so. */
describe('paystream dlq redrive past an open transaction', () => {
  const env = integrationEnv('dlq-redrive-open');
  let cli: ReturnType<typeof paystreamCli>;

  beforeAll(async () => {
    await env.provision(['identity.parties']);
    cli = paystreamCli({ ...process.env, PAYSTREAM_TOPIC_PREFIX: env.prefix, PAYSTREAM_LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await forgetRedrives(env, 'identity.parties');
    await env.cleanup();
  });

  it('takes the letters committed before it and names the offsets it left', async () => {
    const source = env.schemas.physicalTopic('identity.parties');
    const letters = await lettersAroundOpenTransaction(
      env,
      source,
      'party-open',
      ['7', '8'],
      (offset) => new PaystreamError('DECODE_FAILED', `record ${offset} undecodable`),
    );
    try {
      const before = await cli('dlq', 'redrive', '--topic', 'identity.parties', '--dry-run');
      expect(before.code).toBe(0);
      expect(before.stdout).toContain(`${dlqTopic(source)}: 1 dead letter to redrive to ${source} (dry run`);
      const [, partition, offset] = /\n {2}partition (\d+): offset (\d+) \(1\)\n/.exec(before.stdout) ?? [];
      expect(before.stdout).toContain(
        `\npartition ${partition}: offsets ${BigInt(offset!) + 1n} to ${BigInt(offset!) + 2n} not redriven, past a ` +
          'transaction still open there (or written as the run began); run it again once it ends\n',
      );

      await letters.commit();
      const after = await cli('dlq', 'redrive', '--topic', 'identity.parties', '--dry-run');
      expect(after.stdout).toContain(`${dlqTopic(source)}: 3 dead letters to redrive to ${source} (dry run`);
      expect(after.stdout).not.toContain('not redriven');
    } finally {
      await letters.close();
    }
  });

  it('takes the letters through an offset (of one partition): a prefix of them, each once', async () => {
    // The letters the test before left, committed by now: one partition, three letters.
    const source = env.schemas.physicalTopic('identity.parties');
    const dlq = dlqTopic(source);
    const dry = await cli('dlq', 'redrive', '--topic', 'identity.parties', '--dry-run');
    const [, p, n] = /\n {2}partition (\d+): offsets (\d+) to \d+ \(3\)\n/.exec(dry.stdout) ?? [];
    const partition = Number(p);
    const first = BigInt(n!);

    // A dead-letter topic has one partition, so an offset alone names a letter.
    const one = await cli('dlq', 'redrive', '--topic', 'identity.parties', '--through', `${first}`);
    expect(one).toMatchObject({
      code: 0,
      stdout: `${dlq}: 1 dead letter redriven to ${source}\n  partition ${partition}: offset ${first} (1)\n`,
    });
    const again = await cli(
      'dlq',
      'redrive',
      '--topic',
      'identity.parties',
      '--partition',
      p!,
      '--through',
      `${first}`,
    );
    expect(again.stdout).toBe(`${dlq}: nothing to redrive\n`);
    const rest = await cli('dlq', 'redrive', '--topic', 'identity.parties', '--partition', p!);
    expect(rest.stdout).toBe(
      `${dlq}: 2 dead letters redriven to ${source}\n  partition ${partition}: offsets ${first + 1n} to ${first + 2n} (2)\n`,
    );
    const written = await readTopic(env, source, (rs) => rs.length >= 3, { raw: true, physical: true });
    expect(written.map((r) => [r.headers[DLQ_HEADER.redrivenFrom], r.raw?.toString()])).toEqual([
      [`${dlq}/${partition}/${first}`, 'letter 7'],
      [`${dlq}/${partition}/${first + 1n}`, 'in flight'],
      [`${dlq}/${partition}/${first + 2n}`, 'letter 8'],
    ]);

    const missing = await cli('dlq', 'redrive', '--topic', 'identity.parties', '--partition', '99', '--dry-run');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`partition 99: ${dlq} has only partition 0`);
    const word = await cli('dlq', 'redrive', '--topic', 'identity.parties', '--partition', 'two');
    expect(word.stderr).toContain('--partition: a partition number from 0 to 99999');
  });

  it('asks for the partition an offset is in where a dead-letter topic has several', async () => {
    // The platform creates its dead-letter topics with one partition; an operator may have added more.
    const dlq = dlqTopic(env.schemas.physicalTopic('identity.parties'));
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      await admin.createPartitions({ topicPartitions: [{ topic: dlq, count: 2 }] });
    } finally {
      await admin.disconnect();
    }
    const through = await cli('dlq', 'redrive', '--topic', 'identity.parties', '--through', '0', '--dry-run');
    expect(through.code).toBe(1);
    expect(through.stderr).toContain(
      `VALIDATION_FAILED: ${dlq} has 2 partitions: an offset to redrive through needs the partition it is in`,
    );
    const missing = await cli('dlq', 'redrive', '--topic', 'identity.parties', '--partition', '2', '--through', '0');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`partition 2: ${dlq} has partitions 0 to 1`);
    const added = await cli('dlq', 'redrive', '--topic', 'identity.parties', '--partition', '1', '--through', '0');
    expect(added).toMatchObject({ code: 0, stdout: `${dlq}: nothing to redrive\n` });
  });
});
