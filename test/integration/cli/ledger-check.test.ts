import { creditCommandId, reversalCommandId } from '../../../services/platform/src/sdk/ledger-ids';
import { walletPlatform } from '../../support/gateway-env';
import type { WalletPlatform } from '../../support/gateway-env';
import { eventually } from '../../support/integration-env';
import { cmd } from '../../support/ledger-model';
import { publishCommands } from '../../support/ledger-workload';

/**
 * `paystream ledger check` reads the ledger's read model, as the real ledger and sink wrote it, in one snapshot and
 * finds nothing wrong; every row an operator (or a bug) changes afterwards is named, with exit code 1.
 */
describe('paystream ledger check', () => {
  let p: WalletPlatform;
  const alice = 'check-alice';
  const shop = 'check-shop';
  const org = 'check-org';
  const toShop = cmd.charge(alice, shop, 300n);
  const toNobody = cmd.charge(alice, 'check-nobody', 50n);
  const commands = [
    cmd.open(alice),
    cmd.open(shop, 'EUR', 'MERCHANT'),
    cmd.open(org, 'EUR', 'ORGANIZATION'),
    cmd.deposit(alice, 1_000n),
    cmd.deposit(org, 5_000n),
    toShop,
    cmd.charge(alice, shop, 2_000n),
    toNobody,
    cmd.bulk(org, [1_000n, 2_000n]),
  ];
  /** Every result the commands lead to: their own, the two credits, and the reversal of the one that cannot land. */
  const resultIds = [
    ...commands.map((c) => c.commandId),
    creditCommandId(toShop.commandId),
    creditCommandId(toNobody.commandId),
    reversalCommandId(creditCommandId(toNobody.commandId)),
  ];
  const check = () => p.cli('ledger', 'check');
  const sql = (text: string, values: unknown[]) => p.db.pool.query(text, values);

  beforeAll(async () => {
    p = await walletPlatform('cli-ledger-check');
    await publishCommands(p.env, commands);
    await eventually(async () => {
      const { rows } = await p.db.pool.query<{ n: number }>(
        'select count(*)::int as n from ledger_results where command_id = any($1)',
        [resultIds],
      );
      return rows[0]?.n === resultIds.length ? true : undefined;
    }, 60_000);
    // The balances table is written from its own topic: wait until it is at the results' versions.
    await eventually(async () => {
      const { rows } = await p.db.pool.query<{ n: number }>(
        `select count(*)::int as n from balances b
         where b.account_id = any($1) and b.version = (
           select max(r.balance_version) from ledger_results r where r.account_id = b.account_id and r.accepted)`,
        [[alice, shop, org]],
      );
      return rows[0]?.n === 3 ? true : undefined;
    }, 60_000);
  });
  afterAll(() => p.cleanup());

  it('finds the read model the ledger and the sink wrote sound', async () => {
    const out = await check();
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    // Postings: two deposits, the charge and its credit, the charge that came back and its reversal, the bulk.
    expect(out.stdout).toContain('postings: 7 checked, 0 whose entries do not sum to zero');
    expect(out.stdout).toContain('accounts: 3 checked, 0 whose entries do not sum');
    expect(out.stdout).toContain('balances table: 3 at their latest result');
    expect(out.stdout).toContain('negative balances where not allowed: 0');
    expect(out.stdout).toContain('money per currency (all entries, system accounts included): EUR 0');
    expect(out.stdout.trim().split('\n').at(-1)).toBe('ok: the read model holds every guarantee checked');
  });

  it('names a posting, an account and a balance that no longer agree, and exits 1', async () => {
    // One leg of the shop's credit changed: its posting, the shop's entries and the currency's total are off by 1.
    const leg = await p.db.pool.query<{ entry_id: string }>(
      'select entry_id from ledger_entries where account_id = $1 and posting_id = $2',
      [shop, creditCommandId(toShop.commandId)],
    );
    const entryId = leg.rows[0]?.entry_id;
    expect(entryId).toEqual(expect.any(String));
    await sql('update ledger_entries set amount_minor = amount_minor + 1 where entry_id = $1', [entryId]);
    // An entry of another currency in the same posting, on a system account: the posting is off twice, counted once.
    await sql(
      `insert into ledger_entries (entry_id, posting_id, command_id, account_id, amount_minor, currency, kind, posted_at)
       values ('check-usd', $1, $2, 'system:check', 5, 'USD', 'credit', now())`,
      [creditCommandId(toShop.commandId), toShop.commandId],
    );
    // Alice's row in the balances table changed, below zero.
    await sql('update balances set balance_minor = -5 where account_id = $1', [alice]);
    try {
      const out = await check();
      expect(out.code).toBe(1);
      expect(out.stdout).toContain('postings: 7 checked, 1 whose entries do not sum to zero');
      expect(out.stdout).toContain(
        `\n    posting ${creditCommandId(toShop.commandId)}: EUR entries sum to 1 minor units, USD entries sum to 5 ` +
          'minor units\naccounts:',
      );
      expect(out.stdout).toContain(`    account ${shop}: latest result 300, entries 301`);
      expect(out.stdout).toMatch(new RegExp(`    account ${alice} at version \\d+: table -5, result 700`));
      expect(out.stdout).toContain('negative balances where not allowed: 1');
      expect(out.stdout).toContain(`    account ${alice}: -5`);
      expect(out.stdout).toContain('money per currency (all entries, system accounts included): EUR 1, USD 5\n');
      expect(out.stdout.trim().split('\n').at(-1)).toBe('FAILED: see the findings above');
    } finally {
      await sql('update ledger_entries set amount_minor = amount_minor - 1 where entry_id = $1', [entryId]);
      await sql("delete from ledger_entries where entry_id = 'check-usd'", []);
      await sql('update balances set balance_minor = 700 where account_id = $1', [alice]);
    }
    expect((await check()).code).toBe(0);
  });
});
