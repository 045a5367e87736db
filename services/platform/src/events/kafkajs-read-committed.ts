/**
 * A correction to kafkajs 2.2.4's `read_committed` filtering, installed before kafkajs is first loaded.
 *
 * Kafka answers a fetch with the records and the list of aborted transactions overlapping them (producer id and
 * first offset); the client must drop every transactional record of a producer from that first offset until the
 * producer's ABORT marker. kafkajs (`src/consumer/filterAbortedMessages.js`) activates at most one aborted
 * transaction per record it looks at (`if` where the Java client loops), does not order the list, and ends a
 * transaction on any record whose key happens to be the ABORT marker's bytes. When several transactions were aborted
 * together — a process killed while it had open transactions on several partitions, all writing to one hot
 * partition — records of the later ones were handed to `read_committed` consumers: the ledger's SIGKILL test saw
 * credit commands twice. This module replaces the function with the Java client's algorithm.
 *
 * Guarantee: a record is returned unless it is transactional and its producer has an aborted transaction that
 * started at or before its offset and has not yet ended with an ABORT marker.
 */

import { replaceKafkajsModule } from './kafkajs-module-patch';

export interface FetchedMessage {
  offset: string;
  key: Buffer | null;
  isControlRecord?: boolean;
  batchContext: { producerId: string; inTransaction: boolean };
}

export interface AbortedTransaction {
  producerId: string;
  firstOffset: string;
}

const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

export function filterAbortedMessages<M extends FetchedMessage>({
  messages,
  abortedTransactions,
}: {
  messages: M[];
  abortedTransactions?: AbortedTransaction[] | null;
}): M[] {
  if (!abortedTransactions || abortedTransactions.length === 0) return messages;
  const pending = [...abortedTransactions].sort((a, b) => {
    const x = BigInt(a.firstOffset);
    const y = BigInt(b.firstOffset);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const aborted = new Set<string>();
  return messages.filter((m) => {
    const offset = BigInt(m.offset);
    while (pending.length > 0 && offset >= BigInt(pending[0]!.firstOffset))
      aborted.add(String(pending.shift()!.producerId));
    const producerId = String(m.batchContext.producerId);
    if (m.isControlRecord) {
      if (m.key && Buffer.from(m.key).equals(ABORT_MARKER_KEY)) aborted.delete(producerId);
      return true; // control records are dropped by the caller
    }
    return !(m.batchContext.inTransaction && aborted.has(producerId));
  });
}

/**
 * Puts `filterAbortedMessages` in place of kafkajs' own, in the module cache, so kafkajs' Batch picks it up when it
 * is loaded. Fails loudly if kafkajs' Batch was loaded already (the fix could not take effect).
 */
export function installReadCommittedFix(): void {
  replaceKafkajsModule(
    'kafkajs/src/consumer/filterAbortedMessages',
    'kafkajs/src/consumer/batch',
    filterAbortedMessages,
  );
}

installReadCommittedFix();
