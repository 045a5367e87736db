import type { PartyRegistered } from '../../../platform/src/sdk/event-types.generated';

/**
 * A party's PartyRegistered event on `identity.parties`, keyed by the party. Its id depends only on the party
 * (`party:<id>`), so publishing it again — the sweep after a crash — is deduplicated by every consumer.
 */
export function partyRegisteredEvent(party: PartyRegistered): {
  topic: 'identity.parties';
  key: string;
  eventId: string;
  value: PartyRegistered;
} {
  return { topic: 'identity.parties', key: party.partyId, eventId: `party:${party.partyId}`, value: party };
}
