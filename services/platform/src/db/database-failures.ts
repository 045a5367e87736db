/**
 * How a failed Postgres call is read, in one place for every caller (the gateway answers 503 or 500 by it, the sink
 * retries quietly or asks for an operator by it). Pure: it looks only at the error's SQLSTATE or errno and pg's
 * wording, so it is unit-tested without a database, and checked against real failures in the pool's tests.
 */

/** What pg says when one of `databasePool`'s deadlines is missed on the client's side. */
const CLIENT_DEADLINE_MESSAGES = new Set([
  'timeout exceeded when trying to connect',
  'Connection terminated due to connection timeout',
  'Query read timeout',
]);

/**
 * SQLSTATE classes that say nothing about the statement, only about the moment it ran in: 08 connection exception,
 * 40 transaction rollback (a serialization failure or a deadlock: the same statement alone succeeds), 53 insufficient
 * resources (disk full, too many connections), 57 operator intervention (a cancel, a shutdown, a server starting up),
 * 58 system error (an I/O error on the server).
 */
const TRANSIENT_CLASSES = ['08', '40', '53', '57', '58'];

/** Socket and name-resolution failures on the way to the server. */
const TRANSIENT_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * pg's own wording for a connection lost under the caller ("Connection terminated unexpectedly", "Client has
 * encountered a connection error and is not queryable"), which carries no code.
 */
const LOST_CONNECTION = /Connection terminated|connection closed|not queryable|terminating connection/i;

/**
 * The error's code and message, read by shape rather than by `instanceof Error`: errors from Node's own modules (a
 * refused socket) come from another realm than the caller's under some runners (jest's sandbox), and fail that check.
 * Anything thrown that is not an object with a message reads as empty.
 */
const fieldOf = (err: unknown, field: 'code' | 'message'): string => {
  const value = typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[field] : undefined;
  return typeof value === 'string' && typeof (err as { message?: unknown }).message === 'string' ? value : '';
};
const codeOf = (err: unknown): string => fieldOf(err, 'code');
const messageOf = (err: unknown): string => fieldOf(err, 'message');

/**
 * Whether a failure is one of `databasePool`'s deadlines: no connection in time, a statement the server cancelled
 * (57014), or one the client gave up on. The database did not answer in time; trying again later may succeed.
 */
export function missedDeadline(err: unknown): boolean {
  return codeOf(err) === '57014' || CLIENT_DEADLINE_MESSAGES.has(messageOf(err));
}

/**
 * Whether a statement failed on the client's deadline ("Query read timeout"): its connection is still busy with it,
 * so nothing more (not even a rollback) should be sent on it before it is released as broken.
 */
export const missedClientDeadline = (err: unknown): boolean => messageOf(err) === 'Query read timeout';

/**
 * Whether the same call may succeed if made again later, unchanged: a missed deadline, a lost or refused connection,
 * a server short of resources or shutting down, or a transaction Postgres rolled back to break a deadlock or a
 * serialization conflict. Everything else (a constraint, a bad value, a missing table, a revoked privilege, a syntax
 * error) fails the same way every time, so it is the caller's bug or an operator's to fix.
 */
export function transientDatabaseFailure(err: unknown): boolean {
  const code = codeOf(err);
  return (
    missedDeadline(err) ||
    (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_CLASSES.includes(code.slice(0, 2))) ||
    TRANSIENT_ERRNOS.has(code) ||
    LOST_CONNECTION.test(messageOf(err))
  );
}
