import type { RunningService, ServiceDefinition } from '../../../platform/src/service/service';
import { ProcessorRuntime } from '../../../processor-runtime/src/processor-runtime';
import { ledgerProcessor } from '../domain/ledger';
import type { LedgerCommand } from '../../../platform/src/sdk/event-types.generated';

/**
 * `ledger`: the balance-checking processor on ledger.commands, with exactly-once effects (see ProcessorRuntime).
 * Run as many processes as wanted; they share the input partitions through one consumer group.
 *
 * Args: `--max-batch <n>` records per transaction (default 1000).
 */
export const ledgerService: ServiceDefinition = {
  name: 'ledger',
  description: 'balance checks and double-entry postings on ledger.commands (exactly-once)',
  async start({ kafka, schemas, logger, metrics, args }): Promise<RunningService> {
    const i = args.indexOf('--max-batch');
    const maxBatch = i >= 0 ? Number(args[i + 1]) : undefined;
    const runtime = new ProcessorRuntime<LedgerCommand>({
      kafka,
      schemas,
      logger,
      metrics,
      definition: ledgerProcessor,
      ...(maxBatch && Number.isInteger(maxBatch) && maxBatch > 0 ? { maxBatchMessages: maxBatch } : {}),
    });
    await runtime.start();
    return { ready: () => runtime.ready(), stop: () => runtime.stop() };
  },
};
