import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { dlqTopic } from '../../../services/platform/src/events/dead-letter';
import { integrationEnv } from '../../support/integration-env';
import { deleteTopics, planTopics } from '../../../services/platform/src/topics/topic-admin';

const run = promisify(execFile);
const CLI = path.join(__dirname, '../../../bin/paystream.js');

describe('paystream topics create / schemas register', () => {
  const env = integrationEnv('cli');
  afterAll(async () => {
    await deleteTopics(
      env.kafka,
      planTopics(env.catalogue.topics, env.prefix).map((p) => p.name),
    );
    await env.cleanup();
  });

  it('creates every catalogue topic with its configuration, and a second run changes nothing', async () => {
    const first = await run('node', [CLI, 'topics', 'create', '--prefix', env.prefix]);
    const planned = planTopics(env.catalogue.topics, env.prefix);
    expect(first.stdout).toContain(`${planned.length} created, 0 already existed`);
    const second = await run('node', [CLI, 'topics', 'create', '--prefix', env.prefix]);
    expect(second.stdout).toContain(`0 created, ${planned.length} already existed`);

    const admin = env.kafka.admin();
    await admin.connect();
    try {
      const balances = `${env.prefix}ledger.balances`;
      const meta = await admin.fetchTopicMetadata({ topics: [balances, `${env.prefix}ledger.commands`] });
      expect(meta.topics.find((t) => t.name === balances)?.partitions).toHaveLength(6);
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2, name: balances, configNames: ['cleanup.policy'] }],
      });
      expect(configs.resources[0]?.configEntries[0]?.configValue).toBe('compact');
      expect(await admin.listTopics()).toContain(dlqTopic(`${env.prefix}ledger.commands`));
    } finally {
      await admin.disconnect();
    }
  });

  it('registers every subject under TopicNameStrategy, idempotently', async () => {
    const first = await run('node', [CLI, 'schemas', 'register', '--prefix', env.prefix]);
    const second = await run('node', [CLI, 'schemas', 'register', '--prefix', env.prefix]);
    expect(second.stdout).toBe(first.stdout);
    for (const t of env.catalogue.topics)
      expect(first.stdout).toContain(`registered ${env.prefix}${t.name}-value -> id`);
    const subjects = (await (await fetch(`${env.config.schemaRegistry.url}/subjects`)).json()) as string[];
    for (const t of env.catalogue.topics) expect(subjects).toContain(`${env.prefix}${t.name}-value`);
    for (const t of env.catalogue.topics) {
      await fetch(`${env.config.schemaRegistry.url}/subjects/${env.prefix}${t.name}-value`, { method: 'DELETE' });
      await fetch(`${env.config.schemaRegistry.url}/subjects/${env.prefix}${t.name}-value?permanent=true`, {
        method: 'DELETE',
      });
    }
  });

  it('fails fast naming a bad configuration variable', async () => {
    const err = await run('node', [CLI, 'topics', 'create'], {
      env: { ...process.env, KAFKA_BROKERS: 'no port here' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 1 });
    expect((err as { stderr: string }).stderr).toContain('CONFIG_INVALID');
    expect((err as { stderr: string }).stderr).toContain('KAFKA_BROKERS');
  });
});
