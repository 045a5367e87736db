import { DeadLetterPublisher, dlqTopic } from '../../services/platform/src/events/dead-letter';
import type { PaystreamError } from '../../services/platform/src/errors';
import type { IntegrationEnv } from './integration-env';

/**
 * On `source`'s dead-letter topic, as a processor that died mid-transaction leaves it: a letter naming source offset
 * `offsets[0]`, then a transaction left open holding one record (`in flight`), then a letter naming `offsets[1]`. All
 * three under `key`, so in one partition. `commit` ends the transaction; `close` disconnects, committed or not.
 */
export async function lettersAroundOpenTransaction(
  env: IntegrationEnv,
  source: string,
  key: string,
  offsets: readonly [string, string],
  error: (offset: string) => PaystreamError,
): Promise<{ commit: () => Promise<void>; close: () => Promise<void> }> {
  const letter = (offset: string) => ({
    sourceTopic: source,
    partition: 0,
    offset,
    key: Buffer.from(key),
    value: Buffer.from(`letter ${offset}`),
    headers: undefined,
    error: error(offset),
  });
  const publisher = new DeadLetterPublisher(env.kafka);
  const open = env.kafka.producer({ transactionalId: `${env.prefix}dlq-open`, maxInFlightRequests: 1 });
  const close = async () => {
    await publisher.disconnect();
    await open.disconnect();
  };
  try {
    await open.connect();
    await publisher.publish(letter(offsets[0]));
    const tx = await open.transaction();
    await tx.send({ topic: dlqTopic(source), messages: [{ key, value: Buffer.from('in flight') }] });
    await publisher.publish(letter(offsets[1]));
    return { commit: () => tx.commit(), close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
