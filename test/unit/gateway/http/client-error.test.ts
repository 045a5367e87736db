import { Duplex } from 'node:stream';

import { Registry } from 'prom-client';

import { answerClientError, clientErrorAnswer } from '../../../../services/gateway/src/http/client-error';

/** An in-memory connection: what the gateway writes to it, and whether it was destroyed. */
function connection(extra: Record<string, unknown> = {}) {
  const written: Buffer[] = [];
  const socket = Object.assign(
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        written.push(chunk);
        done();
      },
    }),
    extra,
  );
  return { socket, text: () => Buffer.concat(written).toString('utf8') };
}

const failure = (code: string) => Object.assign(new Error(code), { code });

describe('answerClientError', () => {
  it('answers a request not received in time 408 with the JSON error body and closes the connection', () => {
    const { socket, text } = connection();
    answerClientError(failure('ERR_HTTP_REQUEST_TIMEOUT'), socket);
    const [head = '', body = ''] = text().split('\r\n\r\n');
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(head).toContain('\r\nconnection: close');
    expect(head).toContain(`\r\ncontent-length: ${Buffer.byteLength(body)}`);
    expect(JSON.parse(body)).toEqual({
      error: { code: 'REQUEST_TIMEOUT', message: 'the request was not received in time; send it again' },
    });
    expect(socket.writableEnded).toBe(true);
  });

  it('answers any other parse failure 400 MALFORMED_REQUEST', () => {
    const { socket, text } = connection();
    answerClientError(failure('HPE_INVALID_METHOD'), socket);
    expect(text()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(text().split('\r\n\r\n')[1]!)).toMatchObject({ error: { code: 'MALFORMED_REQUEST' } });
  });

  it('counts what it answered by status, and not the connections it only closed', async () => {
    const metrics = new Registry();
    const listener = clientErrorAnswer(metrics);
    for (const code of ['HPE_HEADER_OVERFLOW', 'HPE_HEADER_OVERFLOW', 'HPE_INVALID_METHOD', 'ECONNRESET'])
      listener(failure(code), connection().socket);
    const counted = (await metrics.getSingleMetric('paystream_gateway_unparsed_requests_total')?.get())?.values;
    expect(Object.fromEntries((counted ?? []).map((v) => [v.labels.status, v.value]))).toEqual({ 431: 2, 400: 1 });
  });

  it('writes nothing on a connection the peer reset, or one already carrying a response, and destroys it', () => {
    for (const [err, extra] of [
      [failure('ECONNRESET'), {}],
      [failure('HPE_INVALID_CHUNK_SIZE'), { _httpMessage: { headersSent: true } }],
    ] as const) {
      const { socket, text } = connection(extra);
      answerClientError(err, socket);
      expect(text()).toBe('');
      expect(socket.destroyed).toBe(true);
    }
  });
});
