import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import {
  listScrapeTargets,
  processStartTicks,
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

  it('a file whose pid is now another process than the one that wrote it is stale too', () => {
    // A service's file names when it started, as /proc tells (a later process, later).
    const target = registerScrapeTarget(dir, 'gateway', '127.0.0.1', 9466);
    const own = processStartTicks(process.pid);
    expect(own).toMatch(/^\d+$/);
    const written = JSON.parse(readFileSync(path.join(dir, `gateway-${process.pid}.json`), 'utf8')) as unknown;
    expect(written).toEqual([
      { targets: ['127.0.0.1:9466'], labels: { service: 'gateway', __paystream_process_start_ticks: own } },
    ]);
    expect(listScrapeTargets(dir).find((t) => t.service === 'gateway')?.startTicks).toBe(own);
    target?.remove();

    // A process that runs, and a file naming its pid but another start: the pid is the file's writer's no more (a
    // service killed outright, its pid since given to another process).
    const reused = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const pid = reused.pid!;
      const started = processStartTicks(pid);
      expect(BigInt(started!)).toBeGreaterThanOrEqual(BigInt(own!));
      const file = (service: string, ticks?: string) => {
        const name = `${service}-${pid}.json`;
        const labels = { service, ...(ticks !== undefined ? { __paystream_process_start_ticks: ticks } : {}) };
        writeFileSync(path.join(dir, name), JSON.stringify([{ targets: ['127.0.0.1:1'], labels }]));
        return name;
      };
      const other = file('ledger', `${BigInt(started!) - 1n}`);
      const same = file('sink', started);
      const unsaid = file('event-log'); // written by an earlier release: the pid alone
      const listed = (name: string) => listScrapeTargets(dir).find((t) => t.file === path.join(dir, name))!;
      expect(targetProcessRuns(listed(other))).toBe(false);
      expect(targetProcessRuns(listed(same))).toBe(true);
      expect(targetProcessRuns(listed(unsaid))).toBe(true);

      const next = registerScrapeTarget(dir, 'gateway', '127.0.0.1', 9466);
      expect(readdirSync(dir)).not.toContain(other);
      expect(readdirSync(dir)).toEqual(expect.arrayContaining([same, unsaid]));
      next?.remove();
      rmSync(path.join(dir, same));
      rmSync(path.join(dir, unsaid));
    } finally {
      reused.kill();
    }
  });

  it('a service starting removes files half written by processes that died writing them', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'paystream-targets-'));
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    const reused = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const pid = reused.pid!;
      const started = processStartTicks(pid)!;
      const write = (name: string, text: string) => {
        writeFileSync(path.join(dir, name), text);
        return name;
      };
      const labelled = (ticks: string) =>
        JSON.stringify([
          { targets: ['127.0.0.1:1'], labels: { service: 'sink', __paystream_process_start_ticks: ticks } },
        ]);
      const cut = write(`ledger-${gone}.json.tmp`, ''); // created, never written
      const reusedPid = write(`sink-${pid}.json.tmp`, labelled(`${BigInt(started) - 1n}`));
      const writing = write(`gateway-${pid}.json.tmp`, labelled(started)); // a service starting now
      const partial = write(`event-log-${pid}.json.tmp`, '[{"targets":'); // its writer runs: cannot tell, kept
      const other = write(`notes-${gone}.txt`, 'not a target file');

      const target = registerScrapeTarget(dir, 'gateway', '127.0.0.1', 9466);
      expect(readdirSync(dir).sort()).toEqual([`gateway-${process.pid}.json`, writing, partial, other].sort());
      expect(readdirSync(dir)).not.toContain(cut);
      expect(readdirSync(dir)).not.toContain(reusedPid);
      target?.remove();
    } finally {
      reused.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
