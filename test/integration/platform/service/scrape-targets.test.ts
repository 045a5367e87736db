import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { listScrapeTargets, registerScrapeTarget } from '../../../../services/platform/src/service/scrape-targets';

/** The target files services write for the local Prometheus, which `paystream status` reads. */
describe('scrape target files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'paystream-targets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a service starting removes the files of processes that are gone, and its own when it stops', () => {
    // A pid no process has any more: a child that has exited (killed outright, it never removed its file).
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    const file = (service: string, pid: number) => {
      writeFileSync(
        path.join(dir, `${service}-${pid}.json`),
        JSON.stringify([{ targets: ['127.0.0.1:1'], labels: { service } }]),
      );
      return `${service}-${pid}.json`;
    };
    const stale = file('ledger', gone);
    const alive = file('sink', process.pid);
    expect(readdirSync(dir).sort()).toEqual([stale, alive].sort());

    const target = registerScrapeTarget(dir, 'gateway', '127.0.0.1', 9466);
    expect(readdirSync(dir).sort()).toEqual([`gateway-${process.pid}.json`, alive].sort());
    expect(listScrapeTargets(dir).find((t) => t.service === 'gateway')).toMatchObject({
      pid: process.pid,
      address: '127.0.0.1:9466',
    });
    target?.remove();
    expect(readdirSync(dir)).toEqual([alive]);
  });
});
