import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { loadConfig } from '../../../services/platform/src/config';
import { queriedMetrics, registeredMetrics } from '../../support/registered-metrics';

const run = promisify(execFile);
const RULES = path.join(__dirname, '../../../infra/prometheus/alerts.yml');
const CASES = path.join(__dirname, 'alerts.promtest.yml');

/**
 * The alerting rules with Prometheus' own tools: promtool checks them and runs their cases (alerts.promtest.yml:
 * synthetic series, the alerts that must fire with their labels and annotations, and none where none must), and the
 * running Prometheus (the local stack's, which stack.sh gives the same rules) has loaded and evaluated every one.
 */
describe('Prometheus alerting rules', () => {
  const text = readFileSync(RULES, 'utf8');
  const alerts = [...text.matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1] ?? '');

  it('has alerts for dead letters, failing partitions, missing services and a lagging pipeline', () => {
    expect(alerts).toEqual(
      expect.arrayContaining([
        'PaystreamDeadLetters',
        'PaystreamReadModelDeadLetters',
        'PaystreamPartitionFailing',
        'PaystreamServiceMissing',
        'PaystreamTargetDown',
        'PaystreamProcessorLagging',
        'PaystreamSinkBehind',
      ]),
    );
    expect(new Set(alerts).size).toBe(alerts.length);
  });

  it('names only metrics that the services register', () => {
    const registered = registeredMetrics();
    const named = queriedMetrics(text);
    expect(named.length).toBeGreaterThan(alerts.length);
    expect([...new Set(named)].filter((m) => !registered.has(m))).toEqual([]);
  });

  it('every alert has a severity, a summary and a description', () => {
    const blocks = text.split(/^\s*- alert: /m).slice(1);
    expect(blocks).toHaveLength(alerts.length);
    for (const block of blocks) {
      expect(block).toMatch(/\n\s+severity: (page|warning)\n/);
      expect(block).toMatch(/\n\s+summary: \S/);
      expect(block).toMatch(/\n\s+description: \S/);
    }
  });

  it('promtool accepts the rules and their cases pass', async () => {
    const check = await run('promtool', ['check', 'rules', RULES]).catch((e: { stdout?: string; stderr?: string }) => {
      throw new Error(`promtool check rules failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    });
    expect(check.stdout).toContain(`SUCCESS: ${alerts.length} rules found`);
    const cases = await run('promtool', ['test', 'rules', CASES]).catch((e: { stdout?: string; stderr?: string }) => {
      throw new Error(`promtool test rules failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    });
    expect(cases.stdout).toContain('SUCCESS');
    // Every alert has a case that makes it fire.
    const cased = readFileSync(CASES, 'utf8');
    for (const alert of alerts)
      expect(cased).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
  });

  it('the running Prometheus has loaded every rule and evaluates it without error', async () => {
    const prometheus = loadConfig(process.env).prometheusUrl;
    type Rule = { name: string; type: string; health: string; lastError?: string };
    let rules: Rule[] = [];
    // A rule is "unknown" until its first evaluation (every 5 s) after a start or a reload.
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${prometheus}/api/v1/rules?type=alert`);
      const body = (await res.json()) as { data: { groups: { rules: Rule[] }[] } };
      rules = body.data.groups.flatMap((g) => g.rules);
      if (rules.length > 0 && rules.every((r) => r.health !== 'unknown')) break;
      await sleep(500);
    }
    expect(rules.map((r) => r.name).sort()).toEqual([...alerts].sort());
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
  });
});
