import { DeadLetterPublisher, dlqTopic } from '../../../services/platform/src/events/dead-letter';
import { PaystreamError } from '../../../services/platform/src/errors';
import { integrationEnv } from '../../support/integration-env';
import type { IntegrationEnv } from '../../support/integration-env';
import { cmd } from '../../support/ledger-model';
import { lettersAroundOpenTransaction } from '../../support/open-dead-letter-transaction';
import { paystreamCli } from '../../support/paystream-cli';

/** `paystream dlq list`: an operator reads what was dead-lettered, why and from where, and changes nothing doing so. */
describe('paystream dlq list', () => {
  let env: IntegrationEnv;
  let cli: ReturnType<typeof paystreamCli>;

  beforeAll(async () => {
    env = integrationEnv('dlq-list');
    await env.provision(['ledger.commands', 'ledger.results']);
    cli = paystreamCli({ ...process.env, PAYSTREAM_TOPIC_PREFIX: env.prefix, PAYSTREAM_LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await env.cleanup();
  });

  it('lists dead letters with their error, source and decoded value; not those of an aborted transaction', async () => {
    expect(await cli('dlq', 'list', '--topic', 'ledger.commands')).toMatchObject({
      code: 0,
      stdout: `${env.prefix}ledger.commands.dlq: no dead letters\n`,
    });

    const physical = env.schemas.physicalTopic('ledger.commands');
    const command = cmd.deposit('acct-dlq-1', 12_345_678_901_234n, 'EUR', 'dep-dlq-1');
    const publisher = new DeadLetterPublisher(env.kafka);
    await publisher.publish({
      sourceTopic: physical,
      partition: 4,
      offset: '17',
      key: Buffer.from('acct-dlq-1'),
      value: await env.schemas.encode('ledger.commands', command),
      headers: undefined,
      error: new PaystreamError('ROW_REJECTED', 'value too long for type character varying(34)'),
    });
    await publisher.publish({
      sourceTopic: physical,
      partition: 2,
      offset: '5',
      key: Buffer.from('acct-dlq-2'),
      value: Buffer.from('not avro at all'),
      headers: undefined,
      error: new PaystreamError('DECODE_FAILED', 'payload is not in the Confluent wire format'),
    });
    await publisher.disconnect();
    // A processor's dead letter written in a transaction that aborted was never set aside: it must not be listed, and
    // the listing must still end (the partition ends in that transaction's abort marker).
    const producer = env.kafka.producer({ transactionalId: `${env.prefix}dlq-aborted`, maxInFlightRequests: 1 });
    await producer.connect();
    const tx = await producer.transaction();
    await tx.send({ topic: dlqTopic(physical), messages: [{ key: 'acct-aborted', value: Buffer.from('aborted') }] });
    await tx.abort();
    await producer.disconnect();

    const started = Date.now();
    const listed = await cli('dlq', 'list', '--topic', 'ledger.commands');
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(listed.code).toBe(0);
    const text = listed.stdout;
    expect(text).toContain(`${env.prefix}ledger.commands.dlq: 2 dead letters\n`);
    expect(text).toContain(`from    ${physical} partition 4 offset 17`);
    expect(text).toContain('error   ROW_REJECTED: value too long for type character varying(34)');
    expect(text).toContain('key     acct-dlq-1');
    // Decoded through the registry, its 64-bit amount exact.
    expect(text).toContain('"commandId":"dep-dlq-1"');
    expect(text).toContain('"amountMinor":"12345678901234"');
    expect(text).toContain(`from    ${physical} partition 2 offset 5`);
    expect(text).toContain(
      'value   undecodable (15 bytes): payload is not in the Confluent wire format (magic byte 0 + schema id)',
    );
    expect(text).not.toContain('acct-aborted');
    // Oldest first.
    expect(text.indexOf('acct-dlq-1')).toBeLessThan(text.indexOf('acct-dlq-2'));

    const last = await cli('dlq', 'list', '--topic', 'ledger.commands', '--limit', '1');
    expect(last.stdout).toContain(`${env.prefix}ledger.commands.dlq: 2 dead letters (the last 1 shown)\n`);
    expect(last.stdout).toContain('key     acct-dlq-2');
    expect(last.stdout).not.toContain('acct-dlq-1');

    const json = await cli('dlq', 'list', '--topic', 'ledger.commands', '--json', '--limit', '1');
    expect(json.code).toBe(0);
    const lines = json.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      topic: `${env.prefix}ledger.commands.dlq`,
      errorCode: 'DECODE_FAILED',
      source: { topic: physical, partition: 2, offset: '5' },
      key: 'acct-dlq-2',
      value: { bytes: 15 },
    });

    // A dead-letter topic holding only an aborted transaction has no dead letters, and says so at once (its records
    // are never handed to the reader, only the position past them).
    const results = dlqTopic(env.schemas.physicalTopic('ledger.results'));
    const aborting = env.kafka.producer({ transactionalId: `${env.prefix}dlq-aborted-2`, maxInFlightRequests: 1 });
    await aborting.connect();
    const abortedOnly = await aborting.transaction();
    await abortedOnly.send({ topic: results, messages: [{ key: 'k', value: Buffer.from('aborted') }] });
    await abortedOnly.abort();
    await aborting.disconnect();
    const emptyStarted = Date.now();
    expect(await cli('dlq', 'list', '--topic', 'ledger.results')).toMatchObject({
      code: 0,
      stdout: `${results}: no dead letters\n`,
    });
    expect(Date.now() - emptyStarted).toBeLessThan(20_000);

    // Reading left no consumer group behind.
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
      expect(groups.filter((g) => g.includes('-dlq-reader-'))).toEqual([]);
    } finally {
      await admin.disconnect();
    }
  });

  it('answers at once while a transaction is open on the dead-letter topic, with the letters committed before it', async () => {
    // A processor that died mid-transaction leaves it open until another process takes its partition over (a session
    // timeout later) or the broker times it out: what an operator reads meanwhile is what was committed before it.
    const results = env.schemas.physicalTopic('ledger.results');
    const letters = await lettersAroundOpenTransaction(
      env,
      results,
      'acct-open',
      ['101', '102'],
      (offset) => new PaystreamError('ROW_REJECTED', `row ${offset} refused`),
    );
    try {
      const started = Date.now();
      const listed = await cli('dlq', 'list', '--topic', 'ledger.results');
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain(`${dlqTopic(results)}: 1 dead letter\n`);
      expect(listed.stdout).toContain(`from    ${results} partition 0 offset 101`);
      expect(listed.stdout).not.toContain('offset 102');
      // Said, with where the letters not listed lie: the open transaction's record, right after letter 101, and letter
      // 102 behind it.
      const [, partition, offset] = /\npartition (\d+) offset (\d+) at /.exec(listed.stdout) ?? [];
      const notListed = `partition ${partition}: offsets ${BigInt(offset!) + 1n} to ${BigInt(offset!) + 2n} not listed, past a transaction still open there (or written as the list began); list again once it ends`;
      expect(listed.stdout).toContain(`\n\n${notListed}\n`);
      const json = await cli('dlq', 'list', '--topic', 'ledger.results', '--json');
      expect(json.code).toBe(0);
      expect(json.stdout.trim().split('\n')).toHaveLength(1);
      expect(json.stderr).toContain(`paystream: ${notListed}\n`);
      await letters.commit();
      const after = await cli('dlq', 'list', '--topic', 'ledger.results');
      expect(after.stdout).not.toContain('not listed');
      // The transaction's record was not written by DeadLetterPublisher, so it has no source; it counts all the same.
      expect(after.stdout).toContain(`${dlqTopic(results)}: 3 dead letters\n`);
      expect(after.stdout).toContain(`from    ${results} partition 0 offset 102`);
    } finally {
      await letters.close();
    }
  });

  it('takes the topic by its catalogue name, its physical name (as alerts show it) or its dead-letter topic', async () => {
    const physical = env.schemas.physicalTopic('ledger.commands');
    expect(physical).not.toBe('ledger.commands');
    const publisher = new DeadLetterPublisher(env.kafka);
    await publisher.publish({
      sourceTopic: physical,
      partition: 1,
      offset: '8',
      key: Buffer.from('acct-dlq-named'),
      value: Buffer.from('named three ways'),
      headers: undefined,
      error: new PaystreamError('DECODE_FAILED', 'payload is not in the Confluent wire format'),
    });
    await publisher.disconnect();
    const byCatalogue = await cli('dlq', 'list', '--topic', 'ledger.commands', '--json', '--limit', '1');
    expect(byCatalogue.code).toBe(0);
    expect(JSON.parse(byCatalogue.stdout)).toMatchObject({
      key: 'acct-dlq-named',
      source: { partition: 1, offset: '8' },
    });
    for (const name of [physical, dlqTopic(physical), 'ledger.commands.dlq'])
      expect(await cli('dlq', 'list', '--topic', name, '--json', '--limit', '1')).toEqual(byCatalogue);
    const dry = await cli('dlq', 'redrive', '--topic', physical, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(dlqTopic(physical));
  });

  it('names what is wrong with the request', async () => {
    const unknown = await cli('dlq', 'list', '--topic', 'ledger.nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('TOPIC_UNKNOWN: topic ledger.nope is not in the catalogue');
    const zero = await cli('dlq', 'list', '--topic', 'ledger.commands', '--limit', '0');
    expect(zero.code).toBe(1);
    expect(zero.stderr).toContain('--limit: a whole number from 1 to 999999');
  });
});
