import http from 'node:http';

import { Pool } from 'pg';

/**
 * The seed's way (seed 004, Django + Postgres), reduced to `POST /wallet/charge` for the API benchmark's baseline:
 * token authentication by a database lookup, then one transaction per request that locks the payer's and the
 * merchant's wallet rows (`SELECT … FOR UPDATE`), checks the balance, updates both and appends to the history.
 * Runs as its own process: `node dist/bench/seed-charge-server.js <port>` with DATABASE_URL pointing at a schema
 * that holds the tables created by `seedSchema`.
 */
export const seedSchema = `
  create table seed_auth_tokens (token text primary key, user_id text not null, is_merchant boolean not null);
  create table seed_wallets (token text primary key, owner_id text not null, balance bigint not null);
  create table seed_operations (
    id bigserial primary key, source text, target text not null, amount bigint not null, summary text,
    success boolean not null, date timestamptz not null default now());
  create index seed_operations_target_date on seed_operations (target, date desc);`;

function main(): void {
  const port = Number(process.argv[2] ?? 0);
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 32 });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, Buffer.concat(chunks).toString('utf8')).then(
        ({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
        (err: unknown) => res.writeHead(500).end(JSON.stringify({ error: String(err) })),
      );
    });
  });

  async function handle(req: http.IncomingMessage, raw: string): Promise<{ status: number; body: unknown }> {
    if (req.method !== 'POST' || req.url !== '/wallet/charge') return { status: 404, body: {} };
    const token = /^Token (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const user = token
      ? (
          await pool.query<{ user_id: string; is_merchant: boolean }>(
            'select user_id, is_merchant from seed_auth_tokens where token = $1',
            [token],
          )
        ).rows[0]
      : undefined;
    if (!user) return { status: 401, body: {} };
    if (!user.is_merchant) return { status: 403, body: {} };
    const body = JSON.parse(raw) as { wallet: string; amount: string; summary: string };
    const [whole = '0', frac = ''] = body.amount.split('.');
    const amount = BigInt(whole) * 100n + BigInt(frac.padEnd(2, '0') || '0');
    const client = await pool.connect();
    try {
      await client.query('begin');
      const mine = (
        await client.query<{ token: string }>('select token from seed_wallets where owner_id = $1', [user.user_id])
      ).rows[0];
      if (!mine) throw new Error('merchant has no wallet');
      // Lock both rows in a fixed order, as a careful implementation of the seed would, to avoid deadlocks.
      const [first, second] = [body.wallet, mine.token].sort();
      const rows = await client.query<{ token: string; balance: string }>(
        'select token, balance::text from seed_wallets where token = any($1) order by token for update',
        [[first, second]],
      );
      const payer = rows.rows.find((r) => r.token === body.wallet);
      if (!payer) {
        await client.query('rollback');
        return { status: 404, body: {} };
      }
      if (BigInt(payer.balance) < amount) {
        await client.query(
          'insert into seed_operations (source, target, amount, summary, success) values ($1, $2, $3, $4, false)',
          [body.wallet, mine.token, amount, body.summary],
        );
        await client.query('commit');
        return { status: 422, body: { error: 'insufficient funds' } };
      }
      await client.query('update seed_wallets set balance = balance - $2 where token = $1', [body.wallet, amount]);
      const after = await client.query<{ balance: string }>(
        'update seed_wallets set balance = balance + $2 where token = $1 returning balance::text',
        [mine.token, amount],
      );
      await client.query(
        'insert into seed_operations (source, target, amount, summary, success) values ($1, $2, $3, $4, true)',
        [body.wallet, mine.token, amount, body.summary],
      );
      await client.query('commit');
      return { status: 200, body: { wallet: mine.token, balance: after.rows[0]?.balance } };
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    console.log(`listening ${typeof address === 'object' && address ? address.port : port}`);
  });
  process.once('SIGTERM', () => {
    server.close();
    void pool.end().then(() => process.exit(0));
  });
}

if (require.main === module) main();
