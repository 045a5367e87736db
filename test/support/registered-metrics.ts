import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const REPO = path.join(__dirname, '../..');

/**
 * The names of the Prometheus metrics the services and connectors register (`name: 'paystream_…'` in their sources).
 * Prometheus accepts a query on a metric nobody exports (a panel stays empty, an alert never fires), so dashboards
 * and alert rules are checked against this.
 */
export function registeredMetrics(): Set<string> {
  return new Set(
    sourceFiles(['services', 'connectors']).flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/name: '(paystream_[a-z_]+)'/g)].map((m) => m[1] ?? ''),
    ),
  );
}

/** The paystream metrics a PromQL text names, a histogram's `_bucket`, `_sum` and `_count` series as the histogram. */
export function queriedMetrics(promql: string): string[] {
  return [...promql.matchAll(/\b(paystream_[a-z_]+)/g)].map((m) => (m[1] ?? '').replace(/_(bucket|sum|count)$/, ''));
}

/** The TypeScript files under `roots` (relative to the repository), node_modules left out. */
function sourceFiles(roots: string[]): string[] {
  return roots.flatMap((root) =>
    readdirSync(path.join(REPO, root), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.split(path.sep).includes('node_modules'))
      .map((f) => path.join(REPO, root, f)),
  );
}
