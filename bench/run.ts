import { spawnSync } from 'node:child_process';

import { SERVICE_NODE_FLAGS } from '../services/platform/src/service/node-flags';
import { BenchSettingError } from './bench-env';

/**
 * `npm run bench -- [suite…]`: runs the named suites (all when none) against the running stack. Each suite's module
 * reads its `BENCH_*` settings when loaded: every suite asked for is loaded before the first runs, so a bad setting
 * stops the run before anything is measured.
 */
const SUITES: Record<string, () => Promise<() => Promise<void>>> = {
  ledger: async () => (await import('./ledger-bench.js')).ledgerBench,
  sink: async () => (await import('./sink-bench.js')).sinkBench,
  api: async () => (await import('./api-bench.js')).apiBench,
};

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = asked.filter((a) => !(a in SUITES));
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${Object.keys(SUITES).join(', ')}`);
    process.exitCode = 2;
    return;
  }
  const suites: (() => Promise<void>)[] = [];
  for (const name of asked.length > 0 ? asked : Object.keys(SUITES)) {
    const load = SUITES[name];
    if (load) suites.push(await load());
  }
  for (const suite of suites) await suite();
}

/** Suites that run a service in this process measure it with the flags the services run with. */
function reexecWithServiceFlags(): boolean {
  const missing = SERVICE_NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
  if (missing.length === 0) return false;
  const r = spawnSync(process.execPath, [...process.execArgv, ...missing, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}

if (!reexecWithServiceFlags())
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (err: unknown) => {
      console.error(err instanceof BenchSettingError ? err.message : err);
      process.exit(err instanceof BenchSettingError ? 2 : 1);
    },
  );
