import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import {
  listScrapeTargets,
  processStartedAt,
  registerScrapeTarget,
  targetProcessRuns,
} from '../../../../services/platform/src/service/scrape-targets';

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

  it('a file whose pid is now a process started after it was written is stale too', () => {
    // The pid's process started when /proc says: checked against this process's own start, to within /proc's
    // boot time in whole seconds.
    const own = processStartedAt(process.pid);
    expect(own).toBeDefined();
    expect(Math.abs(own! - performance.timeOrigin)).toBeLessThan(1_500);

    // A process that runs, and a file naming its pid written an hour before it started: the pid is the file's
    // writer's no more (a service killed outright, its pid since given to another process).
    const reused = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const pid = reused.pid!;
      const name = `ledger-${pid}.json`;
      writeFileSync(
        path.join(dir, name),
        JSON.stringify([{ targets: ['127.0.0.1:1'], labels: { service: 'ledger' } }]),
      );
      const hourAgo = new Date(Date.now() - 3_600_000);
      utimesSync(path.join(dir, name), hourAgo, hourAgo);
      const [listed] = listScrapeTargets(dir).filter((t) => t.pid === pid);
      expect(Math.abs(listed!.writtenAt - hourAgo.getTime())).toBeLessThan(1);
      expect(targetProcessRuns(listed!)).toBe(false);
      // Written after it started: its own.
      expect(targetProcessRuns({ pid, writtenAt: Date.now() })).toBe(true);

      const target = registerScrapeTarget(dir, 'gateway', '127.0.0.1', 9466);
      expect(readdirSync(dir)).not.toContain(name);
      target?.remove();
    } finally {
      reused.kill();
    }
  });
});
