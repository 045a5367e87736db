import { collectDefaultMetrics, Registry } from 'prom-client';

import type { PlatformConfig } from '../config';
import { toPaystreamError } from '../errors';
import { EventSchemas } from '../events/event-schemas';
import { createKafka } from '../events/kafka-client';
import type { Logger } from '../logger';
import { SchemaCatalogue } from '../schemas/schema-catalogue';
import { startOpsServer } from './ops-server';
import { registerScrapeTarget } from './scrape-targets';
import type { ServiceDefinition } from './service';

/**
 * Runs one service in the foreground until SIGTERM or SIGINT: ops endpoint first (so /healthz answers during
 * start-up), then the service; on a signal, the service's graceful stop gets `shutdownTimeoutMs`, after which the
 * process exits non-zero. A signal that comes during start-up resolves at once with 143 (SIGTERM) or 130 (SIGINT),
 * the scrape target removed; the caller exits the process, abandoning the start (nothing was processed yet).
 * Resolves with the exit code.
 */
export async function runService(
  definition: ServiceDefinition,
  config: PlatformConfig,
  logger: Logger,
  args: readonly string[],
  options: { prometheusTargetsDir?: string } = {},
): Promise<number> {
  const log = logger.child({ service: definition.name });
  const metrics = new Registry();
  metrics.setDefaultLabels({ service: definition.name });
  collectDefaultMetrics({ register: metrics });
  const kafka = createKafka({
    brokers: config.kafka.brokers,
    clientId: `${config.kafka.clientId}-${definition.name}`,
    logger: log,
  });
  const schemas = EventSchemas.connect(config.schemaRegistry.url, SchemaCatalogue.load(), config.kafka.topicPrefix);
  let running: { ready(): boolean; stop(): Promise<void> } | undefined = undefined;
  const ops = await startOpsServer({
    host: config.metrics.host,
    port: config.metrics.port,
    metrics,
    ready: () => running?.ready() ?? false,
  });
  log.info('ops endpoint listening', { port: ops.port, paths: ['/metrics', '/healthz', '/readyz'] });
  // Listened for from here on, before the scrape target exists: a signal during start-up ends the start (the caller
  // exits the process) instead of killing the process by the signal's default action, which left the target behind.
  // The target file is visible the moment it is created, so a stop sent on seeing it could otherwise arrive before
  // the handlers (a CI run saw the process ended by the default action, exit code null instead of 143).
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const target = registerScrapeTarget(options.prometheusTargetsDir, definition.name, config.metrics.host, ops.port);
  const started = definition.start({ config, logger: log, metrics, kafka, schemas, args }).then(
    (service) => ({ service }),
    (err: unknown) => ({ err }),
  );
  const first = await Promise.race([started, signalled.then((signal) => ({ signal }))]);
  if ('signal' in first) {
    log.warn('stopped during start-up', { signal: first.signal });
    await ops.close();
    target?.remove();
    return first.signal === 'SIGINT' ? 130 : 143;
  }
  if ('err' in first) {
    log.error('service failed to start', { error: toPaystreamError(first.err) });
    await ops.close();
    target?.remove();
    return 1;
  }
  running = first.service;
  log.info('service started', { description: definition.description });
  const signal = await signalled;
  log.info('stopping', { signal });
  const stopped = running.stop().then(
    () => true,
    (err: unknown) => {
      log.error('graceful stop failed', { error: toPaystreamError(err) });
      return false;
    },
  );
  const timer = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), config.shutdownTimeoutMs).unref());
  const clean = await Promise.race([stopped, timer]);
  await ops.close();
  target?.remove();
  // A stop cut short by the deadline is worth an operator's look: whatever was still in flight ended with the process.
  if (clean) log.info('stopped', { clean });
  else log.warn('stopped', { clean, shutdownTimeoutMs: config.shutdownTimeoutMs });
  return clean ? 0 : 1;
}
