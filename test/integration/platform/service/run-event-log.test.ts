import { spawn } from 'node:child_process';
import path from 'node:path';

import { EventProducer } from '../../../../services/platform/src/events/event-producer';
import { silentLogger } from '../../../../services/platform/src/logger';
import { eventually, integrationEnv } from '../../../support/integration-env';

const CLI = path.join(__dirname, '../../../../bin/paystream.js');

describe('paystream run <service>', () => {
  const env = integrationEnv('run');
  beforeAll(() => env.provision(['matching.transactions']));
  afterAll(() => env.cleanup());

  it('runs event-log in the foreground: health, readiness, metrics, logs events, stops cleanly on SIGTERM', async () => {
    const port = 19_464 + Math.floor(Math.random() * 500);
    const child = spawn(
      'node',
      [CLI, 'run', 'event-log', '--topics', 'matching.transactions', '--group', env.group('log'), '--from-beginning'],
      { env: { ...process.env, PAYSTREAM_TOPIC_PREFIX: env.prefix, PAYSTREAM_METRICS_PORT: String(port) } },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const base = `http://127.0.0.1:${port}`;
      await eventually(async () => ((await fetch(`${base}/healthz`).catch(() => undefined))?.ok ? true : undefined));
      await eventually(async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined));

      const producer = new EventProducer({ kafka: env.kafka, schemas: env.schemas, logger: silentLogger });
      await producer.publish({
        topic: 'matching.transactions',
        key: 'MID-1',
        eventId: 'evt-42',
        value: {
          eventId: 'evt-42',
          feedType: 'PAYMENT',
          providerSlug: 'visa',
          transactionId: 'tx-1',
          mid: 'MID-1',
          amountMinor: 1999n,
          currency: 'GBP',
          transactionTime: new Date('2026-11-24T10:00:00Z'),
          authCode: '123456',
          cardFirstSix: '423456',
          cardLastFour: '1234',
          sourceFile: 'visa-2026-11-24.csv',
          importedAt: new Date('2026-11-24T11:00:00Z'),
        },
      });
      await producer.disconnect();

      const metricsText = await eventually(async () => {
        const text = await (await fetch(`${base}/metrics`)).text();
        return text.includes(`paystream_event_log_events_total{topic="matching.transactions",service="event-log"} 1`)
          ? text
          : undefined;
      });
      expect(metricsText).toContain('process_cpu_seconds_total');
      // The local stack's Prometheus discovers the service through its target file and scrapes it.
      const prometheus = env.config.prometheusUrl;
      await eventually(async () => {
        const res = (await (await fetch(`${prometheus}/api/v1/targets?state=active`)).json()) as {
          data: { activeTargets: { scrapeUrl: string; health: string; labels: Record<string, string> }[] };
        };
        const t = res.data.activeTargets.find((x) => x.scrapeUrl.includes(`:${port}/metrics`));
        return t?.health === 'up' && t.labels.service === 'event-log' ? true : undefined;
      }, 30_000);
      const line = out.split('\n').find((l) => l.includes('"evt-42"'));
      expect(line).toBeDefined();
      const record = JSON.parse(line ?? '{}') as { msg: string; key: string; value: { amountMinor: string } };
      expect(record).toMatchObject({ msg: 'event', key: 'MID-1', value: { amountMinor: '1999' } });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('"msg":"stopped","service":"event-log","clean":true');
  });

  it('refuses an unknown service with the list of known ones', async () => {
    const child = spawn('node', [CLI, 'run', 'no-such-service']);
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain('unknown service no-such-service; known: ledger, sink, gateway, event-log');
  });
});
