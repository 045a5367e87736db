/** A `BENCH_*` variable that cannot be used: its message names it, and `npm run bench` prints just that (exit 2). */
export class BenchSettingError extends Error {
  override readonly name = 'BenchSettingError';
}

/**
 * A whole-number setting of a benchmark from the environment (`BENCH_*`): `fallback` when unset or empty; a value
 * that is not a whole number of at least `min` is a {@link BenchSettingError} naming the variable.
 */
export function benchInteger(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  fallback: number,
  min: number,
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min)
    throw new BenchSettingError(
      `${name}: must be a whole number of at least ${min} (got ${JSON.stringify(env[name])})`,
    );
  return value;
}
