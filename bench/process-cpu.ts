import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU time of processes and of the whole machine from Linux's /proc, so a benchmark can say where the cores went over
 * its measured window. Elsewhere (no /proc) every reading is undefined and the benchmark reports nothing.
 */

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds a process has used so far (its threads included), or undefined when it is unknown. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / clockTicks() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of the whole machine so far, summed over its cores: busy (this machine's own work), stolen (time a
 * virtual machine's cores were ready to run but the hypervisor ran something else) and the total of every state.
 */
export function machineCpuSeconds(): { busy: number; steal: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already counted in user).
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = ticks;
    const busy = user + nice + system + irq + softirq;
    const hz = clockTicks();
    return { busy: busy / hz, steal: steal / hz, total: (busy + steal + idle + iowait) / hz };
  } catch {
    return undefined;
  }
}

export interface CpuSnapshot {
  at: number;
  processes: Map<string, number | undefined>;
  machine: { busy: number; steal: number; total: number } | undefined;
}

/** The CPU used so far by each named process (by pid) and by the machine. */
export function cpuSnapshot(pids: ReadonlyMap<string, number | undefined>): CpuSnapshot {
  const processes = new Map<string, number | undefined>();
  for (const [name, pid] of pids) processes.set(name, pid === undefined ? undefined : processCpuSeconds(pid));
  return { at: performance.now(), processes, machine: machineCpuSeconds() };
}

/**
 * Between two snapshots: each process's CPU as a percentage of one core, and the machine's busy and stolen shares as
 * percentages of all its cores. A process unknown at either end is left out, and the machine when /proc/stat was not
 * readable.
 */
export function cpuBetween(
  before: CpuSnapshot,
  after: CpuSnapshot,
): { processes: Record<string, number>; machine?: { busy: number; steal: number } } {
  const seconds = (after.at - before.at) / 1000;
  const processes: Record<string, number> = {};
  for (const [name, end] of after.processes) {
    const start = before.processes.get(name);
    if (start !== undefined && end !== undefined && seconds > 0)
      processes[name] = Math.round(((end - start) / seconds) * 100);
  }
  const a = before.machine;
  const b = after.machine;
  if (!a || !b || b.total <= a.total) return { processes };
  const share = (x: number) => Math.round((x / (b.total - a.total)) * 100);
  return { processes, machine: { busy: share(b.busy - a.busy), steal: share(b.steal - a.steal) } };
}
