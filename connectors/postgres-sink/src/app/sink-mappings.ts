import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { PaystreamError } from '../../../../services/platform/src/errors';
import { defaultSchemasDir } from '../../../../services/platform/src/schemas/schema-catalogue';
import type { TableMapping } from '../domain/table-mapping';
import { checkMappings } from '../domain/table-mapping';

export const MAPPINGS_DIR = path.resolve(defaultSchemasDir(), '..', 'connectors', 'postgres-sink', 'mappings');

export interface DomainMappings {
  domain: string;
  mappings: TableMapping[];
}

/** Every `mappings/<domain>.json`, checked. */
export function loadMappings(dir = MAPPINGS_DIR): DomainMappings[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const raw = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as DomainMappings;
      try {
        return { domain: raw.domain, mappings: checkMappings(raw.mappings) };
      } catch (err) {
        throw new PaystreamError('CONFIG_INVALID', `${f}: ${(err as Error).message}`);
      }
    });
}

export function mappingsFor(domain: string | undefined, all = loadMappings()): TableMapping[] {
  if (domain === undefined) return all.flatMap((d) => d.mappings);
  const found = all.find((d) => d.domain === domain);
  if (!found)
    throw new PaystreamError(
      'VALIDATION_FAILED',
      `unknown domain ${domain}; known: ${all.map((d) => d.domain).join(', ')}`,
    );
  return found.mappings;
}
