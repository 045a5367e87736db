import { setTimeout as sleep } from 'node:timers/promises';

import { backoffMs } from '../retry-policy';

/**
 * Sends a transaction's offsets, waiting out CONCURRENT_TRANSACTIONS: right after the previous commit of the same
 * transactional id the coordinator may still be writing that commit's markers and refuses AddOffsetsToTxn for a
 * moment (kafkajs retries this for AddPartitionsToTxn, on the produce path, but not for the offsets). Nothing was
 * added to the transaction when that error comes back, so sending again is safe; Kafka's Java producer does the same.
 */
export async function sendOffsetsWhenFree(send: () => Promise<void>, random: () => number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await send();
      return;
    } catch (err) {
      if ((err as { type?: unknown }).type !== 'CONCURRENT_TRANSACTIONS' || attempt >= 10) throw err;
      await sleep(Math.max(1, backoffMs(attempt, { initialMs: 10, maxMs: 1_000 }, random())));
    }
  }
}
