import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { PaystreamError } from '../../../../services/platform/src/errors';
import { integrationEnv } from '../../../support/integration-env';
import { withoutFields } from '../../../support/schema-versions';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '../../../..');
const CLI = path.join(ROOT, 'bin/paystream.js');

describe('schema governance against the registry (BACKWARD)', () => {
  const env = integrationEnv('evolution');
  beforeAll(() => env.provision(['bank.payments']));
  afterAll(() => env.cleanup());

  const base = () => structuredClone(env.catalogue.schemaOf('paystream.bank.PaymentReceived')) as { fields: object[] };

  it('sets BACKWARD on the subject explicitly', async () => {
    const res = await fetch(`${env.config.schemaRegistry.url}/config/${env.schemas.subject('bank.payments')}`);
    expect(((await res.json()) as { compatibilityLevel: string }).compatibilityLevel).toBe('BACKWARD');
  });

  it('registering the same schema again returns the same id (idempotent)', async () => {
    const first = await env.schemas.register('bank.payments');
    const again = await env.schemas.register('bank.payments');
    expect(again.id).toBe(first.id);
  });

  it('accepts a new field with a default', async () => {
    const first = await env.schemas.schemaId('bank.payments');
    const evolved = base();
    evolved.fields.push({ name: 'channel', type: 'string', default: 'api' });
    const { id } = await env.schemas.register('bank.payments', evolved);
    expect(id).not.toBe(first);
  });

  it('refuses a new field without a default with the registry message', async () => {
    const evolved = base();
    evolved.fields.push({ name: 'mandatoryNewField', type: 'string' });
    const err = await env.schemas.register('bank.payments', evolved).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PaystreamError);
    expect((err as PaystreamError).code).toBe('SCHEMA_INCOMPATIBLE');
    expect((err as PaystreamError).retryable).toBe(false);
    // The registry's own verdict (HTTP 409 with its diff), not the client's local check.
    expect((err as { cause?: { status?: number } }).cause?.status).toBe(409);
    expect((err as PaystreamError).message).toMatch(/Incompatible.*mandatoryNewField/);
  });

  it('`paystream schemas register` exits non-zero and prints the registry message on an incompatible change', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'schemas-'));
    cpSync(path.join(ROOT, 'schemas'), dir, { recursive: true });
    const file = path.join(dir, 'bank/payment-received.avsc');
    const schema = JSON.parse(readFileSync(file, 'utf8')) as { fields: { name: string; type: unknown }[] };
    // Changing a field's type from long to string breaks every reader of the old data.
    schema.fields = schema.fields.map((f) => (f.name === 'amountMinor' ? { ...f, type: 'string' } : f));
    writeFileSync(file, JSON.stringify(schema));
    const result = await run('node', [CLI, 'schemas', 'register', '--prefix', env.prefix, '--dir', dir]).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SCHEMA_INCOMPATIBLE');
    expect(result.stderr).toContain(env.schemas.subject('bank.payments'));
    expect(result.stderr).toMatch(/Incompatible artifact/);
  });
});

/** An AccountBalance as written before `openedAt` existed. */
const oldBalanceValue = {
  accountId: 'c-1',
  ownerKind: 'CLIENT',
  ownerId: 'p-1',
  currency: 'EUR',
  balanceMinor: 1_050n,
  allowNegative: false,
  closed: false,
  version: 2n,
  updatedAt: new Date('2026-11-20T10:00:00Z'),
};

