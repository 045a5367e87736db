import { randomBytes } from 'node:crypto';

import type { Kafka } from 'kafkajs';

import { loadConfig } from '../../services/platform/src/config';
import type { PlatformConfig } from '../../services/platform/src/config';
import { dlqTopic } from '../../services/platform/src/events/dead-letter';
import { EventSchemas } from '../../services/platform/src/events/event-schemas';
import { createKafka } from '../../services/platform/src/events/kafka-client';
import { silentLogger } from '../../services/platform/src/logger';
import { SchemaCatalogue } from '../../services/platform/src/schemas/schema-catalogue';
import { createTopics, deleteTopics, planTopics } from '../../services/platform/src/topics/topic-admin';

/**
 * An isolated slice of the real stack for one test file: its own topic prefix (so its own topics, consumer groups
 * and schema subjects), created on demand and deleted afterwards.
 */
export interface IntegrationEnv {
  config: PlatformConfig;
  prefix: string;
  kafka: Kafka;
  catalogue: SchemaCatalogue;
  schemas: EventSchemas;
  /** Creates the catalogue topics (and DLQs) under the prefix and registers their schemas. */
  provision(topics?: readonly string[]): Promise<void>;
  group(name: string): string;
  cleanup(): Promise<void>;
}

/** `overrides`: environment variables that differ from this process's (a broker of the test's own, say). */
export function integrationEnv(label: string, overrides: Record<string, string> = {}): IntegrationEnv {
  const config = loadConfig({ ...process.env, ...overrides });
  const prefix = `t-${label}-${randomBytes(4).toString('hex')}.`;
  const kafka = createKafka({ brokers: config.kafka.brokers, clientId: `test-${label}`, logger: silentLogger });
  const catalogue = SchemaCatalogue.load();
  const schemas = EventSchemas.connect(config.schemaRegistry.url, catalogue, prefix);
  const created: string[] = [];
  const subjects: string[] = [];
  return {
    config,
    prefix,
    kafka,
    catalogue,
    schemas,
    async provision(topics = catalogue.topics.map((t) => t.name)) {
      const specs = topics.map((t) => catalogue.topic(t));
      const plans = planTopics(specs, prefix);
      await createTopics(kafka, plans);
      created.push(...plans.map((p) => p.name));
      for (const spec of specs) subjects.push((await schemas.register(spec)).subject);
    },
    group: (name) => `${prefix}${name}`,
    async cleanup() {
      await deleteTopics(kafka, created);
      for (const subject of subjects) {
        const base = `${config.schemaRegistry.url}/subjects/${encodeURIComponent(subject)}`;
        await fetch(base, { method: 'DELETE' }).catch(() => undefined);
        await fetch(`${base}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
      }
    },
  };
}

export { dlqTopic };

/** Polls `check` until it returns a value or the time is up. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
