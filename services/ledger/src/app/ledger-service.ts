import type { RunningService, ServiceDefinition } from '../../../platform/src/service/service';
import { ProcessorRuntime } from '../../../processor-runtime/src/processor-runtime';
import { ledgerProcessorWith } from '../domain/ledger';
import { ledgerMovementCounters } from './ledger-metrics';
import type { LedgerCommand } from '../../../platform/src/sdk/event-types.generated';

/**
 * `ledger`: the balance-checking processor on ledger.commands, with exactly-once effects (see ProcessorRuntime).
 * Run as many processes as wanted; they share the input partitions through one consumer group.
 * Tuning comes from the config: PAYSTREAM_PROCESSOR_MAX_BATCH, PAYSTREAM_SESSION_TIMEOUT_MS,
 * PAYSTREAM_PROCESSOR_FETCH_MAX_WAIT_MS and PAYSTREAM_PROCESSOR_FETCH_MIN_BYTES; how long a command id is remembered
 * from PAYSTREAM_LEDGER_DEDUP_WINDOW_DAYS. Business counters (ledger-metrics.ts) count what it commits.
 */
export const ledgerService: ServiceDefinition = {
  name: 'ledger',
  description: 'balance checks and double-entry postings on ledger.commands (exactly-once)',
  async start({ kafka, schemas, logger, metrics, config }): Promise<RunningService> {
    const runtime = new ProcessorRuntime<LedgerCommand>({
      kafka,
      schemas,
      logger,
      metrics,
      definition: ledgerProcessorWith({ dedupWindowMs: config.ledger.dedupWindowMs }),
      maxBatchMessages: config.processor.maxBatchMessages,
      sessionTimeoutMs: config.processor.sessionTimeoutMs,
      maxWaitMs: config.processor.fetchMaxWaitMs,
      minBytes: config.processor.fetchMinBytes,
      committed: ledgerMovementCounters(metrics),
    });
    await runtime.start();
    return { ready: () => runtime.ready(), stop: () => runtime.stop() };
  },
};
