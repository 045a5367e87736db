import { partyRegisteredEvent } from '../domain/party-event';
import { displayNameOf } from '../domain/requests';
import type { GatewayDeps } from '../http/context';

/** How long a recorded party may wait for its event before it counts as left behind (no sign-up takes longer). */
export const PARTY_EVENT_GRACE_SECONDS = 300;
/** How often the gateway looks for parties left behind. */
export const PARTY_EVENT_SWEEP_MS = 30_000;

/**
 * Publishes the PartyRegistered event of every party whose row was written but whose event was never acknowledged
 * (the process died between the two), then marks it published. Returns how many it published.
 *
 * Guarantees: every party the gateway has recorded gets its event at least once — from its sign-up (or provisioning),
 * or from here once the row is `graceSeconds` old, so a sign-up still in flight is never raced. The event is the one
 * the sign-up would have published (`partyRegisteredEvent`, same id), so a consumer that saw both keeps one;
 * `registeredAt` is the row's creation time. A publish that fails leaves the row for the next sweep.
 */
export async function republishPartyEvents(
  deps: Pick<GatewayDeps, 'directory' | 'events' | 'logger'>,
  options: { graceSeconds?: number; limit?: number } = {},
): Promise<number> {
  const parties = await deps.directory.unpublishedParties(
    options.graceSeconds ?? PARTY_EVENT_GRACE_SECONDS,
    options.limit ?? 100,
  );
  for (const p of parties) {
    await deps.events.publish(
      partyRegisteredEvent({
        partyId: p.partyId,
        kind: p.kind,
        email: p.email,
        displayName: displayNameOf(p.kind, p.profile),
        registeredAt: p.createdAt,
      }),
    );
    await deps.directory.markPartyPublished(p.partyId, p.kind);
  }
  if (parties.length > 0)
    deps.logger.warn('published party events a crash had left behind', { parties: parties.map((p) => p.partyId) });
  return parties.length;
}
