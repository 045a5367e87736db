import { LEDGER_STORES, ledgerProcessorWith } from '../../../services/ledger/src/domain/ledger';
import type { LedgerResult } from '../../../services/platform/src/sdk/event-types.generated';
import { restorePartitions, SEEK_SLACK_MS } from '../../../services/processor-runtime/src/changelog-restore';
import type { OutputBackedStore } from '../../../services/processor-runtime/src/processor';
import { integrationEnv } from '../../support/integration-env';
import { writeTimed } from '../../support/topic-writer';

const HOUR = 3_600_000;

/**
 * A store with a retention is restored from the records stamped late enough to matter, not from the beginning of its
 * topic — unless the partition shows no activity that recent, when what the seek skipped could still be needed: then
 * it is read whole. The ledger's processed-commands store with a one-hour window (entries kept two hours).
 */
describe('changelog restore: a store with a retention starts reading at a time', () => {
  const env = integrationEnv('restore-by-time');
  const definition = ledgerProcessorWith({ dedupWindowMs: HOUR });
  const processed = definition.outputBackedStores?.[0] as OutputBackedStore;
  const keep = processed.retention?.keepMs ?? 0;
  const now = Date.now();

  const result = (commandId: string, at: number): LedgerResult => ({
    commandId,
    accountId: 'acct',
    processedAt: new Date(at),
    outcome: { 'paystream.ledger.CommandRejected': { code: 'UNKNOWN_ACCOUNT', message: 'no such account' } },
    duplicate: false,
    request: null,
    requestFingerprint: null,
  });

  /** Results written the way this release writes them: the record stamped with the time of its entry. */
  const write = (partition: number, results: LedgerResult[]) =>
    writeTimed(
      env,
      'ledger.results',
      results.map((r) => ({ key: r.accountId, value: r, at: r.processedAt.getTime(), partition })),
    );

  const restore = (partitions: number[]) =>
    restorePartitions({
      kafka: env.kafka,
      schemas: env.schemas,
      stores: [],
      outputBackedStores: [processed],
      partitions,
      groupPrefix: env.prefix,
    });

  beforeAll(() => env.provision(['ledger.commands', 'ledger.results']));
  afterAll(() => env.cleanup());

  it('skips what is older than the retention and the slack in a partition active since', async () => {
    const old = Array.from({ length: 200 }, (_, i) => result(`old-${i}`, now - 3 * 24 * HOUR + i));
    const recent = Array.from({ length: 5 }, (_, i) => result(`recent-${i}`, now - HOUR + i));
    await write(0, [...old, ...recent]);
    const state = (await restore([0])).get(0);
    expect(state?.size(LEDGER_STORES.processed)).toBe(5);
    expect(state?.get(LEDGER_STORES.processed, 'recent-0')).toBeDefined();
    // The seek landed on the first recent record: the 200 old ones were not read.
    expect(state?.restoredRecords).toBe(5);
  });

  it('reads a partition whole when the seek found records too early to show it active since (an idle partition)', async () => {
    // Entries 1.5 h apart, both within the retention of the newer one; the older stamped before the seek time.
    const seekTime = now - keep - SEEK_SLACK_MS;
    const older = result('older', seekTime - 30 * 60_000);
    const newer = result('newer', seekTime + HOUR);
    await write(1, [older, newer]);
    const state = (await restore([1])).get(1);
    expect(state?.get(LEDGER_STORES.processed, 'older')).toBeDefined();
    expect(state?.get(LEDGER_STORES.processed, 'newer')).toBeDefined();
    expect(state?.restoredRecords).toBe(2);
  });

  it('reads a partition whole when nothing in it is stamped after the seek time', async () => {
    const idle = Array.from({ length: 20 }, (_, i) => result(`idle-${i}`, now - 3 * 24 * HOUR + i * 60_000));
    await write(2, idle);
    const state = (await restore([2])).get(2);
    // All within two hours of the newest: all kept.
    expect(state?.size(LEDGER_STORES.processed)).toBe(20);
  });
});
