import { eventLogService } from './event-log-service';
import type { ServiceDefinition } from './service';

/** Every service `paystream run <service>` can start; later services register here. */
export const SERVICES: readonly ServiceDefinition[] = [eventLogService];
