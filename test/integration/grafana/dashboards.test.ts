import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { loadConfig } from '../../../services/platform/src/config';
import { queriedMetrics, registeredMetrics } from '../../support/registered-metrics';

/** Grafana has no package here: every panel's query is run against the real Prometheus instead, which must accept it. */
describe('Grafana dashboards', () => {
  const dir = path.join(__dirname, '../../../grafana/dashboards');
  const prometheus = loadConfig(process.env).prometheusUrl;
  const panels = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => {
      const d = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as {
        panels: { title: string; targets: { expr: string }[] }[];
      };
      return d.panels.flatMap((p) => p.targets.map((t) => [`${f}: ${p.title}`, t.expr] as const));
    });

  it('has panels', () => {
    expect(panels.length).toBeGreaterThan(5);
  });

  // Prometheus accepts a query on a metric nobody exports (the panel stays empty), so each name is checked against
  // the metrics the services register: a typo, or a metric renamed in the code, fails here.
  it('queries only metrics that the services register', () => {
    const registered = registeredMetrics();
    expect(registered.size).toBeGreaterThan(20);
    const queried = panels.flatMap(([panel, expr]) => queriedMetrics(expr).map((metric) => ({ panel, metric })));
    expect(queried.filter((q) => !registered.has(q.metric))).toEqual([]);
    // Every counter of dead-lettered records is on the dashboard (the sink's has a name of its own).
    expect(queried.map((q) => q.metric)).toEqual(
      expect.arrayContaining(['paystream_dlq_records_total', 'paystream_sink_dead_letters_total']),
    );
  });

  it.each(panels)('%s: Prometheus accepts the query', async (_title, expr) => {
    const res = await fetch(`${prometheus}/api/v1/query?${new URLSearchParams({ query: expr }).toString()}`);
    const body = (await res.json()) as { status: string; error?: string };
    expect(body).toMatchObject({ status: 'success' });
  });
});
