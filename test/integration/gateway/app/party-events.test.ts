import { Directory } from '../../../../services/gateway/src/adapters/directory';
import { republishPartyEvents } from '../../../../services/gateway/src/app/party-events';
import { EventProducer } from '../../../../services/platform/src/events/event-producer';
import { silentLogger } from '../../../../services/platform/src/logger';
import type { PartyRegistered } from '../../../../services/platform/src/sdk/event-types.generated';
import { integrationEnv } from '../../../support/integration-env';
import { testDatabase } from '../../../support/sink-env';
import { readTopic } from '../../../support/topic-reader';

describe('party events a crash left unpublished', () => {
  const env = integrationEnv('party-events');
  let db: Awaited<ReturnType<typeof testDatabase>>;
  const events = new EventProducer({ kafka: env.kafka, schemas: env.schemas, logger: silentLogger });

  beforeAll(async () => {
    await env.provision(['identity.parties']);
    db = await testDatabase('party_events', env.config.database.url);
  });
  afterAll(async () => {
    await events.disconnect();
    await db.cleanup();
    await env.cleanup();
  });

  it('are published once their row is past the grace period, with the sign-up’s event id, and only once', async () => {
    const directory = new Directory(db.pool);
    const insertParty = (
      id: string,
      kind: string,
      email: string,
      profile: object,
      ageSeconds: number,
      published: boolean,
    ) =>
      db.pool.query(
        `insert into gateway_credentials (party_id, kind, email, password_hash, profile, created_at, event_published_at)
         values ($1, $2, $3, 'x', $4, now() - make_interval(secs => $5), case when $6 then now() end)`,
        [id, kind, email, JSON.stringify(profile), ageSeconds, published],
      );
    // A client and a company whose gateway died after writing their rows, 10 minutes ago.
    await insertParty(
      'pty_crashed',
      'CLIENT',
      'ana@example.com',
      { first_name: 'Ana', last_name: 'García' },
      600,
      false,
    );
    await insertParty('pty_shop', 'MERCHANT', 'shop@example.com', { name: 'Bip Bip', first_name: 'B' }, 590, false);
    // A sign-up still in flight (just written) and one that finished: neither is touched.
    await insertParty('pty_inflight', 'CLIENT', 'new@example.com', { first_name: 'N', last_name: 'W' }, 1, false);
    await insertParty('pty_done', 'CLIENT', 'done@example.com', { first_name: 'D', last_name: 'N' }, 900, true);
    // An organization provisioned by an operator whose command died before the event.
    await db.pool.query(
      `insert into gateway_organizations (organization_id, name, iban, bic, account_id, currency, api_key_sha256, created_at)
       values ('org_1', 'Wonderland Ltd', 'FR1420041010050500013M02606', 'CRLYFRPPTOU', 'acct_org_1', 'EUR', 'h', now() - interval '20 minutes')`,
    );

    const deps = { directory, events, logger: silentLogger };
    expect(await republishPartyEvents(deps)).toBe(3);
    expect(await republishPartyEvents(deps)).toBe(0); // marked: the next sweep has nothing to do

    const read = await readTopic<PartyRegistered>(env, 'identity.parties', (rs) => rs.length >= 3, { settleMs: 500 });
    // Three partitions: order by event id. Exactly three records (the settle time would catch a second publish).
    const records = [...read].sort((a, b) =>
      String(a.headers['event-id']).localeCompare(String(b.headers['event-id'])),
    );
    expect(
      records.map((r) => [
        r.headers['event-id'],
        r.value?.partyId,
        r.value?.kind,
        r.value?.email,
        r.value?.displayName,
      ]),
    ).toEqual([
      ['party:org_1', 'org_1', 'ORGANIZATION', null, 'Wonderland Ltd'],
      ['party:pty_crashed', 'pty_crashed', 'CLIENT', 'ana@example.com', 'Ana García'],
      ['party:pty_shop', 'pty_shop', 'MERCHANT', 'shop@example.com', 'Bip Bip'],
    ]);
    const created = await db.pool.query<{ created_at: Date }>(
      `select created_at from gateway_credentials where party_id = 'pty_crashed'`,
    );
    expect(records[1]?.value?.registeredAt).toEqual(created.rows[0]?.created_at);
    const unpublished = await db.pool.query<{ id: string }>(
      `select party_id as id from gateway_credentials where event_published_at is null
       union all select organization_id from gateway_organizations where event_published_at is null`,
    );
    expect(unpublished.rows.map((r) => r.id)).toEqual(['pty_inflight']);
  });
});
