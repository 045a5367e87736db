import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { defaultSchemasDir } from '../../services/platform/src/schemas/schema-catalogue';
import { freePorts } from './free-ports';

/**
 * A Kafka broker of a test's own (single-node KRaft, as the local stack's), for faults that would disturb every other
 * test on the shared one: killed with SIGKILL and started again on the same data and ports, as a broker that crashed
 * and came back. It runs the stack's Kafka (`npm run stack:up` installs it under the state folder).
 */
export interface PrivateBroker {
  /** `localhost:<port>`, for KAFKA_BROKERS. */
  address: string;
  /** Starts the broker (again, on the same log directory) and waits until it answers. */
  start(): Promise<void>;
  /** Kills the broker outright (SIGKILL): nothing flushed, nothing handed over. */
  kill(): Promise<void>;
  /** The end of the broker's own log, for a failure message. */
  logTail(lines?: number): string;
  /** Stops the broker and deletes its data. */
  cleanup(): Promise<void>;
}

const repoRoot = () => path.resolve(defaultSchemasDir(), '..');

function kafkaLibs(): string {
  const state = process.env.PAYSTREAM_STATE_DIR ?? path.join(repoRoot(), '.paystream');
  const libs = path.join(state, 'runtime', 'kafka', 'libs');
  if (!existsSync(libs) || !readdirSync(libs).some((f) => /^kafka_2\.13-.*\.jar$/.test(f)))
    throw new Error(`no Kafka under ${libs}: run npm run stack:up first`);
  return libs;
}

const java = () => (process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java');

function run(args: string[], logFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(java(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      writeFileSync(logFile, out, { flag: 'a' });
      if (code === 0) resolve(out.trim());
      else reject(new Error(`java ${args.at(-1) ?? ''} exited ${code}: ${out.slice(-2_000)}`));
    });
  });
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function privateBroker(label: string): Promise<PrivateBroker> {
  const libs = kafkaLibs();
  const dir = mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', `paystream-broker-${label}-`));
  const logs = path.join(dir, 'logs');
  mkdirSync(logs);
  const port = await freePorts(2);
  const controller = port + 1;
  const conf = path.join(dir, 'server.properties');
  // The stack's broker settings, on this broker's ports and data directory.
  const base = readFileSync(path.join(repoRoot(), 'infra', 'kafka', 'server.properties'), 'utf8')
    .replace(/^controller\.quorum\.voters=.*$/m, `controller.quorum.voters=1@localhost:${controller}`)
    .replace(/^listeners=.*$/m, `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`)
    .replace(/^advertised\.listeners=.*$/m, `advertised.listeners=PLAINTEXT://localhost:${port}`);
  writeFileSync(conf, `${base}\nlog.dirs=${path.join(dir, 'data')}\n`);
  const jvm = [
    `-Dlog4j.configuration=file:${path.join(repoRoot(), 'infra', 'kafka', 'log4j.properties')}`,
    `-Dkafka.logs.dir=${logs}`,
    '-cp',
    `${libs}/*`,
  ];
  const toolLog = path.join(logs, 'tools.log');
  const clusterId = await run([...jvm, 'kafka.tools.StorageTool', 'random-uuid'], toolLog);
  await run([...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', conf], toolLog);

  let broker: ChildProcess | undefined;
  const stopped = () =>
    new Promise<void>((resolve) => {
      if (!broker || broker.exitCode !== null || broker.signalCode !== null) resolve();
      else broker.once('exit', () => resolve());
    });
  const serverLog = () => {
    const file = path.join(logs, 'kafka-server.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  };

  const self: PrivateBroker = {
    address: `localhost:${port}`,
    async start() {
      if (broker && broker.exitCode === null && broker.signalCode === null) return;
      const started = serverLog().length;
      broker = spawn(java(), ['-Xms128m', '-Xmx512m', '-XX:+UseG1GC', ...jvm, 'kafka.Kafka', conf], {
        stdio: 'ignore',
      });
      const deadline = Date.now() + 120_000;
      // Ready once it listens and has logged, since this start, that the broker is up (its log says so after it
      // recovered its logs and joined its own quorum).
      while (!(await listening(port)) || !/Kafka Server started/.test(serverLog().slice(started))) {
        if (broker.exitCode !== null)
          throw new Error(`the private broker exited ${broker.exitCode}: ${self.logTail()}`);
        if (Date.now() > deadline) throw new Error(`the private broker did not start in 120 s: ${self.logTail()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async kill() {
      broker?.kill('SIGKILL');
      await stopped();
    },
    logTail(lines = 40) {
      return serverLog().split('\n').slice(-lines).join('\n');
    },
    async cleanup() {
      broker?.kill('SIGKILL');
      await stopped();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}
