import { cpuBetween } from '../../../bench/process-cpu';
import type { CpuSnapshot } from '../../../bench/process-cpu';

const snapshot = (
  at: number,
  processes: [string, number | undefined][],
  machine?: { busy: number; steal: number; total: number },
): CpuSnapshot => ({ at, processes: new Map(processes), machine });

describe('cpuBetween', () => {
  it("gives each process's CPU as a percentage of one core and the machine's busy and stolen shares of all cores", () => {
    const before = snapshot(
      1_000,
      [
        ['gateway', 10],
        ['broker', 100],
      ],
      { busy: 50, steal: 4, total: 200 },
    );
    const after = snapshot(
      11_000,
      [
        ['gateway', 16], // 6 s of CPU in 10 s
        ['broker', 112.5], // 12.5 s: more than one core
      ],
      { busy: 65, steal: 5, total: 220 }, // 15 of 20 core-seconds busy, 1 stolen
    );
    expect(cpuBetween(before, after)).toEqual({
      processes: { gateway: 60, broker: 125 },
      machine: { busy: 75, steal: 5 },
    });
  });

  it('leaves out a process unknown at either end, and the machine when /proc/stat was unreadable', () => {
    const before = snapshot(0, [
      ['gateway', 1],
      ['ledger', undefined],
      ['sink', 2],
    ]);
    const after = snapshot(1_000, [
      ['gateway', 1.5],
      ['ledger', 3],
      ['sink', undefined],
    ]);
    expect(cpuBetween(before, after)).toEqual({ processes: { gateway: 50 } });
  });
});
