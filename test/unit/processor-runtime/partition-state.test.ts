import { evictExpired, PartitionState } from '../../../services/processor-runtime/src/partition-state';

describe('PartitionState', () => {
  it('reads staged changes before commit and forgets them on rollback', () => {
    const s = new PartitionState(['a']);
    s.restore('a', 'k', 1);
    s.stage({ store: 'a', key: 'k', value: 2 });
    expect(s.get('a', 'k')).toBe(2);
    s.rollback();
    expect(s.get('a', 'k')).toBe(1);
  });

  it('applies staged changes and deletions on commit', () => {
    const s = new PartitionState(['a']);
    s.restore('a', 'x', 1);
    s.stage({ store: 'a', key: 'x', value: null });
    s.stage({ store: 'a', key: 'y', value: 3 });
    expect(s.get('a', 'x')).toBeUndefined();
    s.commit();
    expect(s.get('a', 'x')).toBeUndefined();
    expect(s.get('a', 'y')).toBe(3);
    expect(s.size('a')).toBe(1);
  });

  it('restores tombstones as deletions and ignores unknown stores', () => {
    const s = new PartitionState(['a']);
    s.restore('a', 'x', 1);
    s.restore('a', 'x', null);
    s.restore('b', 'x', 1);
    expect(s.size('a')).toBe(0);
    expect(s.get('b', 'x')).toBeUndefined();
  });

  it('keeps the highest input offset read back from the changelog, in whatever order the stores are restored', () => {
    const s = new PartitionState(['a', 'b']);
    expect(s.restoredInputOffset).toBeNull();
    s.restoreInputOffset(120n);
    s.restoreInputOffset(7n);
    s.restoreInputOffset(120n);
    expect(s.restoredInputOffset).toBe(120n);
  });

  it('evicts committed entries oldest-inserted first and stops at the first one that does not expire', () => {
    const s = new PartitionState(['a']);
    s.restore('a', 'old-1', 10);
    s.restore('a', 'old-2', 20);
    s.restore('a', 'young', 90);
    s.restore('a', 'straggler', 5); // inserted out of time order: waits for the young entry before it
    expect(s.evictOldest('a', (v) => (v as number) < 50)).toBe(2);
    expect(s.get('a', 'old-1')).toBeUndefined();
    expect(s.get('a', 'old-2')).toBeUndefined();
    expect(s.get('a', 'young')).toBe(90);
    expect(s.get('a', 'straggler')).toBe(5);
    expect(s.evictOldest('unknown', () => true)).toBe(0);
  });

  it('moves a key restored again to the end of the eviction order', () => {
    const s = new PartitionState(['a']);
    s.restore('a', 'x', 10);
    s.restore('a', 'y', 20);
    s.restore('a', 'x', 90); // written again, later: now younger than y
    expect(s.evictOldest('a', (v) => (v as number) < 50)).toBe(1);
    expect([s.get('a', 'x'), s.get('a', 'y')]).toEqual([90, undefined]);
  });

  it('leaves staged changes alone when it evicts', () => {
    const s = new PartitionState(['a']);
    s.restore('a', 'k', 1);
    s.stage({ store: 'a', key: 'new', value: 2 });
    expect(s.evictOldest('a', () => true)).toBe(1);
    expect(s.get('a', 'new')).toBe(2);
    s.commit();
    expect(s.size('a')).toBe(1);
  });

  it('keeps the newest input time as its clock, which never moves back', () => {
    const s = new PartitionState(['a']);
    expect(s.inputClock).toBe(Number.NEGATIVE_INFINITY);
    s.advanceClock(100);
    s.advanceClock(40);
    expect(s.inputClock).toBe(100);
  });
});

describe('evictExpired', () => {
  const store = (keepMs?: number) => ({
    store: 'a',
    topic: 't',
    restore: () => undefined,
    ...(keepMs === undefined ? {} : { retention: { keepMs, timeOf: (v: unknown) => v as number } }),
  });

  it("drops what is older than the retention by the state's clock, and nothing exactly at the limit", () => {
    const s = new PartitionState(['a']);
    for (const t of [100, 200, 300]) s.restore('a', `k${t}`, t);
    expect(evictExpired(s, store(100))).toBe(0); // no clock yet: nothing is known to be old
    s.advanceClock(300);
    expect(evictExpired(s, store(100))).toBe(1);
    expect([s.get('a', 'k100'), s.get('a', 'k200'), s.get('a', 'k300')]).toEqual([undefined, 200, 300]);
  });

  it('keeps everything in a store without a retention', () => {
    const s = new PartitionState(['a']);
    s.restore('a', 'k', 1);
    s.advanceClock(1e12);
    expect(evictExpired(s, store())).toBe(0);
    expect(s.size('a')).toBe(1);
  });
});
