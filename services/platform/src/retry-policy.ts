/**
 * Exponential backoff with full jitter, as a pure function: the caller supplies the random draw in [0, 1).
 * attempt 1 waits up to `initialMs`, each further attempt doubles the cap, never above `maxMs`.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

export function backoffMs(attempt: number, policy: BackoffPolicy, random: number): number {
  const cap = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(cap * Math.min(Math.max(random, 0), 0.999999));
}
