import { Registry } from 'prom-client';

import { createBookkeeping } from '../../../../services/gateway/src/http/bookkeeping';
import { createLogger } from '../../../../services/platform/src/logger';

const failures = async (metrics: Registry) =>
  Object.fromEntries(
    ((await metrics.getSingleMetric('paystream_gateway_bookkeeping_failures_total')?.get())?.values ?? []).map((v) => [
      String(v.labels.write),
      v.value,
    ]),
  );

describe('createBookkeeping', () => {
  it('exports every write at 0 before any fails (an alert on the increase sees the first failure)', async () => {
    const metrics = new Registry();
    createBookkeeping(createLogger({ stream: { write: () => true } }), metrics);
    expect(await failures(metrics)).toEqual({ 'read-your-writes': 0, operation: 0, idempotency: 0 });
  });

  it('tells whether the write was made, and counts and logs one that failed without throwing', async () => {
    const metrics = new Registry();
    const lines: string[] = [];
    const bookkeeping = createBookkeeping(createLogger({ stream: { write: (l: string) => lines.push(l) } }), metrics);

    await expect(bookkeeping('operation', () => Promise.resolve('stored'))).resolves.toBe(true);
    await expect(
      bookkeeping('idempotency', () => Promise.reject(new Error('Command timed out after 1000ms'))),
    ).resolves.toBe(false);

    expect(await failures(metrics)).toEqual({ 'read-your-writes': 0, operation: 0, idempotency: 1 });
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 'warn', write: 'idempotency', error: 'Command timed out after 1000ms' }),
    ]);
  });
});
