import { PartitionState } from '../../../services/processor-runtime/src/partition-state';

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
});
