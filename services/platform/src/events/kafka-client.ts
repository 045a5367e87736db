// Must run before kafkajs is loaded: they correct kafkajs' read_committed filtering and replace its per-record
// decoder with an equivalent faster one (see the modules).
import './kafkajs-read-committed';
import './kafkajs-record-decoder';

import { Kafka, logLevel as KafkaLogLevel } from 'kafkajs';
import type { LogEntry } from 'kafkajs';

import type { Logger } from '../logger';

export interface KafkaClientOptions {
  brokers: readonly string[];
  clientId: string;
  logger: Logger;
}

/** One kafkajs client per process, logging through the platform logger (kafkajs' own console logger is replaced). */
export function createKafka(options: KafkaClientOptions): Kafka {
  const log = options.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 200, retries: 8 },
    logLevel: KafkaLogLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...fields } = entry;
        if (level <= KafkaLogLevel.ERROR) log.error(message, fields);
        else if (level === KafkaLogLevel.WARN) log.warn(message, fields);
        else log.debug(message, fields);
      },
  });
}
