import { randomUUID } from 'node:crypto';
import { maxHeaderSize } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * The answer to a request Node's HTTP parser refused before the app saw it (a request line and headers larger than
 * Node's limit, bytes that are not HTTP, a request not received within `requestTimeout`): the same JSON error body and
 * headers as every other answer, instead of Node's bare status line. The connection is closed after it, as Node does:
 * what follows a request that could not be parsed cannot be read as a request either. Nothing is written on a socket
 * the peer reset, or one that already carries a response's headers.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  const answering = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || answering?.headersSent === true) {
    socket.destroy();
    return;
  }
  const [status, reason, code, message, field] = refusal(err.code);
  const body = JSON.stringify({ error: field === undefined ? { code, message } : { code, message, field } });
  socket.end(
    [
      `HTTP/1.1 ${status} ${reason}`,
      'content-type: application/json; charset=utf-8',
      `content-length: ${Buffer.byteLength(body)}`,
      'cache-control: no-store',
      'x-content-type-options: nosniff',
      `x-request-id: ${randomUUID()}`,
      'connection: close',
      '',
      body,
    ].join('\r\n'),
  );
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
