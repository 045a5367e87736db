import {
  databasePool,
  operatorPoolOptions,
  servicePoolOptions,
  withDatabasePool,
} from '../../../../services/platform/src/db/database-pool';
import type { RunningService, ServiceDefinition } from '../../../../services/platform/src/service/service';
import { migrate } from '../adapters/migrations';
import { CopySink } from './copy-sink';
import { mappingsFor } from './sink-mappings';

/** The sink's consumer group: replay and rebuild reset this group. */
export const sinkGroupId = (topicPrefix: string) => `${topicPrefix}paystream.sink`;

/**
 * `sink`: applies pending migrations, then writes every mapped topic into its read-model tables.
 * Args: `--domain <d>` to sink one domain's mappings only.
 */
export const sinkService: ServiceDefinition = {
  name: 'sink',
  description: 'Postgres COPY sink: topics → read-model tables (migrations applied first)',
  async start({ kafka, schemas, logger, metrics, config, args }): Promise<RunningService> {
    const i = args.indexOf('--domain');
    const mappings = mappingsFor(i >= 0 ? args[i + 1] : undefined);
    const report = await withDatabasePool(operatorPoolOptions(config.database, logger, 1), migrate);
    if (report.applied.length > 0) logger.info('migrations applied', { applied: report.applied });
    // A write that outlasts the statement deadline fails as DATABASE_UNAVAILABLE and is retried on a new connection.
    const pool = databasePool(servicePoolOptions(config.database, logger, 6));
    const sink = new CopySink({
      kafka,
      schemas,
      pool,
      logger,
      metrics,
      mappings,
      groupId: sinkGroupId(config.kafka.topicPrefix),
      sessionTimeoutMs: config.sink.sessionTimeoutMs,
    });
    await sink.start();
    return {
      ready: () => true,
      stop: async () => {
        await sink.stop();
        await pool.end();
      },
    };
  },
};
