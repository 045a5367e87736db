import { Counter } from 'prom-client';

import { PaystreamError } from '../errors';
import { EventConsumer } from '../events/event-consumer';
import type { RunningService, ServiceDefinition } from './service';

/**
 * `event-log`: follows catalogue topics and writes each decoded event as one structured log line (key, headers,
 * value) — an operator's view of what flows, and the smallest complete service: consumer group, DLQ for poison,
 * metrics, readiness, graceful stop.
 *
 * Args: `--topics a,b` (default: every catalogue topic), `--group <id>` (default paystream-event-log),
 * `--from-beginning`.
 */
export const eventLogService: ServiceDefinition = {
  name: 'event-log',
  description: 'follow catalogue topics and log every decoded event',
  async start({ args, kafka, schemas, logger, metrics }): Promise<RunningService> {
    const opt = (name: string) => {
      const i = args.indexOf(name);
      return i >= 0 ? args[i + 1] : undefined;
    };
    const topics = opt('--topics')?.split(',') ?? schemas.catalogue.topics.map((t) => t.name);
    for (const t of topics) schemas.catalogue.topic(t);
    if (topics.length === 0) throw new PaystreamError('VALIDATION_FAILED', '--topics: at least one topic');
    const consumed = new Counter({
      name: 'paystream_event_log_events_total',
      help: 'Events decoded and logged by event-log, by topic',
      labelNames: ['topic'],
      registers: [metrics],
    });
    const deadLettered = new Counter({
      name: 'paystream_dlq_records_total',
      help: 'Records sent to a dead-letter topic, by source topic and error code',
      labelNames: ['topic', 'code'],
      registers: [metrics],
    });
    const consumer = new EventConsumer({
      kafka,
      schemas,
      logger,
      groupId: opt('--group') ?? 'paystream-event-log',
      topics,
      fromBeginning: args.includes('--from-beginning'),
      onDeadLetter: (topic, err) => deadLettered.inc({ topic, code: err.code }),
    });
    let ready = false;
    await consumer.run(async (event) => {
      logger.info('event', {
        topic: event.topic,
        partition: event.partition,
        offset: event.offset,
        key: event.key,
        eventId: event.headers.eventId,
        correlationId: event.headers.correlationId,
        value: event.value,
      });
      consumed.inc({ topic: event.topic });
      return Promise.resolve();
    });
    ready = true;
    return { ready: () => ready, stop: () => consumer.stop() };
  },
};
