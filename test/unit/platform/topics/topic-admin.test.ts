import type { TopicSpec } from '../../../../services/platform/src/schemas/schema-catalogue';
import { planTopics } from '../../../../services/platform/src/topics/topic-admin';

describe('planTopics', () => {
  const specs: TopicSpec[] = [
    { name: 'a', partitions: 6, cleanupPolicy: 'delete', retentionMs: -1, key: 'k', value: 'x.A', dlq: true },
    { name: 'b', partitions: 3, cleanupPolicy: 'compact', retentionMs: -1, key: 'k', value: 'x.B', dlq: false },
  ];

  it('plans each topic with its cleanup policy and retention, plus the dead-letter topics', () => {
    expect(planTopics(specs, 'p.')).toEqual([
      { name: 'p.a', partitions: 6, configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1' } },
      { name: 'p.a.dlq', partitions: 1, configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1' } },
      {
        name: 'p.b',
        partitions: 3,
        configs: { 'cleanup.policy': 'compact', 'retention.ms': '-1', 'min.compaction.lag.ms': '0' },
      },
    ]);
  });
});
