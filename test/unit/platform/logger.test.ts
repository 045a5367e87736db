import { createLogger, redact } from '../../../services/platform/src/logger';

function capture() {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => lines.push(s) } };
}

describe('logger', () => {
  it('writes one JSON object per line with time, level, message, bindings and fields', () => {
    const { lines, stream } = capture();
    const log = createLogger({ stream, now: () => new Date('2026-01-02T03:04:05.000Z') }).child({ service: 'x' });
    log.info('hello', { n: 1n });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toEqual({
      time: '2026-01-02T03:04:05.000Z',
      level: 'info',
      msg: 'hello',
      service: 'x',
      n: '1',
    });
  });

  it('drops records below the level', () => {
    const { lines, stream } = capture();
    const log = createLogger({ stream, level: 'warn' });
    log.info('quiet');
    log.debug('quieter');
    log.warn('loud');
    expect(lines).toHaveLength(1);
  });

  it('redacts secrets, credentials in URLs and full account numbers', () => {
    expect(
      redact({
        password: 'hunter2',
        apiKey: 'k',
        authorization: 'Token abc',
        url: 'postgres://paystream:s3cret@db:5432/x',
        counterpartyIban: 'ES9121000418450200051332',
        cuentaBeneficiario: '646180157000000004',
        nested: [{ secret: 'x' }],
      }),
    ).toEqual({
      password: '***',
      apiKey: '***',
      authorization: '***',
      url: 'postgres://paystream:***@db:5432/x',
      counterpartyIban: '****1332',
      cuentaBeneficiario: '****0004',
      nested: [{ secret: '***' }],
    });
  });
});
