import type { Kafka } from 'kafkajs';

import { PaystreamError } from '../errors';
import { dlqTopic } from '../events/dead-letter';
import type { TopicSpec } from '../schemas/schema-catalogue';

export interface TopicPlan {
  name: string;
  partitions: number;
  configs: Record<string, string>;
}

/** The physical topics a catalogue entry needs: the topic itself and, when asked for, its dead-letter topic. */
export function planTopics(specs: readonly TopicSpec[], prefix = ''): TopicPlan[] {
  const plans: TopicPlan[] = [];
  for (const t of specs) {
    const name = `${prefix}${t.name}`;
    const configs: Record<string, string> = {
      'cleanup.policy': t.cleanupPolicy,
      'retention.ms': String(t.retentionMs),
    };
    if (t.cleanupPolicy === 'compact') configs['min.compaction.lag.ms'] = '0';
    plans.push({ name, partitions: t.partitions, configs });
    // Dead letters are kept forever: each is a record somebody must look at or redrive.
    if (t.dlq)
      plans.push({
        name: dlqTopic(name),
        partitions: 1,
        configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1' },
      });
  }
  return plans;
}

/**
 * Creates every planned topic that does not exist yet (idempotent). An existing topic with a different partition
 * count is reported as an error, never changed: adding partitions moves keys and breaks per-account ordering.
 */
export async function createTopics(
  kafka: Kafka,
  plans: readonly TopicPlan[],
): Promise<{ created: string[]; existing: string[] }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existingNames = new Set(await admin.listTopics());
    const missing = plans.filter((p) => !existingNames.has(p.name));
    const present = plans.filter((p) => existingNames.has(p.name));
    if (present.length > 0) {
      const meta = await admin.fetchTopicMetadata({ topics: present.map((p) => p.name) });
      for (const p of present) {
        const actual = meta.topics.find((t) => t.name === p.name)?.partitions.length;
        if (actual !== p.partitions) {
          throw new PaystreamError(
            'VALIDATION_FAILED',
            `topic ${p.name} has ${actual} partitions, the catalogue says ${p.partitions}; refusing to change it`,
          );
        }
      }
    }
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((p) => ({
          topic: p.name,
          numPartitions: p.partitions,
          replicationFactor: -1,
          configEntries: Object.entries(p.configs).map(([name, value]) => ({ name, value })),
        })),
      });
    }
    return { created: missing.map((p) => p.name), existing: present.map((p) => p.name) };
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(kafka: Kafka, names: readonly string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const doomed = names.filter((n) => existing.has(n));
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed });
  } finally {
    await admin.disconnect();
  }
}
