import type { OutputBackedStore, StateChange, StateReader } from './processor';

/**
 * The in-memory state of one input partition: one map per store. Changes made while processing a batch go to an
 * overlay that is merged only after the batch's Kafka transaction committed, and dropped if it aborted — so memory
 * always equals what the changelog holds.
 */
export class PartitionState implements StateReader {
  private readonly committed = new Map<string, Map<string, unknown>>();
  private overlay = new Map<string, Map<string, unknown>>();
  /**
   * The input offset the last committed transaction ended at, read back from the changelog during restore (every
   * changelog record carries it in its `input-offset` header); null when the changelog had none.
   */
  restoredInputOffset: bigint | null = null;
  /**
   * The newest input time (epoch ms) this partition's committed state has seen: the latest input record timestamp
   * committed, or during a restore the latest entry time read back. The clock retention measures entry ages by; it
   * only moves forward.
   */
  private clock = Number.NEGATIVE_INFINITY;
  /** Records the restore read back for this partition (all its changelogs and backing topics). */
  restoredRecords = 0;

  constructor(stores: readonly string[]) {
    for (const s of stores) this.committed.set(s, new Map());
  }

  get<T>(store: string, key: string): T | undefined {
    const pending = this.overlay.get(store);
    if (pending?.has(key)) return (pending.get(key) ?? undefined) as T | undefined;
    return this.committed.get(store)?.get(key) as T | undefined;
  }

  /**
   * Restore path: writes straight into the committed maps (the record is already committed in the changelog). A key
   * written again moves to the end of its store's insertion order, where a new key would go, so retention (which
   * drops oldest-inserted first) sees the entries in the order they were last written.
   */
  restore(store: string, key: string, value: unknown): void {
    const map = this.committed.get(store);
    if (!map) return;
    map.delete(key);
    if (value !== null) map.set(key, value);
  }

  /** Restore path: keeps the highest input offset seen in the changelog's `input-offset` headers. */
  restoreInputOffset(offset: bigint): void {
    if (this.restoredInputOffset === null || offset > this.restoredInputOffset) this.restoredInputOffset = offset;
  }

  stage(change: StateChange): void {
    let map = this.overlay.get(change.store);
    if (!map) {
      map = new Map();
      this.overlay.set(change.store, map);
    }
    map.set(change.key, change.value);
  }

  commit(): void {
    for (const [store, changes] of this.overlay) {
      const map = this.committed.get(store);
      if (!map) continue;
      for (const [k, v] of changes) {
        if (v === null) map.delete(k);
        else map.set(k, v);
      }
    }
    this.overlay = new Map();
  }

  rollback(): void {
    this.overlay = new Map();
  }

  get inputClock(): number {
    return this.clock;
  }

  /** Moves the retention clock forward to `epochMs` (an earlier time leaves it where it is). */
  advanceClock(epochMs: number): void {
    if (epochMs > this.clock) this.clock = epochMs;
  }

  /**
   * Drops committed entries of `store` oldest-inserted first, while `expired(value)` holds, and stops at the first
   * entry that does not expire. For a store whose entries are inserted in time order that is oldest first, and a call
   * costs what it drops; an entry inserted out of time order is dropped late, never early. Staged (uncommitted)
   * changes are not touched. Returns how many entries were dropped.
   */
  evictOldest(store: string, expired: (value: unknown) => boolean): number {
    const map = this.committed.get(store);
    if (!map) return 0;
    let dropped = 0;
    for (const [key, value] of map) {
      if (!expired(value)) break;
      map.delete(key);
      dropped++;
    }
    return dropped;
  }

  size(store: string): number {
    return this.committed.get(store)?.size ?? 0;
  }

  entries<T>(store: string): IterableIterator<[string, T]> {
    return (this.committed.get(store) ?? new Map<string, T>()).entries() as IterableIterator<[string, T]>;
  }
}

/**
 * Drops the entries of an output-backed store that its retention says are too old by the state's input clock; 0 for
 * a store without retention, or before the state has a clock.
 */
export function evictExpired(state: PartitionState, backed: OutputBackedStore): number {
  const retention = backed.retention;
  if (!retention || state.inputClock === Number.NEGATIVE_INFINITY) return 0;
  const cutoff = state.inputClock - retention.keepMs;
  return state.evictOldest(backed.store, (value) => retention.timeOf(value) < cutoff);
}
