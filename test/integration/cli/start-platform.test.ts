import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

import { defaultSchemasDir } from '../../../services/platform/src/schemas/schema-catalogue';
import { eventually, integrationEnv } from '../../support/integration-env';
import { LEDGER_TOPICS, stopProcess } from '../../support/ledger-workload';
import { freePorts } from '../../support/free-ports';
import { testDatabase } from '../../support/sink-env';

const CLI = path.resolve(defaultSchemasDir(), '..', 'bin', 'paystream.js');

/** Whether a process with this pid exists (a zombie not yet reaped counts as gone only once reaped). */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * `paystream start` (what `npm start` runs) supervises one child process per service. From the moment the children
 * exist, a stop signal stops them all, and a child that dies stops the others: neither may leave a service running
 * without its supervisor, nor the supervisor waiting for ever.
 */
describe('paystream start: stopping during start-up', () => {
  const env = integrationEnv('cli-start');
  let db: Awaited<ReturnType<typeof testDatabase>>;
  beforeAll(async () => {
    await env.provision(LEDGER_TOPICS);
    db = await testDatabase('cli_start', env.config.database.url);
  });
  afterAll(async () => {
    await db.cleanup();
    await env.cleanup();
  });

  /**
   * Starts the platform on this file's topics and database (the stack is up already: `start` finds it ready); resolves
   * once it has started its three services, with their pids.
   */
  async function start(gateway: number, ...args: string[]) {
    return startOn(db.url, gateway, ...args);
  }

  /** `start` on the database at `databaseUrl`. */
  async function startOn(databaseUrl: string, gateway: number, ...args: string[]) {
    const output: string[] = [];
    const metrics = await freePorts(3);
    const child: ChildProcess = spawn('node', [CLI, 'start', ...args], {
      env: {
        ...process.env,
        PAYSTREAM_TOPIC_PREFIX: env.prefix,
        PAYSTREAM_METRICS_PORT: String(metrics),
        PAYSTREAM_GATEWAY_PORT: String(gateway),
        PAYSTREAM_LOG_LEVEL: 'warn',
        // The demo signs up two parties from this machine's address, on the gateways' default Redis prefix.
        PAYSTREAM_SIGNUPS_PER_ADDRESS_PER_HOUR: '0',
        // A service that finished starting just before the signal stops gracefully, within this bound; the stops
        // below wait longer than it (the default, 30 s, equals their wait).
        PAYSTREAM_SHUTDOWN_TIMEOUT_MS: '10000',
        DATABASE_URL: databaseUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Resolved from the output's own event, so the caller's signal follows the third service's announcement at once:
    // the moment a supervisor that installed its handlers late would die of it, orphaning the services.
    const pids = await new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the three services were not started within 90 s')), 90_000);
      const take = (d: Buffer) => {
        output.push(d.toString());
        const found = [...output.join('').matchAll(/^started (\w+)\s+pid (\d+)/gm)].map((m) => Number(m[2]));
        if (found.length === 3) {
          clearTimeout(timer);
          resolve(found);
        }
      };
      child.stdout?.on('data', take);
      child.stderr?.on('data', take);
    });
    return { child, pids, output };
  }

  it('a stop signal before the platform is up stops every service, and start exits 0', async () => {
    const { child, pids, output } = await start(await freePorts(1));
    try {
      // Sent as soon as the services exist: none is ready yet (each needs seconds to connect and join its group).
      expect(output.join('')).not.toContain('paystream is running');
      expect(await stopProcess(child, 'SIGTERM', 30_000)).toBe(0);
      expect(output.join('')).toContain('stopping (SIGTERM)');
      await eventually(() => (pids.some(alive) ? undefined : true), 10_000);
    } finally {
      await stopProcess(child, 'SIGKILL', 1_000);
      for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  }, 150_000);

  it('a service that dies during start-up stops the others, and start exits 1 naming it', async () => {
    // The gateway's port is taken: the gateway fails to listen and exits 1; the ledger and the sink start normally.
    const port = await freePorts(1);
    // It reads and ignores what comes (the start's /status probes), so it sees each connection end.
    const taken = net.createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    const { child, pids, output } = await start(port);
    try {
      const code = await eventually(() => (child.exitCode === null ? undefined : child.exitCode), 90_000);
      expect(code).toBe(1);
      expect(output.join('')).toContain('stopping (gateway exited with 1)');
      await eventually(() => (pids.some(alive) ? undefined : true), 10_000);
    } finally {
      await stopProcess(child, 'SIGKILL', 1_000);
      for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  }, 210_000);
  it('a stop signal during the demo stops the platform at once, exit 0', async () => {
    const fresh = await testDatabase('cli_start_demo_stop', env.config.database.url);
    const { child, pids, output } = await startOn(fresh.url, await freePorts(1));
    try {
      // Printed just before the demo's organization is provisioned, which waits for the ledger's answer.
      await eventually(() => (output.join('').includes('seed 003, bulk transfers') ? true : undefined), 120_000);
      const signalled = Date.now();
      expect(await stopProcess(child, 'SIGINT', 30_000)).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(5_000);
      expect(output.join('')).toContain('stopping (SIGINT)');
      expect(output.join('')).not.toContain('demo failed');
      await eventually(() => (pids.some(alive) ? undefined : true), 10_000);
    } finally {
      await stopProcess(child, 'SIGKILL', 1_000);
      for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
      await fresh.cleanup();
    }
  }, 200_000);

  // Runs last: the tests above never reach a running gateway on this file's database, so nobody has signed up there yet.
  it('runs the demo once on a platform where nobody has signed up, skips it the next time, and --no-demo skips it', async () => {
    const runUntil = async (text: RegExp, ...args: string[]) => {
      const { child, pids, output } = await start(await freePorts(1), ...args);
      try {
        await eventually(() => (text.test(output.join('')) ? true : undefined), 120_000);
        expect(await stopProcess(child, 'SIGINT', 30_000)).toBe(0);
        await eventually(() => (pids.some(alive) ? undefined : true), 10_000);
        return output.join('');
      } finally {
        await stopProcess(child, 'SIGKILL', 1_000);
        for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
      }
    };
    const first = await runUntil(/paystream keeps running/);
    expect(first).toContain('demo (once, on a platform where nobody has signed up yet; `--no-demo` skips it)');
    expect(first).toMatch(/ 11\. Ana reads her wallet +200 {2}balance 70\.25 EUR/);
    expect(first).toContain('demo done: 18 steps answered as documented');
    expect(first).not.toContain('demo failed');

    const second = await runUntil(/demo: skipped/);
    expect(second).toContain(
      'demo: skipped, people have signed up on this platform already (`paystream demo` runs it)',
    );
    expect(second).not.toContain('Ana signs up');

    const third = await runUntil(/paystream is running/, '--no-demo');
    expect(third).not.toMatch(/demo/);
    const parties = await db.pool.query("select 1 from gateway_credentials where email like '%@demo.paystream.test'");
    expect(parties.rows).toHaveLength(2);
  }, 400_000);
});
