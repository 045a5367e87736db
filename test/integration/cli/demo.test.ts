import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { freePorts } from '../../support/free-ports';
import { walletPlatform } from '../../support/gateway-env';
import type { WalletPlatform } from '../../support/gateway-env';

/**
 * `paystream demo`: seed 004's wallet flow and seed 003's bulk transfer through a running gateway, each answer checked
 * by the demo itself (a step answered otherwise than documented ends it with exit 1).
 */
describe('paystream demo', () => {
  let p: WalletPlatform;
  let gateway: string;

  beforeAll(async () => {
    p = await walletPlatform('cli-demo');
    gateway = (await p.gateway()).url;
  });
  afterAll(async () => {
    await p.cleanup();
  });

  it('walks through both seeds, and can run again on the same platform', async () => {
    for (const run of [1, 2]) {
      const out = await p.cli('demo', '--gateway', gateway);
      expect({ run, code: out.code, stderr: out.stderr }).toEqual({ run, code: 0, stderr: '' });
      const lines = out.stdout.split('\n');
      const step = (n: number) => lines.find((l) => l.startsWith(`  ${String(n).padStart(2)}. `)) ?? '';
      expect(step(5)).toMatch(/200 {2}balance 100\.50$/);
      expect(step(6)).toMatch(/200 {2}replayed \(idempotent-replayed: true\), balance 100\.50$/);
      expect(step(7)).toMatch(/200 {2}Tienda SL's wallet \S+ now holds 30\.25$/);
      expect(step(8)).toMatch(/422 {2}INSUFFICIENT_FUNDS \(field amount\)$/);
      expect(step(11)).toMatch(/200 {2}balance 70\.25 EUR$/);
      expect(step(12)).toMatch(/200 {2}Cena 500\.00 \(failed\); Café y tostadas 30\.25; deposit 100\.50$/);
      expect(step(14)).toMatch(/401 {2}INVALID_TOKEN/);
      expect(step(16)).toMatch(/201 {2}bulk \S+ ACCEPTED, 1545\.67 EUR debited$/);
      expect(step(17)).toMatch(/409 {2}DUPLICATE_REQUEST/);
      expect(step(18)).toMatch(/200 {2}ACCEPTED, 2 credit transfers$/);
      expect(out.stdout).toContain('demo done: 18 steps answered as documented');
    }
    // Each run its own parties and organization: two of each, every organization debited by its one bulk.
    const orgs = await p.db.pool.query<{ account_id: string }>(
      "select account_id from gateway_organizations where name like 'Demo Corp %'",
    );
    expect(orgs.rows).toHaveLength(2);
    for (const { account_id } of orgs.rows) await p.settledBalance(account_id, String(7_777_777 - 154_567));
    const parties = await p.db.pool.query("select 1 from gateway_credentials where email like '%@demo.paystream.test'");
    expect(parties.rows).toHaveLength(4);
  }, 120_000);

  it('an answer other than the documented one ends the demo at that step, exit 1', async () => {
    // A gateway that answers every request 503, as when its Redis is down.
    const server = http.createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'redis is unavailable', field: null } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const out = await p.cli('demo', '--gateway', `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain(
        'demo step 1 (Ana signs up as a client): expected 201, got 503 {"error":{"code":"UNAVAILABLE","message":"redis is unavailable","field":null}}',
      );
      expect(out.stdout).not.toContain('demo done');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a gateway that does not answer fails the first step, exit 1', async () => {
    const out = await p.cli('demo', '--gateway', `http://127.0.0.1:${await freePorts(1)}`);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/demo step 1: POST \/client\/signup got no answer from http:\/\/127\.0\.0\.1:\d+/);
  });
});
