import { benchInteger } from '../../../bench/bench-env';

describe('benchInteger', () => {
  it('gives the default when the variable is unset or empty', () => {
    expect(benchInteger({}, 'BENCH_X', 1_000, 1)).toBe(1_000);
    expect(benchInteger({ BENCH_X: '' }, 'BENCH_X', 1_000, 1)).toBe(1_000);
    expect(benchInteger({ BENCH_X: '  ' }, 'BENCH_X', 1_000, 1)).toBe(1_000);
  });

  it('reads a whole number at or above the minimum', () => {
    expect(benchInteger({ BENCH_X: '250' }, 'BENCH_X', 1_000, 1)).toBe(250);
    expect(benchInteger({ BENCH_X: ' 3 ' }, 'BENCH_X', 1_000, 3)).toBe(3);
    expect(benchInteger({ BENCH_X: '0' }, 'BENCH_X', 20_000, 0)).toBe(0);
  });

  it.each(['abc', '1e3', '2.5', '-1', '1_000', '0x10', '9007199254740993'])('refuses %j naming the variable', (raw) => {
    expect(() => benchInteger({ BENCH_X: raw }, 'BENCH_X', 1_000, 0)).toThrow(
      `BENCH_X: must be a whole number of at least 0 (got ${JSON.stringify(raw)})`,
    );
  });

  it('refuses a value below the minimum', () => {
    expect(() => benchInteger({ BENCH_LEDGER_ACCOUNTS: '2' }, 'BENCH_LEDGER_ACCOUNTS', 10_000, 3)).toThrow(
      'BENCH_LEDGER_ACCOUNTS: must be a whole number of at least 3 (got "2")',
    );
  });
});
