import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { loadConfig } from '../../../services/platform/src/config';

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

  it.each(panels)('%s: Prometheus accepts the query', async (_title, expr) => {
    const res = await fetch(`${prometheus}/api/v1/query?${new URLSearchParams({ query: expr }).toString()}`);
    const body = (await res.json()) as { status: string; error?: string };
    expect(body).toMatchObject({ status: 'success' });
  });
});
