import type { ChildProcess } from 'node:child_process';

import { processLedgerCommand } from '../../../services/ledger/src/domain/ledger';
import type {
  LedgerCommand,
  LedgerEntry,
  LedgerResult,
} from '../../../services/platform/src/sdk/event-types.generated';
import type { Output } from '../../../services/processor-runtime/src/processor';
import { integrationEnv } from '../../support/integration-env';
import type { IntegrationEnv } from '../../support/integration-env';
import { checkLedgerInvariants } from './ledger-invariants';
import { legsOf } from '../../support/ledger-model';
import type { LedgerModel } from '../../support/ledger-model';
import {
  LEDGER_TOPICS,
  ledgerWorkload,
  oracle,
  pendingCommands,
  publishCommands,
  readLedger,
  seeded,
  startLedgerProcess,
  stopProcess,
} from '../../support/ledger-workload';
import type { LedgerOutcome } from '../../support/ledger-workload';
import { readTopic } from '../../support/topic-reader';

const COMMANDS = Number(process.env.LEDGER_TEST_COMMANDS ?? 50_000);
const ACCOUNTS = Number(process.env.LEDGER_TEST_ACCOUNTS ?? 2_000);

const commands = ledgerWorkload(COMMANDS, ACCOUNTS);
const expected: LedgerModel = oracle(commands);
const expectedResults = [...expected.results.values()];

/**
 * When a command has more than one result, says where they are (partition, offset, duplicate flag) and how many
 * copies of the command itself are on ledger.commands, so a failure tells a re-processed input (one copy, a second
 * result flagged duplicate) from an input produced twice (two copies) or a reader that saw an aborted transaction.
 */
async function diagnoseDuplicates(env: IntegrationEnv, outcome: LedgerOutcome): Promise<string | undefined> {
  const byId = new Map<string, typeof outcome.results>();
  for (const r of outcome.results)
    if (r.value) byId.set(r.value.commandId, [...(byId.get(r.value.commandId) ?? []), r]);
  const twice = [...byId.entries()].filter(([, rs]) => rs.length > 1);
  if (twice.length === 0) return undefined;
  const sample = new Set(twice.slice(0, 5).map(([id]) => id));
  const inputs = await readTopic<LedgerCommand>(env, 'ledger.commands', () => true, { settleMs: 20_000 });
  const copies = new Map<string, string[]>();
  for (const c of inputs)
    if (c.value && sample.has(c.value.commandId))
      copies.set(c.value.commandId, [...(copies.get(c.value.commandId) ?? []), `${c.partition}@${c.offset}`]);
  const lines = twice
    .slice(0, 5)
    .map(
      ([id, rs]) =>
        `${id}: results ${rs.map((r) => `${r.partition}@${r.offset}${r.value?.duplicate ? ' (duplicate)' : ''}`).join(', ')}; ` +
        `command copies ${copies.get(id)?.join(', ') ?? 'none read'}`,
    );
  const flagged = twice.filter(([, rs]) => rs.some((r) => r.value?.duplicate)).length;
  return `${twice.length} commands with several results (${flagged} of them with a result flagged duplicate); first ones:\n${lines.join('\n')}`;
}

async function runWithProcesses(
  env: IntegrationEnv,
  kills: number,
): Promise<{ outcome: LedgerOutcome; killed: number; killedWithWorkPending: number; logs: string[] }> {
  const logs: string[] = [];
  const procs: ChildProcess[] = [startLedgerProcess(env, logs), startLedgerProcess(env, logs)];
  const random = seeded(99);
  let killed = 0;
  let killedWithWorkPending = 0;
  const admin = env.kafka.admin();
  await admin.connect();
  const pending = () => pendingCommands(env, admin);
  let publishing = true;
  const chaos = (async () => {
    while (killed < kills) {
      await new Promise((r) => setTimeout(r, 1_500 + random() * 2_500));
      const i = random() < 0.5 ? 0 : 1;
      const victim = procs[i];
      if (!victim) continue;
      if ((await pending()) > 1) killedWithWorkPending++;
      await stopProcess(victim, 'SIGKILL');
      killed++;
      procs[i] = startLedgerProcess(env, logs);
      if (!publishing && killed >= kills) break;
    }
  })();
  try {
    await publishCommands(env, commands);
    publishing = false;
    await chaos;
    try {
      const outcome = await readLedger(env, expectedResults.length, 240_000);
      return { outcome, killed, killedWithWorkPending, logs };
    } catch (err) {
      // What the ledger processes said is the first thing to read when a run does not complete.
      const tail = logs.join('').split('\n').slice(-60).join('\n');
      throw new Error(`${(err as Error).message}; pending ${await pending()}; ledger process logs:\n${tail}`);
    }
  } finally {
    await Promise.all(procs.map((p) => stopProcess(p)));
    await admin.disconnect();
  }
}

