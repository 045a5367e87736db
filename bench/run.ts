import { spawnSync } from 'node:child_process';

import { SERVICE_NODE_FLAGS } from '../services/platform/src/service/node-flags';
import { apiBench } from './api-bench';
import { ledgerBench } from './ledger-bench';
import { sinkBench } from './sink-bench';

/** `npm run bench -- [suite…]`: runs the named suites (all when none) against the running stack. */
const SUITES: Record<string, () => Promise<void>> = { ledger: ledgerBench, sink: sinkBench, api: apiBench };

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = asked.filter((a) => !(a in SUITES));
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${Object.keys(SUITES).join(', ')}`);
    process.exitCode = 2;
    return;
  }
  for (const name of asked.length > 0 ? asked : Object.keys(SUITES)) {
    const suite = SUITES[name];
    if (suite) await suite();
  }
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
      console.error(err);
      process.exit(1);
    },
  );
