import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { localStateDir } from './state-dir';

/**
 * Prometheus file-based discovery: a `<service>-<pid>.json` target file while a service runs, so the local Prometheus
 * (infra/prometheus/prometheus.yml, job `paystream`) scrapes every service on whatever port it got, and
 * `paystream status` finds the services running. A process killed outright leaves its file behind: a reader checks
 * the pid.
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
  for (const stale of listScrapeTargets(dir).filter((t) => !processRuns(t.pid))) rmSync(stale.file, { force: true });
  writeFileSync(file, JSON.stringify([{ targets: [`${host}:${port}`], labels: { service } }]));
  return { remove: () => rmSync(file, { force: true }) };
}

export interface ScrapeTarget {
  readonly service: string;
  readonly pid: number;
  /** host:port of the service's ops endpoint (/metrics, /healthz, /readyz). */
  readonly address: string;
  readonly file: string;
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
      found.push({ service: m[1], pid: Number(m[2]), address: address[0], file });
    } catch {
      continue;
    }
  }
  return found;
}

/** Whether a process with this pid runs on this machine (target files are written and read on one machine). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
