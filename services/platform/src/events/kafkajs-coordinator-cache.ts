/**
 * Remembers group and transaction coordinators in kafkajs 2.2.4, as Kafka's Java client does, instead of asking the
 * cluster for them before every coordinator request.
 *
 * kafkajs' `Cluster#findGroupCoordinator` sends a FindCoordinator request on every call, and its transactional
 * producer calls it four times per transaction (AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn). At
 * 1,000 charges/s the ledger sent 1,000 FindCoordinator requests a second, as many as all its transactional requests
 * together; on this machine a socket write to the broker costs a sizeable share of a core.
 *
 * Guarantees:
 * - the first lookup per (coordinator type, group or transactional id) and cluster asks the broker, as before;
 *   concurrent lookups of the same key share one request;
 * - a call on a remembered coordinator that fails because it is not (or no longer) the coordinator
 *   (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE) or with anything but a Kafka protocol error (a lost connection, a
 *   timeout) forgets it before the error reaches kafkajs, so kafkajs' own retry looks the coordinator up afresh — the
 *   same recovery as without the cache, one failed request later at most. Other protocol errors
 *   (CONCURRENT_TRANSACTIONS, a fenced epoch…) come from the right coordinator and keep it remembered, as in the
 *   Java client;
 * - a coordinator is remembered for at most `ttlMs` (30 s) even when nothing fails.
 * A failed lookup is never remembered.
 */

export interface CoordinatorLookup<B extends object> {
  (this: unknown, params: { groupId: string; coordinatorType?: number }): Promise<B>;
}

interface Entry<B> {
  broker: Promise<B>;
  expires: number;
}

const CACHE = Symbol('paystream.coordinatorCache');

/** kafkajs' names for NOT_COORDINATOR (16) and COORDINATOR_NOT_AVAILABLE (15). */
const WRONG_COORDINATOR = new Set(['NOT_COORDINATOR_FOR_GROUP', 'GROUP_COORDINATOR_NOT_AVAILABLE']);

/** True when a request's failure means the broker it went to may not be the coordinator any more. */
export function invalidatesCoordinator(err: unknown): boolean {
  const e = err as { name?: unknown; type?: unknown } | null;
  if (e?.name !== 'KafkaJSProtocolError') return true;
  return typeof e.type === 'string' && WRONG_COORDINATOR.has(e.type);
}

/** Wraps a `findGroupCoordinator` so that each cluster (`this`) remembers what it found, per key. */
export function cachedCoordinatorLookup<B extends object>(
  lookup: CoordinatorLookup<B>,
  { ttlMs = 30_000, now = Date.now }: { ttlMs?: number; now?: () => number } = {},
): CoordinatorLookup<B> {
  return function (this: unknown, params) {
    const owner = this as { [CACHE]?: Map<string, Entry<B>> };
    const cache = (owner[CACHE] ??= new Map<string, Entry<B>>());
    const key = `${params.coordinatorType ?? 0}:${params.groupId}`;
    const hit = cache.get(key);
    if (hit && hit.expires > now()) return hit.broker;
    const forget = () => {
      if (cache.get(key) === entry) cache.delete(key);
    };
    const entry: Entry<B> = {
      expires: now() + ttlMs,
      broker: lookup.call(this, params).then(
        (broker) => forgettingOnFailure(broker, forget),
        (err: unknown) => {
          forget();
          throw err;
        },
      ),
    };
    cache.set(key, entry);
    return entry.broker;
  };
}

/** The broker, with every method whose promise rejects with a coordinator-invalidating error calling `forget` first. */
function forgettingOnFailure<B extends object>(broker: B, forget: () => void): B {
  return new Proxy(broker, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise)
          return result.catch((err: unknown) => {
            if (invalidatesCoordinator(err)) forget();
            throw err;
          });
        return result;
      };
    },
  });
}

/** Installs the cache on kafkajs' Cluster class (every client, producer, consumer and admin of the process). */
export function installCoordinatorCache(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Cluster = require('kafkajs/src/cluster') as {
    prototype: { findGroupCoordinator: CoordinatorLookup<object> & { [CACHE]?: true } };
  };
  const current = Cluster.prototype.findGroupCoordinator;
  if (current[CACHE]) return;
  const cached = Object.assign(cachedCoordinatorLookup(current), { [CACHE]: true as const });
  Cluster.prototype.findGroupCoordinator = cached;
}

installCoordinatorCache();