describe(`ledger: ${COMMANDS} commands over ${ACCOUNTS} accounts, one hot merchant, two processes`, () => {
  describe('without kills', () => {
    const env = integrationEnv('ledger-procs');
    let outcome: LedgerOutcome;
    beforeAll(async () => {
      await env.provision(LEDGER_TOPICS);
      outcome = (await runWithProcesses(env, 0)).outcome;
    }, 600_000);
    afterAll(() => env.cleanup());

    it('gives every command exactly one result, balanced postings, no negative balance, changelog = Σ entries = oracle', () => {
      checkLedgerInvariants(outcome, expected, ACCOUNTS);
    });

    it('is deterministic: replaying the command log from offset 0 into empty state yields identical results and entries', async () => {
      const log = await readTopic<LedgerCommand>(env, 'ledger.commands', (rs) => rs.length >= expectedResults.length, {
        timeoutMs: 120_000,
      });
      const byPartition = new Map<number, typeof log>();
      for (const r of log) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r]);
      const replayed: Output[] = [];
      for (const records of byPartition.values()) {
        records.sort((a, b) => (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
        const stores = new Map<string, Map<string, unknown>>();
        const state = { get: <T>(store: string, key: string) => stores.get(store)?.get(key) as T | undefined };
        for (const r of records) {
          if (!r.value) continue;
          const ts = r.timestamp;
          const result = processLedgerCommand(
            state,
            {
              topic: 'ledger.commands',
              partition: r.partition,
              offset: r.offset,
              key: r.key,
              value: r.value,
              eventId: r.value.commandId,
              correlationId: '',
              timestamp: ts,
            },
            { now: ts },
          );
          for (const c of result.state) {
            let m = stores.get(c.store);
            if (!m) stores.set(c.store, (m = new Map<string, unknown>()));
            m.set(c.key, c.value);
          }
          replayed.push(...result.outputs);
        }
      }
      const replayedResults = new Map(
        replayed.filter((o) => o.topic === 'ledger.results').map((o) => [(o.value as LedgerResult).commandId, o.value]),
      );
      const replayedEntries = new Map<string, LedgerEntry>();
      for (const o of replayed) {
        if (o.topic !== 'ledger.results') continue;
        for (const e of legsOf(o.value as LedgerResult)) replayedEntries.set(e.entryId, e);
      }
      expect(replayedResults.size).toBe(outcome.results.length);
      for (const r of outcome.results) expect(replayedResults.get(r.value?.commandId ?? '')).toEqual(r.value);
      expect(replayedEntries.size).toBe(outcome.entries.length);
      for (const e of outcome.entries) expect(replayedEntries.get(e.entryId)).toEqual(e);
    });
  });

  describe('with SIGKILLs', () => {
    const env = integrationEnv('ledger-chaos');
    let run: { outcome: LedgerOutcome; killed: number; killedWithWorkPending: number; logs: string[] };
    beforeAll(async () => {
      await env.provision(LEDGER_TOPICS);
      run = await runWithProcesses(env, 6);
    }, 900_000);
    afterAll(() => env.cleanup());

    it('killed processes with SIGKILL at random moments while commands were pending, and restarted them', () => {
      expect(run.killed).toBeGreaterThanOrEqual(5);
      expect(run.killedWithWorkPending).toBeGreaterThanOrEqual(5);
    });

    it('ends with the same balances and results as a run without kills: nothing lost, nothing applied twice', async () => {
      const stale = run.logs.join('').split('group offset behind the changelog').length - 1;
      console.log(`partitions resumed from the changelog because the group offset was not yet stable: ${stale}`);
      const diagnosis = await diagnoseDuplicates(env, run.outcome);
      if (diagnosis) console.error(diagnosis);
      checkLedgerInvariants(run.outcome, expected, ACCOUNTS);
    });
  });
});
