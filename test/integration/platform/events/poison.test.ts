import { EventConsumer } from '../../../../services/platform/src/events/event-consumer';
import { DLQ_HEADER, headerString } from '../../../../services/platform/src/events/event-headers';
import { EventProducer } from '../../../../services/platform/src/events/event-producer';
import { silentLogger } from '../../../../services/platform/src/logger';
import type { OrderRequested } from '../../../../services/platform/src/sdk/event-types.generated';
import { dlqTopic, eventually, integrationEnv } from '../../../support/integration-env';

describe('poison messages', () => {
  const env = integrationEnv('poison');
  const producer = new EventProducer({ kafka: env.kafka, schemas: env.schemas, logger: silentLogger });
  const raw = env.kafka.producer();

  beforeAll(async () => {
    await env.provision(['spei.order-requests']);
    await raw.connect();
  });
  afterAll(async () => {
    await raw.disconnect();
    await producer.disconnect();
    await env.cleanup();
  });

  const order = (clave: string): OrderRequested => ({
    orderId: `o-${clave}`,
    claveRastreo: clave,
    conceptoPago: 'PRUEBA',
    institucionOperante: 90646,
    institucionContraparte: 40072,
    cuentaBeneficiario: '072691004495711499',
    tipoCuentaBeneficiario: 40,
    nombreBeneficiario: 'Ricardo Sanchez',
    rfcCurpBeneficiario: 'ND',
    cuentaOrdenante: null,
    tipoCuentaOrdenante: null,
    nombreOrdenante: 'BANCO',
    rfcCurpOrdenante: 'ND',
    montoMinor: 120n,
    referenciaNumerica: 1234567,
    requestedAt: new Date('2026-11-24T12:00:00Z'),
  });

  it('sends garbage and unknown schema ids to the DLQ with their headers while the partition keeps flowing', async () => {
    const topic = env.schemas.physicalTopic('spei.order-requests');
    const key = 'same-key-same-partition';
    await producer.publish({ topic: 'spei.order-requests', key, value: order('BEFORE') });
    await raw.send({ topic, messages: [{ key, value: Buffer.from('definitely not avro') }] });
    const unknownId = Buffer.alloc(9);
    unknownId.writeUInt8(0, 0);
    unknownId.writeInt32BE(987_654_321, 1);
    await raw.send({ topic, messages: [{ key, value: unknownId }] });
    await producer.publish({ topic: 'spei.order-requests', key, value: order('AFTER') });

    const seen: string[] = [];
    const dead: string[] = [];
    const consumer = new EventConsumer<OrderRequested>({
      kafka: env.kafka,
      schemas: env.schemas,
      logger: silentLogger,
      groupId: env.group('poison'),
      topics: ['spei.order-requests'],
      fromBeginning: true,
      onDeadLetter: (_t, err) => dead.push(err.code),
    });
    await consumer.run((e) => {
      seen.push(e.value.claveRastreo);
      return Promise.resolve();
    });
    await eventually(() => (seen.length === 2 ? true : undefined));
    await consumer.stop();
    expect(seen).toEqual(['BEFORE', 'AFTER']);
    expect(dead).toEqual(['DECODE_FAILED', 'SCHEMA_NOT_FOUND']);

    const letters: { value: string; headers: Record<string, string | undefined> }[] = [];
    const reader = env.kafka.consumer({ groupId: env.group('dlq-reader') });
    await reader.connect();
    await reader.subscribe({ topic: dlqTopic(topic), fromBeginning: true });
    await reader.run({
      eachMessage: ({ message }) => {
        const h = (n: string) => headerString(message.headers, n);
        letters.push({
          value: message.value?.toString('hex') ?? '',
          headers: {
            code: h(DLQ_HEADER.errorCode),
            message: h(DLQ_HEADER.errorMessage),
            topic: h(DLQ_HEADER.sourceTopic),
            partition: h(DLQ_HEADER.sourcePartition),
            offset: h(DLQ_HEADER.sourceOffset),
          },
        });
        return Promise.resolve();
      },
    });
    await eventually(() => (letters.length === 2 ? true : undefined));
    await reader.disconnect();

    expect(letters[0]?.value).toBe(Buffer.from('definitely not avro').toString('hex'));
    expect(letters[0]?.headers).toMatchObject({ code: 'DECODE_FAILED', topic, offset: '1' });
    expect(letters[1]?.value).toBe(unknownId.toString('hex'));
    expect(letters[1]?.headers).toMatchObject({ code: 'SCHEMA_NOT_FOUND', topic, offset: '2' });
    expect(letters[1]?.headers.message).toContain('987654321');
    expect(letters[0]?.headers.partition).toBe(letters[1]?.headers.partition);
  });
});
