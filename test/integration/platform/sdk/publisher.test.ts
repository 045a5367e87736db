import { EventConsumer } from '../../../../services/platform/src/events/event-consumer';
import { silentLogger } from '../../../../services/platform/src/logger';
import { createPublisher } from '../../../../services/platform/src/sdk';
import type { LedgerCommand, OrderRequested } from '../../../../services/platform/src/sdk';
import { eventually, integrationEnv } from '../../../support/integration-env';

describe('producer SDK (what an outside backend imports)', () => {
  const env = integrationEnv('sdk');
  beforeAll(() => env.provision(['spei.order-requests', 'ledger.commands']));
  afterAll(() => env.cleanup());

  it('publishes a SPEI order request (seed 000 send_order) and a ledger command keyed by its account', async () => {
    const publisher = await createPublisher({
      brokers: env.config.kafka.brokers,
      schemaRegistryUrl: env.config.schemaRegistry.url,
      topicPrefix: env.prefix,
    });
    const order: OrderRequested = {
      orderId: 'order-1',
      claveRastreo: 'CR1234567890',
      conceptoPago: 'PRUEBA',
      institucionOperante: 90646,
      institucionContraparte: 40072,
      cuentaBeneficiario: '646180157000000004',
      tipoCuentaBeneficiario: 40,
      nombreBeneficiario: 'Ricardo Sánchez',
      rfcCurpBeneficiario: 'ND',
      cuentaOrdenante: '072691004495711499',
      tipoCuentaOrdenante: 40,
      nombreOrdenante: 'BANCO',
      rfcCurpOrdenante: 'ND',
      montoMinor: 120n,
      referenciaNumerica: 1234567,
      requestedAt: new Date('2026-11-24T12:00:00Z'),
    };
    const deposit: LedgerCommand = {
      commandId: 'dep-1',
      accountId: 'wallet-1',
      issuedAt: new Date('2026-11-24T12:00:01Z'),
      command: { 'paystream.ledger.Deposit': { amountMinor: 10_000n, currency: 'EUR', reference: null } },
    };
    try {
      await publisher.publish('spei.order-requests', order.claveRastreo, order, { correlationId: 'backend-req-9' });
      const published = await publisher.sendLedgerCommand(deposit);
      expect(published.eventId).toBe('dep-1');
      await expect(
        publisher.publish('spei.order-requests', 'k', { ...order, montoMinor: 1.2 as unknown as bigint }),
      ).rejects.toMatchObject({ code: 'ENCODE_FAILED', message: expect.stringContaining('montoMinor') as unknown });
    } finally {
      await publisher.close();
    }

    const got = new Map<string, { key: string | null; value: unknown; correlationId: string }>();
    const consumer = new EventConsumer({
      kafka: env.kafka,
      schemas: env.schemas,
      logger: silentLogger,
      groupId: env.group('backend'),
      topics: ['spei.order-requests', 'ledger.commands'],
      fromBeginning: true,
    });
    await consumer.run((e) => {
      got.set(e.topic, { key: e.key, value: e.value, correlationId: e.headers.correlationId });
      return Promise.resolve();
    });
    await eventually(() => (got.size === 2 ? true : undefined));
    await consumer.stop();
    expect(got.get('spei.order-requests')).toEqual({
      key: 'CR1234567890',
      value: order,
      correlationId: 'backend-req-9',
    });
    expect(got.get('ledger.commands')).toEqual({ key: 'wallet-1', value: deposit, correlationId: 'dep-1' });
  });
});
