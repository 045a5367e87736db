import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { runningServices } from '../../../services/cli/src/main';
import {
  listScrapeTargets,
  processStartTicks,
  scrapeTargetsDir,
} from '../../../services/platform/src/service/scrape-targets';

const run = promisify(execFile);
const CLI = path.join(__dirname, '../../../bin/paystream.js');

/** `paystream status`: the services running with the local stack, found by their target files, and their readiness. */
describe('paystream status', () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'paystream-status-'));
  const dir = scrapeTargetsDir(stateDir);
  const servers: Server[] = [];

  /** An ops endpoint whose /readyz answers `status`; its address. */
  async function opsEndpoint(status: number): Promise<string> {
    const server = createServer((req, res) => {
      res.writeHead(req.url === '/readyz' ? status : 404, { 'content-type': 'application/json' }).end('{}');
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  function target(service: string, pid: number, address: string): void {
    writeFileSync(
      path.join(dir, `${service}-${pid}.json`),
      JSON.stringify([{ targets: [address], labels: { service } }]),
    );
  }

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('shows each running service ready or not, and a file left by a process that is gone as stale', async () => {
    expect(await runningServices(dir)).toEqual({ lines: ['  none'], code: 0 });
    mkdirSync(dir, { recursive: true });
    // A pid no process has any more: a child that has exited.
    const gone = spawnSync(process.execPath, ['-e', 'process.pid']).pid;
    const ready = await opsEndpoint(200);
    target('ledger', process.pid, ready);
    target('sink', gone, await opsEndpoint(200));
    writeFileSync(path.join(dir, 'notes.txt'), 'not a target');
    writeFileSync(path.join(dir, 'gateway-1.json'), '{ broken');
    expect(listScrapeTargets(dir).map((t) => [t.service, t.pid])).toEqual([
      ['ledger', process.pid],
      ['sink', gone],
    ]);
    const healthy = await runningServices(dir);
    expect(healthy.code).toBe(0);
    expect(healthy.lines).toHaveLength(2);
    expect(healthy.lines[0]).toMatch(new RegExp(`^  ledger +pid ${process.pid} +${ready} +ready$`));
    expect(healthy.lines[1]).toMatch(new RegExp(`^  sink +pid ${gone} .* stale `));

    // One starting (503) and one that does not answer at all: both not ready, and the status fails.
    target('gateway', process.pid, await opsEndpoint(503));
    const closed = await opsEndpoint(200);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    target('event-log', process.pid, closed);
    const unhealthy = await runningServices(dir);
    expect(unhealthy.code).toBe(1);
    expect(unhealthy.lines.find((l) => l.includes('gateway'))).toContain('not ready   /readyz answers 503');
    expect(unhealthy.lines.find((l) => l.includes('event-log'))).toContain('not ready   no answer from /readyz');

    // The command prints them under the stack's health.
    const out = await run('node', [CLI, 'status'], { env: { ...process.env, PAYSTREAM_STATE_DIR: stateDir } }).catch(
      (err: { stdout: string; code: number }) => err,
    );
    expect(out.stdout).toContain(`running services (target files in ${path.relative(process.cwd(), dir)}):`);
    expect(out.stdout).toMatch(new RegExp(`ledger +pid ${process.pid} +${ready} +ready`));
    expect(out.stdout).toContain('/readyz answers 503');
    expect(out.stdout).toContain('services this command can run');
    expect((out as { code?: number }).code).toBe(1);
  });

  it('shows a file whose pid is now another process than the one that wrote it as stale', async () => {
    const other = mkdtempSync(path.join(tmpdir(), 'paystream-status-reused-'));
    const reused = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      // Its writer started a tick before this process did.
      const labels = {
        service: 'sink',
        __paystream_process_start_ticks: `${BigInt(processStartTicks(reused.pid!)!) - 1n}`,
      };
      writeFileSync(
        path.join(other, `sink-${reused.pid}.json`),
        JSON.stringify([{ targets: [await opsEndpoint(200)], labels }]),
      );
      const status = await runningServices(other);
      expect(status.code).toBe(0);
      expect(status.lines).toEqual([expect.stringMatching(new RegExp(`^  sink +pid ${reused.pid} .* stale `))]);
    } finally {
      reused.kill();
      rmSync(other, { recursive: true, force: true });
    }
  });
});