describe('records written with an earlier schema version read in the current shape', () => {
  const env = integrationEnv('evolution-read');
  const result = (accountId: string) => ({
    commandId: 'dep-1',
    accountId,
    processedAt: new Date('2026-11-20T10:00:00Z'),
    outcome: {
      'paystream.ledger.CommandAccepted': {
        balanceAfterMinor: 1_050n,
        currency: 'EUR',
        entryIds: ['dep-1:0', 'dep-1:1'],
      },
    },
    duplicate: false,
  });
  const balance = oldBalanceValue;
  let oldResult: Buffer;
  let oldBalance: Buffer;
  let oldIds: number[];

  beforeAll(async () => {
    // The versions before `request`, `requestFingerprint`, `balanceVersion`, `entries` and `openedAt` existed, registered and written
    // first, as an earlier release did; then the current catalogue is registered on top.
    const results = withoutFields(env.catalogue.schemaOf('paystream.ledger.LedgerResult'), 'LedgerResult', [
      'request',
      'requestFingerprint',
    ]);
    const v1Result = withoutFields(results, 'CommandAccepted', ['balanceVersion', 'entries']);
    const v1Balance = withoutFields(env.catalogue.schemaOf('paystream.ledger.AccountBalance'), 'AccountBalance', [
      'openedAt',
    ]);
    oldIds = [
      (await env.schemas.register('ledger.results', v1Result)).id,
      (await env.schemas.register('ledger.balances', v1Balance)).id,
    ];
    oldResult = await env.schemas.encode('ledger.results', result('c-1'));
    oldBalance = await env.schemas.encode('ledger.balances', balance);
    await env.provision(['ledger.results', 'ledger.balances']);
  });
  afterAll(() => env.cleanup());

  it('the old records carry the old schema ids, and the current schemas are newer versions', async () => {
    expect([oldResult.readInt32BE(1), oldBalance.readInt32BE(1)]).toEqual(oldIds);
    expect(await env.schemas.schemaId('ledger.results')).not.toBe(oldIds[0]);
    expect(await env.schemas.schemaId('ledger.balances')).not.toBe(oldIds[1]);
  });

  it('fields added since take their defaults, through decode and decodeKnown alike', async () => {
    const { value } = await env.schemas.decode(oldResult);
    expect(value).toEqual({
      ...result('c-1'),
      outcome: {
        'paystream.ledger.CommandAccepted': {
          ...result('c-1').outcome['paystream.ledger.CommandAccepted'],
          balanceVersion: 0n,
          entries: [],
        },
      },
      request: null,
      requestFingerprint: null,
    });
    expect(env.schemas.decodeKnown(oldResult)?.value).toEqual(value);
    expect((await env.schemas.decode(oldBalance)).value).toEqual({ ...balance, openedAt: null });
  });

  it('a value read from an old record can be written again with the current schema', async () => {
    const { value } = await env.schemas.decode(oldBalance);
    const again = await env.schemas.encode('ledger.balances', value);
    expect(again.readInt32BE(1)).toBe(await env.schemas.schemaId('ledger.balances'));
    expect((await env.schemas.decode(again)).value).toEqual({ ...balance, openedAt: null });
  });

  it('a record of the current version decodes unchanged', async () => {
    const current = { ...balance, openedAt: new Date('2026-11-19T08:00:00Z') };
    const bytes = await env.schemas.encode('ledger.balances', current);
    expect((await env.schemas.decode(bytes)).value).toEqual(current);
  });
});

describe('records written by a newer release', () => {
  const env = integrationEnv('evolution-newer');
  const balance = { ...oldBalanceValue, openedAt: new Date('2026-11-19T08:00:00Z') };
  const current = () =>
    structuredClone(env.catalogue.schemaOf('paystream.ledger.AccountBalance')) as { fields: object[] };
  beforeAll(() => env.provision(['ledger.balances']));
  afterAll(() => env.cleanup());

  it('a field this release does not know is dropped: the value reads in the current shape', async () => {
    const newer = current();
    newer.fields.push({ name: 'tier', type: 'string', default: 'basic' });
    await env.schemas.register('ledger.balances', newer);
    const bytes = await env.schemas.encode('ledger.balances', { ...balance, tier: 'gold' });
    expect((await env.schemas.decode(bytes)).value).toEqual(balance);
  });

  it('a writer this release cannot resolve (a field it needs was removed) is read in its own shape', async () => {
    const newer = withoutFields(env.catalogue.schemaOf('paystream.ledger.AccountBalance'), 'AccountBalance', [
      'allowNegative',
    ]);
    await env.schemas.register('ledger.balances', newer);
    const rest: Partial<typeof balance> = { ...balance };
    delete rest.allowNegative;
    const bytes = await env.schemas.encode('ledger.balances', rest);
    const { value } = await env.schemas.decode(bytes);
    expect(value).toEqual(rest);
    expect(value).not.toHaveProperty('allowNegative');
  });
});
