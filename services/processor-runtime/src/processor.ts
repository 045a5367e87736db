/**
 * The contract between a processor (pure domain code) and the runtime that runs it.
 *
 * A processor is `(state, event, ctx) => { state, outputs }`:
 * - `state` is a read-only view of the partition's stores (restored from their changelog topics);
 * - the returned `state` is the list of changes to make to those stores; the runtime applies them in memory and
 *   appends them to the changelogs, in the same Kafka transaction as the outputs and the input offset;
 * - `ctx` brings time (the input record's timestamp) and ids: the processor reads no clock, no randomness, no I/O,
 *   so replaying the same input into the same state yields the same changes and outputs.
 */
export interface StateReader {
  /** The current value of `key` in `store` (a catalogue topic), including changes made earlier in this batch. */
  get<T>(store: string, key: string): T | undefined;
}

/** A change to a store; `value: null` deletes the key (a tombstone in the changelog). */
export interface StateChange {
  store: string;
  key: string;
  value: unknown;
}

export interface Output {
  /** Catalogue topic name. */
  topic: string;
  key: string;
  value: unknown;
  /** Deterministic id of this output (derived from the input), written as the `event-id` header. */
  eventId: string;
}

export interface InputEvent<E> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: E;
  eventId: string;
  correlationId: string;
  timestamp: Date;
}

export interface ProcessContext {
  /** Time of the input record: the only clock a processor has. */
  now: Date;
}

export interface ProcessResult {
  state: StateChange[];
  outputs: Output[];
}

export interface ProcessorDefinition<E> {
  /** Used for the consumer group, transactional ids and metric labels. */
  name: string;
  inputTopic: string;
  /**
   * Compacted changelog topics holding this processor's state, with as many partitions as the input topic. The
   * runtime writes changes for input partition p to partition p of each store, and restores partition p from them.
   */
  stores: readonly string[];
  /**
   * Stores with no changelog of their own, each rebuilt from an output topic the processor writes in the same
   * transactions anyway — so the state costs no extra record. The runtime writes every record of such a topic for
   * input partition p to its partition p (the topic needs at least as many partitions as the input), and restores the
   * store from partition p by passing each committed record's value to `restore`. The processor must emit, with every
   * change it makes to the store, an output record on that topic from which `restore` derives the same entry.
   */
  outputBackedStores?: readonly OutputBackedStore[];
  process(state: StateReader, event: InputEvent<E>, ctx: ProcessContext): ProcessResult;
}

export interface OutputBackedStore {
  store: string;
  /** The output topic (logical name) the store is rebuilt from. */
  topic: string;
  /** The store entry an output record's value stands for, or undefined when it stands for none. */
  restore(value: unknown): { key: string; value: unknown } | undefined;
  /** Bounds the store by age; without it the store keeps every entry for ever. */
  retention?: StoreRetention;
}

/**
 * Age-bounded store: an entry is dropped once the partition's input clock — the newest input record timestamp it has
 * committed (after a restore: the newest entry time read back) — is more than `keepMs` past the entry's time.
 *
 * Guarantee: an entry is kept while the clock is at most `keepMs` past its time. The clock is the newest timestamp
 * of the partition's records so far, so a record whose own timestamp is within `keepMs` of the entry's time finds the
 * entry unless an earlier record carries a later timestamp than its own (producers whose clocks disagree): leave a
 * margin for that in `keepMs`. An entry may be kept longer: entries are dropped oldest-inserted first, so one inserted
 * out of time order waits for those before it.
 */
export interface StoreRetention {
  keepMs: number;
  /** The entry's time, epoch ms: the input record timestamp it was made at. */
  timeOf(value: unknown): number;
}
