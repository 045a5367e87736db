import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { EventConsumer } from '../../../../services/platform/src/events/event-consumer';
import type { ConsumedEvent } from '../../../../services/platform/src/events/event-consumer';
import { PaystreamError } from '../../../../services/platform/src/errors';
import { EventProducer } from '../../../../services/platform/src/events/event-producer';
import { EventSchemas } from '../../../../services/platform/src/events/event-schemas';
import { silentLogger } from '../../../../services/platform/src/logger';
import type { LedgerCommand } from '../../../../services/platform/src/sdk/event-types.generated';
import { toAvroJson } from '../../../support/avro-json';
import { eventually, integrationEnv } from '../../../support/integration-env';
import { localStateDir } from '../../../../services/platform/src/service/state-dir';

const run = promisify(execFile);
const AVRO_TOOLS = path.join(localStateDir(process.env.PAYSTREAM_STATE_DIR), 'runtime', 'tools', 'avro-tools.jar');

describe('event library round trip on the real stack', () => {
  const env = integrationEnv('roundtrip');
  const producer = new EventProducer({ kafka: env.kafka, schemas: env.schemas, logger: silentLogger });

  beforeAll(() => env.provision(['ledger.commands']));
  afterAll(async () => {
    await producer.disconnect();
    await env.cleanup();
  });

  const command: LedgerCommand = {
    commandId: 'cmd-0001',
    accountId: 'acct-payer-1',
    issuedAt: new Date('2026-11-24T09:30:15.250Z'),
    command: {
      'paystream.ledger.BulkDebit': {
        bulkId: 'bulk-77',
        currency: 'EUR',
        credits: [
          {
            itemId: 'i1',
            amountMinor: 4_503_599_627_370_496n,
            counterpartyName: 'Bip Bip',
            counterpartyIban: 'FR1420041010050500013M02606',
            counterpartyBic: 'CRLYFRPPTOU',
            description: 'Wonderland/4410',
          },
          {
            itemId: 'i2',
            amountMinor: 61_238n,
            counterpartyName: 'Wile E Coyote',
            counterpartyIban: 'DE89370400440532013000',
            counterpartyBic: 'COBADEFFXXX',
            description: 'Acme',
          },
        ],
      },
    },
  };

  it('is produced with headers, consumed and decoded by a second consumer, and read identically by avro-tools', async () => {
    const published = await producer.publish({
      topic: 'ledger.commands',
      key: command.accountId,
      value: command,
      eventId: command.commandId,
      correlationId: 'corr-1',
      causationId: 'cause-1',
    });
    expect(published.eventId).toBe('cmd-0001');

    // A second, independent consumer group decodes it.
    const received: ConsumedEvent<LedgerCommand>[] = [];
    const consumer = new EventConsumer<LedgerCommand>({
      kafka: env.kafka,
      schemas: env.schemas,
      logger: silentLogger,
      groupId: env.group('reader'),
      topics: ['ledger.commands'],
      fromBeginning: true,
    });
    await consumer.run((e) => {
      received.push(e);
      return Promise.resolve();
    });
    const event = await eventually(() => received[0]);
    await consumer.stop();

    expect(event.topic).toBe('ledger.commands');
    expect(event.key).toBe('acct-payer-1');
    expect(event.partition).toBe(published.partition);
    expect(event.offset).toBe(published.offset);
    expect(event.value).toEqual(command);
    expect(event.value.issuedAt).toBeInstanceOf(Date);
    const debit = event.value.command as { 'paystream.ledger.BulkDebit': { credits: { amountMinor: bigint }[] } };
    expect(debit['paystream.ledger.BulkDebit'].credits[0]?.amountMinor).toBe(4_503_599_627_370_496n);
    expect(event.headers).toMatchObject({
      eventId: 'cmd-0001',
      correlationId: 'corr-1',
      causationId: 'cause-1',
      eventType: 'paystream.ledger.LedgerCommand',
    });

    // The raw bytes: Confluent wire format, then Apache Avro's own Java tools decode the fragment after the header.
    const raw = await readRaw(env, 'ledger.commands');
    expect(raw.readUInt8(0)).toBe(0);
    const schemaId = raw.readInt32BE(1);
    expect(schemaId).toBe(event.schemaId);
    const dir = mkdtempSync(path.join(tmpdir(), 'avro-'));
    const registered = (await (await fetch(`${env.config.schemaRegistry.url}/schemas/ids/${schemaId}`)).json()) as {
      schema: string;
    };
    writeFileSync(path.join(dir, 'schema.avsc'), registered.schema);
    writeFileSync(path.join(dir, 'fragment.bin'), raw.subarray(5));
    const { stdout } = await run('java', [
      '-jar',
      AVRO_TOOLS,
      'fragtojson',
      '--no-pretty',
      '--schema-file',
      path.join(dir, 'schema.avsc'),
      path.join(dir, 'fragment.bin'),
    ]);
    const fromJava = JSON.parse(stdout.trim()) as unknown;
    expect(fromJava).toEqual(toAvroJson(JSON.parse(registered.schema) as never, event.value));
    expect(stdout).toContain('"amountMinor":4503599627370496');
  });

  it('encodes without waiting once the schema is known: the same bytes as encode, at any size, decodable', async () => {
    const schemas = EventSchemas.connect(env.config.schemaRegistry.url, env.catalogue, env.prefix);
    expect(schemas.encodeKnown('ledger.commands', command)).toBeUndefined();
    const awaited = await schemas.encode('ledger.commands', command);
    expect(schemas.encodeKnown('ledger.commands', command)?.equals(awaited)).toBe(true);
    // Larger than the encoder's 64 KiB scratch buffer, then small again.
    const large: LedgerCommand = { ...command, accountId: 'x'.repeat(200_000) };
    for (const value of [large, command, large]) {
      const known = schemas.encodeKnown('ledger.commands', value);
      expect(known?.equals(await schemas.encode('ledger.commands', value))).toBe(true);
      expect((await schemas.decode(known ?? null)).value).toEqual(value);
    }
    expect(awaited[0]).toBe(0);
    expect(awaited.readInt32BE(1)).toBe(await schemas.schemaId('ledger.commands'));
    const bad = { ...command, issuedAt: 'yesterday' } as unknown as LedgerCommand;
    expect(() => schemas.encodeKnown('ledger.commands', bad)).toThrow(/issuedAt/);
  });

  it('refuses a value that does not fit the schema, naming the field, and sends nothing', async () => {
    const bad = { ...command, issuedAt: 'yesterday' } as unknown as LedgerCommand;
    await expect(producer.publish({ topic: 'ledger.commands', key: 'k', value: bad })).rejects.toMatchObject({
      code: 'ENCODE_FAILED',
      message: expect.stringContaining('issuedAt') as unknown,
    });
    const admin = env.kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(env.schemas.physicalTopic('ledger.commands'));
    await admin.disconnect();
    // Only the one record of the first test is on the topic.
    expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(1);
  });

  it('publishes a batch far over the broker’s 1 MiB per-partition limit, all to one key, in order', async () => {
    const n = 6_000; // ≈ 2.4 MB of records for one partition: one produce request would get MESSAGE_TOO_LARGE
    const requests = Array.from({ length: n }, (_, i) => ({
      topic: 'ledger.commands',
      key: 'acct-hot',
      eventId: `big-${i}`,
      value: { ...command, commandId: `big-${String(i).padStart(5, '0')}`, accountId: 'acct-hot' },
    }));
    const { eventIds, metadata } = await producer.publishAll(requests);
    expect(eventIds).toHaveLength(n);
    expect(metadata.length).toBeGreaterThan(1); // it took more than one request
    const admin = env.kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(env.schemas.physicalTopic('ledger.commands'));
    await admin.disconnect();
    expect(offsets.reduce((total, p) => total + Number(p.high), 0)).toBe(1 + n);
    const seen: string[] = [];
    const consumer = new EventConsumer<LedgerCommand>({
      kafka: env.kafka,
      schemas: env.schemas,
      logger: silentLogger,
      groupId: env.group('big'),
      topics: ['ledger.commands'],
      fromBeginning: true,
    });
    await consumer.run((e) => {
      if (e.value.accountId === 'acct-hot') seen.push(e.value.commandId);
      return Promise.resolve();
    });
    try {
      await eventually(() => (seen.length >= n ? true : undefined), 60_000);
    } finally {
      await consumer.stop();
    }
    expect(seen).toEqual(requests.map((r) => r.value.commandId));
  });

  it('fails a record the broker refuses as KAFKA_REFUSED, not retryable, naming the broker error', async () => {
    // One record over the broker's 1 MiB message.max.bytes: no slicing can help, and no retry ever will.
    const huge: LedgerCommand = {
      commandId: 'cmd-too-large',
      accountId: 'acct-payer-1',
      issuedAt: new Date('2026-11-24T09:30:15.250Z'),
      command: {
        'paystream.ledger.Deposit': { amountMinor: 1n, currency: 'EUR', reference: 'x'.repeat(1_200_000) },
      },
    };
    const failure = await producer.publish({ topic: 'ledger.commands', key: huge.accountId, value: huge }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(PaystreamError);
    expect(failure).toMatchObject({
      code: 'KAFKA_REFUSED',
      retryable: false,
      details: { kafkaError: 'MESSAGE_TOO_LARGE' },
    });
    // The producer still works afterwards (last in this file: the test above counts the topic's records).
    await expect(
      producer.publish({ topic: 'ledger.commands', key: command.accountId, value: command }),
    ).resolves.toMatchObject({ topic: env.schemas.physicalTopic('ledger.commands') });
  });
});

async function readRaw(env: ReturnType<typeof integrationEnv>, topic: string): Promise<Buffer> {
  const consumer = env.kafka.consumer({ groupId: env.group('raw'), readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic: env.schemas.physicalTopic(topic), fromBeginning: true });
  let value: Buffer | undefined;
  await consumer.run({
    eachMessage: ({ message }) => {
      value ??= message.value ?? undefined;
      return Promise.resolve();
    },
  });
  try {
    return await eventually(() => value);
  } finally {
    await consumer.disconnect();
  }
}
