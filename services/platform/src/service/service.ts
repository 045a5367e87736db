import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';

import type { PlatformConfig } from '../config';
import type { EventSchemas } from '../events/event-schemas';
import type { Logger } from '../logger';

/** Everything a service gets from the process that runs it; nothing is imported globally. */
export interface ServiceDeps {
  config: PlatformConfig;
  logger: Logger;
  metrics: Registry;
  kafka: Kafka;
  schemas: EventSchemas;
  /** Service-specific arguments from `paystream run <service> [args…]`. */
  args: readonly string[];
}

export interface RunningService {
  /** Ready to take traffic (answers /readyz). */
  ready(): boolean;
  /** Graceful stop: finish or abort in-flight work, leave consumer groups, close connections. */
  stop(): Promise<void>;
}

export interface ServiceDefinition {
  name: string;
  description: string;
  start(deps: ServiceDeps): Promise<RunningService>;
}
