import { readFileSync } from 'node:fs';
import path from 'node:path';

import { SchemaCatalogue } from '../../../../services/platform/src/schemas/schema-catalogue';
import { generateTypes } from '../../../../services/platform/src/schemas/typescript-codegen';

describe('SchemaCatalogue', () => {
  const catalogue = SchemaCatalogue.load();

  it('has the ledger commands and results and one event for every other domain', () => {
    const names = catalogue.topics.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'ledger.commands',
        'ledger.results',
        'ledger.entries',
        'ledger.balances',
        'bulk.credit-transfers',
        'bank.payments',
        'spei.order-requests',
        'matching.transactions',
      ]),
    );
    expect(catalogue.topic('ledger.balances').cleanupPolicy).toBe('compact');
  });

  it('inlines types from other files once, so each topic schema is self-contained', () => {
    const schema = catalogue.schemaOf('paystream.ledger.LedgerCommand');
    const text = JSON.stringify(schema);
    expect(text.match(/"name":"OwnerKind"/g)).toHaveLength(1);
    expect(text).toContain('"name":"BulkCreditItem"');
    const { type } = catalogue.valueType('ledger.commands');
    const value = {
      commandId: 'c1',
      accountId: 'a1',
      issuedAt: new Date(1_700_000_000_000),
      command: { 'paystream.ledger.Deposit': { amountMinor: 500n, currency: 'EUR', reference: null } },
    };
    expect(type.fromBuffer(type.toBuffer(value))).toEqual(value);
  });

  it('checks every value schema of the catalogue with avsc', () => {
    for (const t of catalogue.topics) expect(() => catalogue.valueType(t.name)).not.toThrow();
  });

  it('refuses a topic that is not in the catalogue', () => {
    expect(() => catalogue.topic('nope')).toThrow(/not in the catalogue/);
  });

  it('keeps the checked-in TypeScript types in step with the schemas', () => {
    const file = path.join(__dirname, '../../../../services/platform/src/sdk/event-types.generated.ts');
    expect(readFileSync(file, 'utf8')).toBe(generateTypes(catalogue));
  });
});
