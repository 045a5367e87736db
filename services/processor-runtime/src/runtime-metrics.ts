import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/** The runtime's metrics, registered once per registry (several runtimes in one process share them by label). */
export interface RuntimeMetrics {
  processed: Counter<'processor' | 'partition'>;
  latency: Histogram<'processor'>;
  batchSize: Histogram<'processor'>;
  commitTime: Histogram<'processor'>;
  phaseTime: Histogram<'processor' | 'phase'>;
  deadLettered: Counter<'processor' | 'topic' | 'code'>;
  restoreTime: Histogram<'processor'>;
  lag: Gauge<'processor' | 'partition'>;
  storeEntries: Gauge<'processor' | 'store' | 'partition'>;
  evicted: Counter<'processor' | 'store'>;
  aborts: Counter<'processor' | 'reason'>;
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function runtimeMetrics(registry: Registry): RuntimeMetrics {
  const registers = [registry];
  return {
    processed: metric(
      registry,
      'paystream_processor_messages_total',
      () =>
        new Counter({
          name: 'paystream_processor_messages_total',
          help: 'Input records processed and committed',
          labelNames: ['processor', 'partition'],
          registers,
        }),
    ),
    latency: metric(
      registry,
      'paystream_processor_latency_seconds',
      () =>
        new Histogram({
          name: 'paystream_processor_latency_seconds',
          help: 'Input record timestamp to transaction commit of its outputs (a follow-up record carries the timestamp of the record that caused it)',
          labelNames: ['processor'],
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers,
        }),
    ),
    batchSize: metric(
      registry,
      'paystream_processor_batch_size',
      () =>
        new Histogram({
          name: 'paystream_processor_batch_size',
          help: 'Input records per transaction',
          labelNames: ['processor'],
          buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2000],
          registers,
        }),
    ),
    commitTime: metric(
      registry,
      'paystream_processor_commit_seconds',
      () =>
        new Histogram({
          name: 'paystream_processor_commit_seconds',
          help: 'Time to process a batch, send its outputs and offsets and commit its transaction (committed ones)',
          labelNames: ['processor'],
          buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
          registers,
        }),
    ),
    phaseTime: metric(
      registry,
      'paystream_processor_transaction_phase_seconds',
      () =>
        new Histogram({
          name: 'paystream_processor_transaction_phase_seconds',
          help:
            'A committed transaction split in three: process (decode, the pure processor, encode outputs: CPU in this ' +
            'process), send (records and offsets until the broker acknowledged them) and commit (EndTxn)',
          labelNames: ['processor', 'phase'],
          buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
          registers,
        }),
    ),
    deadLettered: metric(
      registry,
      'paystream_dlq_records_total',
      () =>
        new Counter({
          name: 'paystream_dlq_records_total',
          help: 'Records sent to a dead-letter topic, by source topic and error code',
          labelNames: ['processor', 'topic', 'code'],
          registers,
        }),
    ),
    restoreTime: metric(
      registry,
      'paystream_processor_restore_seconds',
      () =>
        new Histogram({
          name: 'paystream_processor_restore_seconds',
          help: 'Time to fence, restore state and fetch offsets after an assignment',
          labelNames: ['processor'],
          buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
          registers,
        }),
    ),
    lag: metric(
      registry,
      'paystream_processor_lag',
      () =>
        new Gauge({
          name: 'paystream_processor_lag',
          help: 'Records behind the high watermark, per input partition',
          labelNames: ['processor', 'partition'],
          registers,
        }),
    ),
    storeEntries: metric(
      registry,
      'paystream_processor_store_entries',
      () =>
        new Gauge({
          name: 'paystream_processor_store_entries',
          help: 'Entries held in memory by a store with a retention, per input partition',
          labelNames: ['processor', 'store', 'partition'],
          registers,
        }),
    ),
    evicted: metric(
      registry,
      'paystream_processor_store_evicted_total',
      () =>
        new Counter({
          name: 'paystream_processor_store_evicted_total',
          help: 'Store entries dropped by the store retention after a commit (a restore leaves the old ones out)',
          labelNames: ['processor', 'store'],
          registers,
        }),
    ),
    aborts: metric(
      registry,
      'paystream_processor_aborts_total',
      () =>
        new Counter({
          name: 'paystream_processor_aborts_total',
          help: 'Transactions aborted (state rolled back, input re-read)',
          labelNames: ['processor', 'reason'],
          registers,
        }),
    ),
  };
}
