import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

import type { Logger } from '../../../platform/src/logger';

/**
 * Runs one write the gateway makes once a request's outcome is decided (by the ledger, for money: a read-your-writes
 * record, an operation's outcome, an Idempotency-Key's stored response), or once it is to be answered 202 (its
 * operation record, kept in Postgres instead when Redis does not take it), and tells whether it was made. Such a
 * write is not the answer: when it fails (Redis down, or late past its command timeout), the failure is logged and
 * counted, and the request still answers its outcome. A 503 there would tell the client to retry a payment that
 * moved, and a retry without an Idempotency-Key would move it again. The caller decides what stands in for a write
 * not made.
 */
export type Bookkeeping = (write: BookkeepingWrite, run: () => Promise<unknown>) => Promise<boolean>;

const WRITES = ['read-your-writes', 'operation', 'idempotency'] as const;
export type BookkeepingWrite = (typeof WRITES)[number];

export function createBookkeeping(logger: Logger, metrics: Registry): Bookkeeping {
  const failures = new Counter({
    name: 'paystream_gateway_bookkeeping_failures_total',
    help: "Writes after a request's outcome (the ledger's, for money) that failed; the request answered its outcome all the same",
    labelNames: ['write'],
    registers: [metrics],
  });
  // Exported at 0 from the start: a series that appeared at its first failure, already at 1, would show no increase
  // until the second (infra/prometheus/alerts.yml alerts on the increase).
  for (const write of WRITES) failures.inc({ write }, 0);
  return async (write, run) => {
    try {
      await run();
      return true;
    } catch (err) {
      failures.inc({ write });
      logger.warn("a write after the request's outcome failed; the request answers its outcome", {
        write,
        error: err instanceof Error ? err.message : String(err),
      });
      return false;
    }
  };
}
