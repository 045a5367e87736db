import { backoffMs } from '../../../services/platform/src/retry-policy';

describe('backoffMs', () => {
  const policy = { initialMs: 100, maxMs: 1000 };
  it.each([
    [1, 0.5, 50],
    [2, 0.5, 100],
    [3, 0.5, 200],
    [4, 0.5, 400],
    [5, 0.5, 500],
    [10, 0.5, 500],
    [3, 0, 0],
  ])('attempt %i with draw %d waits %i ms', (attempt, random, expected) => {
    expect(backoffMs(attempt, policy, random)).toBe(expected);
  });

  it('never exceeds the cap, even for a draw of 1', () => {
    expect(backoffMs(50, policy, 1)).toBeLessThan(1000);
  });
});
