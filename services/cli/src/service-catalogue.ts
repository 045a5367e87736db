import { sinkService } from '../../../connectors/postgres-sink/src/app/sink-service';
import { gatewayService } from '../../gateway/src/app/gateway';
import { ledgerService } from '../../ledger/src/app/ledger-service';
import { eventLogService } from '../../platform/src/service/event-log-service';
import type { ServiceDefinition } from '../../platform/src/service/service';

/** Every service `paystream run <service>` can start. */
export const SERVICES: readonly ServiceDefinition[] = [ledgerService, sinkService, gatewayService, eventLogService];
