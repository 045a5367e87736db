import { Registry } from 'prom-client';

import { LedgerClient } from '../../../../services/gateway/src/adapters/ledger-client';
import { PaystreamError } from '../../../../services/platform/src/errors';
import { silentLogger } from '../../../../services/platform/src/logger';
import { integrationEnv } from '../../../support/integration-env';
import { LEDGER_TOPICS } from '../../../support/ledger-workload';

/**
 * Starting the ledger client is bounded: it is ready once its reply consumer fetched from the end of ledger.results,
 * and when that first fetch does not come in time it fails with an error that says so instead of waiting forever.
 */
describe('ledger client start-up', () => {
  const env = integrationEnv('ledger-client');
  const client = (positionTimeoutMs?: number) =>
    new LedgerClient({
      kafka: env.kafka,
      schemas: env.schemas,
      logger: silentLogger,
      metrics: new Registry(),
      topicPrefix: env.prefix,
      positionTimeoutMs,
    });

  beforeAll(() => env.provision(LEDGER_TOPICS));
  afterAll(() => env.cleanup());

  it('is ready once its reply consumer has fetched', async () => {
    const ledger = client();
    await ledger.start();
    expect(ledger.ready()).toBe(true);
    await ledger.stop();
    expect(ledger.ready()).toBe(false);
  });

  it('fails with KAFKA_UNAVAILABLE, naming the wait, when the first fetch does not come in time', async () => {
    const ledger = client(1);
    try {
      const started = ledger.start();
      await expect(started).rejects.toBeInstanceOf(PaystreamError);
      await expect(started).rejects.toMatchObject({
        code: 'KAFKA_UNAVAILABLE',
        retryable: true,
        message: expect.stringContaining('did not fetch within 1 ms') as unknown,
      });
      expect(ledger.ready()).toBe(false);
    } finally {
      // Whatever start() did, nothing of it may outlive the test.
      await ledger.stop();
    }
  });
});
