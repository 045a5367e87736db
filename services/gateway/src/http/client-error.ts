import { randomUUID } from 'node:crypto';
import { maxHeaderSize } from 'node:http';
import type { Duplex } from 'node:stream';

import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

import { errorBody } from '../domain/api-error';
import { ANSWER_HEADERS } from './context';

/**
 * The server's `clientError` listener: the answer to a request Node's HTTP parser refused before the app saw it (a
 * request line and headers larger than Node's limit, bytes that are not HTTP, a request not received within
 * `requestTimeout`): the same JSON error body and answer headers as every other answer, instead of Node's bare status line.
 * The connection is closed after it, as Node does: what follows a request that could not be parsed cannot be read as
 * a request either. Nothing is written on a socket the peer reset, or one that already carries a response's headers.
 */
export function clientErrorAnswer(metrics: Registry): (err: Error & { code?: string }, socket: Duplex) => void {
  // Never seen by the app, so not in paystream_gateway_requests_total: counted here, by the status answered.
  const refused = new Counter({
    name: 'paystream_gateway_unparsed_requests_total',
    help: "Requests Node's HTTP parser refused before the gateway read them, by the status they were answered",
    labelNames: ['status'],
    registers: [metrics],
  });
  return (err, socket) => {
    const status = answerClientError(err, socket);
    if (status !== undefined) refused.inc({ status: String(status) });
  };
}

/** Answers one refused request (see {@link clientErrorAnswer}); the status written, or undefined when none was. */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): number | undefined {
  const answering = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || answering?.headersSent === true) {
    socket.destroy();
    return undefined;
  }
  const [status, reason, code, message, field] = refusal(err.code);
  const body = JSON.stringify(errorBody(code, message, field));
  socket.end(
    [
      `HTTP/1.1 ${status} ${reason}`,
      'content-type: application/json; charset=utf-8',
      `content-length: ${Buffer.byteLength(body)}`,
      ...Object.entries(ANSWER_HEADERS).map(([name, value]) => `${name}: ${value}`),
      `x-request-id: ${randomUUID()}`,
      'connection: close',
      '',
      body,
    ].join('\r\n'),
  );
  return status;
}

type Refusal = [status: number, reason: string, code: string, message: string, field?: string];

function refusal(code: string | undefined): Refusal {
  if (code === 'HPE_HEADER_OVERFLOW')
    return [
      431,
      'Request Header Fields Too Large',
      'HEADERS_TOO_LARGE',
      `the request line and headers together are larger than the gateway reads (${maxHeaderSize} bytes)`,
      'headers',
    ];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return [408, 'Request Timeout', 'REQUEST_TIMEOUT', 'the request was not received in time; send it again'];
  return [400, 'Bad Request', 'MALFORMED_REQUEST', 'the request is not valid HTTP/1.1'];
}
