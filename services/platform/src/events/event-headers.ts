import type { IHeaders } from 'kafkajs';

/**
 * Headers every paystream event carries (plain UTF-8 strings):
 * - `event-id`: unique id of this event; consumers and sinks deduplicate on it;
 * - `correlation-id`: the id shared by everything caused by one outside request (a REST call, a file, a callback);
 * - `causation-id`: the event-id of the event that caused this one (absent for edge events);
 * - `event-type`: the full Avro name of the value's type.
 */
export const HEADER = {
  eventId: 'event-id',
  correlationId: 'correlation-id',
  causationId: 'causation-id',
  eventType: 'event-type',
  /** On changelog records: the input offset the writing transaction committed (where processing continues). */
  inputOffset: 'input-offset',
} as const;

/** Headers on dead-letter records: why the record could not be processed and where it came from. */
export const DLQ_HEADER = {
  errorCode: 'dlq-error-code',
  errorMessage: 'dlq-error-message',
  sourceTopic: 'dlq-source-topic',
  sourcePartition: 'dlq-source-partition',
  sourceOffset: 'dlq-source-offset',
  /**
   * On a record `paystream dlq redrive` wrote back to its topic (and kept if it is dead-lettered again): the dead
   * letter it came from, `<dead-letter topic>/<partition>/<offset>`.
   */
  redrivenFrom: 'dlq-redriven-from',
} as const;

export interface EventHeaders {
  eventId: string;
  correlationId: string;
  causationId?: string;
  eventType?: string;
  /** Every header as a string, including the ones above. */
  all: Record<string, string>;
}

export function headerString(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined) return undefined;
  return Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
}

export function readHeaders(headers: IHeaders | undefined): EventHeaders {
  const all: Record<string, string> = {};
  for (const name of Object.keys(headers ?? {})) {
    const v = headerString(headers, name);
    if (v !== undefined) all[name] = v;
  }
  const eventId = all[HEADER.eventId] ?? '';
  return {
    eventId,
    correlationId: all[HEADER.correlationId] ?? eventId,
    ...(all[HEADER.causationId] !== undefined ? { causationId: all[HEADER.causationId] } : {}),
    ...(all[HEADER.eventType] !== undefined ? { eventType: all[HEADER.eventType] } : {}),
    all,
  };
}
