import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { defaultSchemasDir } from '../services/platform/src/schemas/schema-catalogue';

/** One benchmark result in the format of SPEC §6, written to bench/results/<suite>.json. */
export interface BenchResult {
  suite: string;
  metric: string;
  unit: string;
  value: number;
  baseline: { name: string; value: number };
  ratio_vs_baseline: number;
  ceiling: { name: string; value: number } | null;
  ratio_vs_ceiling: number | null;
  params: Record<string, unknown>;
  machine: string;
  date: string;
}

export const RESULTS_DIR = path.resolve(defaultSchemasDir(), '..', 'bench', 'results');

export function machine(): string {
  return `${os.cpus().length} cores, ${os.cpus()[0]?.model.trim() ?? 'unknown cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`;
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

export function writeResult(
  result: Omit<BenchResult, 'ratio_vs_baseline' | 'ratio_vs_ceiling' | 'machine' | 'date'>,
): BenchResult {
  const full: BenchResult = {
    ...result,
    value: round(result.value, 1),
    ratio_vs_baseline: round(result.value / result.baseline.value),
    ratio_vs_ceiling: result.ceiling ? round(result.value / result.ceiling.value) : null,
    machine: machine(),
    date: new Date().toISOString(),
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path.join(RESULTS_DIR, `${result.suite}.json`), `${JSON.stringify(full, null, 2)}\n`);
  writeIndex();
  return full;
}

/** bench/results/README.md: a table of every suite's latest result. */
export function writeIndex(): void {
  const rows = readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(RESULTS_DIR, f), 'utf8')) as BenchResult);
  const lines = [
    '# Benchmark results',
    '',
    'Written by `npm run bench`; each row is the latest run of a suite (`bench/results/<suite>.json`). Ratios are',
    'measured in the same run against the baseline and the ceiling named.',
    '',
    '| suite | metric | value | baseline | × baseline | ceiling | × ceiling | machine | date |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.suite} | ${r.metric} | ${r.value} ${r.unit} | ${r.baseline.name}: ${r.baseline.value} | ${r.ratio_vs_baseline} | ${
          r.ceiling ? `${r.ceiling.name}: ${r.ceiling.value}` : '–'
        } | ${r.ratio_vs_ceiling ?? '–'} | ${r.machine} | ${r.date} |`,
    ),
    '',
  ];
  writeFileSync(path.join(RESULTS_DIR, 'README.md'), lines.join('\n'));
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}
