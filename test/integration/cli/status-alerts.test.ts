import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { eventually, integrationEnv } from '../../support/integration-env';
import { LEDGER_TOPICS, startLedgerProcess, stopProcess } from '../../support/ledger-workload';

const run = promisify(execFile);
const CLI = path.join(__dirname, '../../../bin/paystream.js');

/**
 * `paystream status` shows the alerts the stack's Prometheus has firing: here a real one, raised by a ledger process
 * (scraped through its target file) setting aside a record that is not Avro.
 */
describe('paystream status: alerts firing', () => {
  const env = integrationEnv('cli-status-alerts');
  beforeAll(async () => {
    await env.provision(LEDGER_TOPICS);
  });
  afterAll(async () => {
    await env.cleanup();
  });

  const status = () =>
    run('node', [CLI, 'status'], { env: process.env }).then(
      (r) => r.stdout,
      (err: { stdout: string }) => err.stdout,
    );

  it('lists a dead-letter alert once the ledger sets a record aside', async () => {
    const logs: string[] = [];
    const ledger = startLedgerProcess(env, logs, { PAYSTREAM_LOG_LEVEL: 'info' });
    try {
      await eventually(() => (logs.join('').includes('"partitions ready"') ? true : undefined), 60_000).catch(
        (err: Error) => {
          throw new Error(`${err.message}; ledger logs: ${logs.join('')}`);
        },
      );
      const producer = env.kafka.producer();
      await producer.connect();
      await producer.send({
        topic: `${env.prefix}ledger.commands`,
        messages: [{ key: 'acct-not-avro', value: Buffer.from('not avro') }],
      });
      await producer.disconnect();

      // Scraped every 5 s, evaluated every 5 s; the alert has no `for`.
      const out = await eventually(async () => {
        const text = await status();
        return /^ {2}page +PaystreamDeadLetters +ledger set records of .*ledger\.commands aside \(DECODE_FAILED\) \(since \S+Z\)$/m.test(
          text,
        )
          ? text
          : undefined;
      }, 60_000);
      expect(out).toMatch(/\nalerts firing \(http:\/\/\S+\/alerts; infra\/prometheus\/alerts\.yml\):\n/);
    } finally {
      await stopProcess(ledger, 'SIGTERM', 30_000);
    }
  }, 150_000);
});
