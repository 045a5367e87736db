/* eslint-disable @typescript-eslint/no-unsafe-member-access --
   HTTP response bodies are untyped JSON here; the assertions are what check their shape. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

import type { LedgerCommand } from '../../../services/platform/src/sdk/event-types.generated';
import { ALIVE_SECONDS } from '../../../services/gateway/src/adapters/idempotency-store';
import { SERVICE_NODE_FLAGS } from '../../../services/platform/src/service/node-flags';
import { freePorts } from '../../support/free-ports';
import { clientSignUp, httpClient, walletPlatform } from '../../support/gateway-env';
import type { WalletPlatform } from '../../support/gateway-env';
import { eventually } from '../../support/integration-env';
import { answerRecorder } from '../../support/openapi-contract';
import { PAYSTREAM_CLI } from '../../support/paystream-cli';
import { stopProcess } from '../../support/ledger-workload';
import { readTopic } from '../../support/topic-reader';
import type { ReadRecord } from '../../support/topic-reader';

jest.setTimeout(180_000);

/**
 * SPEC §5: kill -9 of any process at any moment loses no command and applies none twice. Here the process is the
 * gateway, killed while a deposit it sent waits for the ledger; the client retries with its Idempotency-Key through
 * another gateway process.
 */
describe('gateway killed with SIGKILL during a deposit', () => {
  let p: WalletPlatform;
  const children: ChildProcess[] = [];
  const logs: string[] = [];
  /** Every answer the gateways gave, checked against their OpenAPI document at the end (the 409s included). */
  const contract = answerRecorder();

  beforeAll(async () => {
    p = await walletPlatform('gateway-crash');
  });
  afterAll(async () => {
    for (const child of children) await stopProcess(child, 'SIGKILL', 1_000);
    await p.cleanup();
  });

  /** `paystream run gateway` as its own process, as a deployment runs it; resolves once it answers. */
  async function gatewayProcess() {
    const port = await freePorts(1);
    const child = spawn('node', [...SERVICE_NODE_FLAGS, PAYSTREAM_CLI, 'run', 'gateway'], {
      env: {
        ...process.env,
        PAYSTREAM_TOPIC_PREFIX: p.env.prefix,
        DATABASE_URL: p.db.url,
        PAYSTREAM_GATEWAY_PORT: String(port),
        PAYSTREAM_METRICS_PORT: '0',
        PAYSTREAM_LOG_LEVEL: 'warn',
        PAYSTREAM_REPLY_TIMEOUT_MS: '1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
    children.push(child);
    const url = `http://127.0.0.1:${port}`;
    await eventually(
      async () => ((await fetch(`${url}/status`).catch(() => undefined))?.ok ? true : undefined),
      60_000,
    );
    return {
      child,
      api: httpClient(url, contract.record),
    };
  }

  it('applies the deposit exactly once when the client retries with its key through another gateway', async () => {
    const a = await gatewayProcess();
    const signUp = clientSignUp(`crash-${Date.now()}@example.com`);
    const token = (await a.api('POST', '/client/signup', { body: signUp })).body.token as string;
    const wallet = (await a.api('POST', '/wallet/create', { token })).body.wallet as string;
    expect(wallet).toMatch(/^[A-Za-z0-9_-]{32}$/);
    /** The deposit commands sent for the wallet, once there are at least `count`. */
    const deposits = async (count = 1) =>
      (
        await readTopic<LedgerCommand>(p.env, 'ledger.commands', (records) => depositsIn(records).length >= count, {
          timeoutMs: 30_000,
        })
      ).filter((r) => depositsIn([r]).length > 0);
    const depositsIn = (records: ReadRecord<LedgerCommand>[]) =>
      records.filter((r) => r.value?.accountId === wallet && 'paystream.ledger.Deposit' in r.value.command);
    const deposit = (api: typeof a.api) =>
      api('POST', '/wallet/deposit', {
        token,
        body: { wallet, amount: '12.34' },
        headers: { 'idempotency-key': 'crash-deposit-1' },
      });

    // The ledger stopped: the deposit's command waits in Kafka while its gateway waits for the result.
    await p.stopLedger();
    let b: Awaited<ReturnType<typeof gatewayProcess>> | undefined;
    let killedAt = 0;
    try {
      const inFlight = deposit(a.api).then(
        (reply) => `answered ${reply.status}`,
        (err: Error) => err.message,
      );
      // Killed once its command is in Kafka and before the ledger answered it: the retry sends it a second time.
      await deposits();
      a.child.kill('SIGKILL');
      killedAt = Date.now();
      // The connection died with the process: no answer at all.
      expect(await inFlight).toBe('fetch failed');
      b = await gatewayProcess();
    } finally {
      await p.startLedger();
    }
    const other = b;

    // The retry: refused as in progress while the dead gateway's claim holds, which is until its heartbeat lapses
    // (ALIVE_SECONDS after its last beat; before, until the claim's lease ran out: twice the reply timeout and 30 s),
    // then run again with the same command id, which the ledger answers with its first result.
    const refusedAt: number[] = [];
    const retried = await eventually(async () => {
      const r = await deposit(other.api);
      if (r.status === 409) {
        expect(r.body.error.code).toBe('REQUEST_IN_PROGRESS');
        refusedAt.push(Date.now());
        return undefined;
      }
      return r;
    }, 90_000);
    expect(refusedAt.filter((t) => t > killedAt + (ALIVE_SECONDS + 3) * 1_000)).toEqual([]);
    // 200 with the balance after it, or 202 when the restarted ledger took longer than the reply timeout.
    if (retried.status === 200) expect(retried.body).toMatchObject({ wallet, balance: '12.34' });
    else expect(retried).toMatchObject({ status: 202, body: { status: 'PENDING' } });
    const balance = await eventually(async () => {
      const info = await other.api<{ balance: string }>('GET', `/wallet/info/${wallet}`, { token });
      return info.body.balance === '12.34' ? info.body.balance : undefined;
    }, 60_000);
    expect(balance).toBe('12.34');
    // Once: one deposit entry, and a later retry gets the same answer without applying anything.
    const entries = await eventually(async () => {
      const r = await p.db.pool.query<{ n: string; sum: string }>(
        'select count(*)::text as n, coalesce(sum(amount_minor), 0)::text as sum from ledger_entries where account_id = $1',
        [wallet],
      );
      return r.rows[0]?.n === '1' ? r.rows[0] : undefined;
    });
    expect(entries).toEqual({ n: '1', sum: '1234' });
    // The command was sent twice, by the dead gateway and by the retry, under one command id: the ledger applied it once.
    const sent = await deposits(2);
    expect(sent).toHaveLength(2);
    expect(new Set(sent.map((r) => r.value?.commandId)).size).toBe(1);
    const again = await deposit(other.api);
    expect(again.status).toBe(retried.status);
    expect(again.body).toEqual(retried.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await other.api('GET', `/wallet/info/${wallet}`, { token })).body.balance).toBe('12.34');
    expect(contract.violations((await other.api('GET', '/openapi.json')).body)).toEqual([]);
  });
});
