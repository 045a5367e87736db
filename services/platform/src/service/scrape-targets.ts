import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
 * scraping them as targets that are down. So are the half-written files of processes that died while writing theirs.
 */
export function registerScrapeTarget(dir: string | undefined, service: string, host: string, port: number) {
  if (!dir) return undefined;
  const file = path.join(dir, `${service}-${process.pid}.json`);
  mkdirSync(dir, { recursive: true });
  for (const stale of listScrapeTargets(dir).filter((t) => !targetProcessRuns(t))) rmSync(stale.file, { force: true });
  for (const stale of abandonedTargetWrites(dir)) rmSync(stale, { force: true });
  // Written whole under another name, then renamed: Prometheus (and `status`) read a `.json` file the moment it
  // appears, and one created empty and written after was read as broken JSON (a target missed until its next look).
  const started = processStartTicks(process.pid);
  const labels = { service, ...(started !== undefined ? { [PROCESS_START_LABEL]: started } : {}) };
  writeFileSync(`${file}.tmp`, JSON.stringify([{ targets: [`${host}:${port}`], labels }]));
  renameSync(`${file}.tmp`, file);
  return { remove: () => rmSync(file, { force: true }) };
}

export interface ScrapeTarget {
  readonly service: string;
  readonly pid: number;
  /** host:port of the service's ops endpoint (/metrics, /healthz, /readyz). */
  readonly address: string;
  readonly file: string;
  /** When its writer started, in /proc's clock ticks after boot (absent where there was no /proc to tell). */
  readonly startTicks?: string;
}

/**
 * The target label that names when the file's writer started. Prometheus drops labels starting with `__` once
 * targets are relabelled, so it never reaches a series.
 */
const PROCESS_START_LABEL = '__paystream_process_start_ticks';

/** The target files in `dir`, by service and pid; files that are not one (or not readable as one) are left out. */
export function listScrapeTargets(dir: string): ScrapeTarget[] {
  const found: ScrapeTarget[] = [];
  for (const name of fileNames(dir).sort()) {
    const m = /^([a-z][a-z0-9-]*)-(\d+)\.json$/.exec(name);
    if (!m?.[1] || !m[2]) continue;
    const file = path.join(dir, name);
    const written = readTargetFile(file);
    if (written?.address === undefined) continue;
    found.push({
      service: m[1],
      pid: Number(m[2]),
      address: written.address,
      file,
      ...(written.startTicks !== undefined ? { startTicks: written.startTicks } : {}),
    });
  }
  return found;
}

/**
 * `<service>-<pid>.json.tmp` files whose writer is gone: it died between writing its target file and renaming it.
 * Neither Prometheus nor `status` reads them; a file whose writer still runs (another service starting at this
 * moment) is left alone. A file cut short before its writer's start was in it goes by the pid alone.
 */
function abandonedTargetWrites(dir: string): string[] {
  const abandoned: string[] = [];
  for (const name of fileNames(dir)) {
    const m = /^[a-z][a-z0-9-]*-(\d+)\.json\.tmp$/.exec(name);
    if (!m?.[1]) continue;
    const file = path.join(dir, name);
    if (!targetProcessRuns({ pid: Number(m[1]), startTicks: readTargetFile(file)?.startTicks })) abandoned.push(file);
  }
  return abandoned;
}

function fileNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * What a target file says: the service's address and its writer's start, each where the file holds it; undefined
 * when the file cannot be read or is not whole JSON.
 */
function readTargetFile(file: string): { address?: string; startTicks?: string } | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { targets?: unknown; labels?: Record<string, unknown> }[];
    const address = parsed[0]?.targets;
    const startTicks = parsed[0]?.labels?.[PROCESS_START_LABEL];
    return {
      ...(Array.isArray(address) && typeof address[0] === 'string' ? { address: address[0] } : {}),
      ...(typeof startTicks === 'string' ? { startTicks } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * Whether the process that wrote a target file still runs: a process with its pid runs and, where the file and /proc
 * both tell when it started, it is the one that started then. A pid and its start time name one process on a machine
 * until it reboots; a process with the same pid and another start time reuses the pid of a writer that is gone, so its
 * file is stale, not a service that does not answer. No wall clock is involved, so a clock stepped between the write
 * and the check changes nothing. A file without its writer's start time (written by an earlier release) goes by the
 * pid alone.
 */
export function targetProcessRuns(target: Pick<ScrapeTarget, 'pid' | 'startTicks'>): boolean {
  if (!processRuns(target.pid)) return false;
  if (target.startTicks === undefined) return true;
  const started = processStartTicks(target.pid);
  return started === undefined || started === target.startTicks;
}

/** When the process `pid` started, in clock ticks after boot, from /proc; undefined where there is no /proc to tell. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself hold spaces and parentheses: the third
    // field of stat(5) comes first, so the 22nd, starttime, is at index 19.
    const ticks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return ticks !== undefined && /^\d+$/.test(ticks) ? ticks : undefined;
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
