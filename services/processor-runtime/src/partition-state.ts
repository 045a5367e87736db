import type { StateChange, StateReader } from './processor';

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

  constructor(stores: readonly string[]) {
    for (const s of stores) this.committed.set(s, new Map());
  }

  get<T>(store: string, key: string): T | undefined {
    const pending = this.overlay.get(store);
    if (pending?.has(key)) return (pending.get(key) ?? undefined) as T | undefined;
    return this.committed.get(store)?.get(key) as T | undefined;
  }

  /** Restore path: writes straight into the committed maps (the record is already committed in the changelog). */
  restore(store: string, key: string, value: unknown): void {
    const map = this.committed.get(store);
    if (!map) return;
    if (value === null) map.delete(key);
    else map.set(key, value);
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

  size(store: string): number {
    return this.committed.get(store)?.size ?? 0;
  }

  entries<T>(store: string): IterableIterator<[string, T]> {
    return (this.committed.get(store) ?? new Map<string, T>()).entries() as IterableIterator<[string, T]>;
  }
}
