// Must run before kafkajs is loaded: they correct kafkajs' read_committed filtering and replace its record-batch
// decoder, record and request encoders and per-partition grouping with equivalent faster ones (see the modules).
// Then coordinators are remembered instead of looked up before every coordinator request (after the others: it loads
// kafkajs' Cluster).
import './kafkajs-read-committed';
import './kafkajs-record-decoder';
import './kafkajs-record-encoder';
import './kafkajs-request-encoder';
import './kafkajs-partition-grouping';
import './kafkajs-coordinator-cache';

import { Kafka, logLevel as KafkaLogLevel } from 'kafkajs';
import type { ISocketFactory, LogEntry, ProducerConfig } from 'kafkajs';

import type { Logger } from '../logger';
import { KeyPartitioner } from './key-partitioner';

export interface KafkaClientOptions {
  brokers: readonly string[];
  clientId: string;
  logger: Logger;
  /** How connections to brokers are opened (kafkajs' plain TCP by default); a proxy in front of them, say. */
  socketFactory?: ISocketFactory;
}

/**
 * kafkajs warns about every idempotent producer whose retries are bounded (all of ours: unbounded retries would hold a
 * request, and a partition's transaction, forever). Bounded retries do not weaken exactly-once here: a transactional
 * producer's failed send aborts its transaction (nothing of it becomes visible to read_committed readers) and the
 * batch runs again, on a re-initialised producer after repeated failures; a plain idempotent producer's failed publish
 * fails its caller, and publishing it again (same event id) is deduplicated by consumers, as `EventProducer` says.
 * So it is logged at debug, not repeated as a warning for each of a ledger's partitions at every start.
 */
const BOUNDED_RETRIES_WARNING = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';

/**
 * CONCURRENT_TRANSACTIONS: right after a commit, the coordinator refuses the same transactional id's next
 * AddPartitionsToTxn or AddOffsetsToTxn until that commit's markers are written, and expects the client to send it
 * again (kafkajs does for partitions, the processor runtime for offsets, both after milliseconds). Under load this is
 * normal operation (27 times in one 20 s api bench), so kafkajs' error lines about it are logged at debug; a retry that
 * gives up fails its caller, which reports it.
 */
const CONCURRENT_TRANSACTIONS =
  'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';

/** Whether a kafkajs log entry only reports a refusal that is retried as a matter of course (see above). */
const routineRetry = (message: string, fields: Record<string, unknown>) =>
  fields.error === CONCURRENT_TRANSACTIONS || message === `Failed to send messages: ${CONCURRENT_TRANSACTIONS}`;

/**
 * One kafkajs client per process, logging through the platform logger (kafkajs' own console logger is replaced).
 * Its producers partition keyed records with Kafka's default partitioner (murmur2, as the Java client and Kafka's
 * own tools do; `KeyPartitioner`), chosen explicitly rather than left to kafkajs' default, which warns on every
 * producer it makes.
 */
export function createKafka(options: KafkaClientOptions): Kafka {
  const log = options.logger.child({ component: 'kafkajs' });
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 200, retries: 8 },
    logLevel: KafkaLogLevel.WARN,
    ...(options.socketFactory ? { socketFactory: options.socketFactory } : {}),
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...fields } = entry;
        if (message === BOUNDED_RETRIES_WARNING || routineRetry(message, fields)) log.debug(message, fields);
        else if (level <= KafkaLogLevel.ERROR) log.error(message, fields);
        else if (level === KafkaLogLevel.WARN) log.warn(message, fields);
        else log.debug(message, fields);
      },
  });
  const producer = kafka.producer.bind(kafka);
  kafka.producer = (config?: ProducerConfig) => producer({ createPartitioner: KeyPartitioner, ...config });
  return kafka;
}
