import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { localStateDir } from './state-dir';

/**
 * Prometheus file-based discovery: a `<service>-<pid>.json` target file while a service runs, so the local Prometheus
 * (infra/prometheus/prometheus.yml, job `paystream`) scrapes every service on whatever port it got, and
 * `paystream status` finds the services running. A process killed outright leaves its file behind: a reader checks
 * that its writer still runs (`targetProcessRuns`).
 */
/** Where the local stack's Prometheus looks for target files (infra/stack.sh writes its configuration so). */
export function scrapeTargetsDir(stateDir: string | undefined): string {
  return path.join(localStateDir(stateDir), 'data', 'prometheus', 'targets');
}

/**
 * Writes this process's target file; removed by the returned `remove` when the service stops. Files left by processes
 * that are gone (killed outright, so they never removed theirs) are removed first: Prometheus would otherwise keep
 * scraping them as targets that are down.
 */
export function registerScrapeTarget(dir: string | undefined, service: string, host: string, port: number) {
  if (!dir) return undefined;
  const file = path.join(dir, `${service}-${process.pid}.json`);
  mkdirSync(dir, { recursive: true });
  for (const stale of listScrapeTargets(dir).filter((t) => !targetProcessRuns(t))) rmSync(stale.file, { force: true });
  // Written whole under another name, then renamed: Prometheus (and `status`) read a `.json` file the moment it
  // appears, and one created empty and written after was read as broken JSON (a target missed until its next look).
  writeFileSync(`${file}.tmp`, JSON.stringify([{ targets: [`${host}:${port}`], labels: { service } }]));
  renameSync(`${file}.tmp`, file);
  return { remove: () => rmSync(file, { force: true }) };
}

export interface ScrapeTarget {
  readonly service: string;
  readonly pid: number;
  /** host:port of the service's ops endpoint (/metrics, /healthz, /readyz). */
  readonly address: string;
  readonly file: string;
  /** When the file was written (its modification time, in ms since the epoch). */
  readonly writtenAt: number;
}

/** The target files in `dir`, by service and pid; files that are not one (or not readable as one) are left out. */
export function listScrapeTargets(dir: string): ScrapeTarget[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const found: ScrapeTarget[] = [];
  for (const name of names.sort()) {
    const m = /^([a-z][a-z0-9-]*)-(\d+)\.json$/.exec(name);
    if (!m?.[1] || !m[2]) continue;
    const file = path.join(dir, name);
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { targets?: unknown }[];
      const address = parsed[0]?.targets;
      if (!Array.isArray(address) || typeof address[0] !== 'string') continue;
      found.push({ service: m[1], pid: Number(m[2]), address: address[0], file, writtenAt: statSync(file).mtimeMs });
    } catch {
      continue;
    }
  }
  return found;
}

/**
 * Whether the process that wrote a target file still runs: a process with its pid runs and, where Linux's /proc tells
 * when it started, it started before the file was written (a service writes its file once its ops endpoint listens).
 * A process started later only reuses the pid of a writer that is gone: its file is stale, not a service that does
 * not answer. The margin covers /proc's boot time, given in whole seconds, and a wall clock stepped back a little
 * between a service's start and its file; a pid reused within it, which needs the kernel to come round all its pids,
 * still counts as running.
 */
export function targetProcessRuns(target: Pick<ScrapeTarget, 'pid' | 'writtenAt'>): boolean {
  if (!processRuns(target.pid)) return false;
  const started = processStartedAt(target.pid);
  return started === undefined || started <= target.writtenAt + PID_REUSE_MARGIN_MS;
}

const PID_REUSE_MARGIN_MS = 10_000;
/** The unit of /proc's process times: Linux's USER_HZ, 100 on every architecture Node runs on. */
const PROC_TICKS_PER_SECOND = 100;

/** When the process `pid` started (ms since the epoch), from /proc; undefined where there is no /proc to tell. */
export function processStartedAt(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself hold spaces and parentheses: the third
    // field of stat(5) comes first, so the 22nd, starttime (clock ticks after boot), is at index 19.
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const bootSeconds = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1];
    if (!Number.isSafeInteger(ticks) || bootSeconds === undefined) return undefined;
    return Number(bootSeconds) * 1000 + (ticks * 1000) / PROC_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid runs on this machine (target files are written and read on one machine). */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
