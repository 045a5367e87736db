import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { PaystreamError } from '../../../../services/platform/src/errors';
import { integrationEnv } from '../../../support/integration-env';

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
