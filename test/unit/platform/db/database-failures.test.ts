import {
  missedClientDeadline,
  missedDeadline,
  transientDatabaseFailure,
} from '../../../../services/platform/src/db/database-failures';

/** An error shaped as pg's: a message, and the SQLSTATE or errno as `code`. */
const pgError = (code: string | undefined, message = 'failed'): Error => Object.assign(new Error(message), { code });

describe('transientDatabaseFailure', () => {
  it.each([
    ['08006', 'connection failure'],
    ['08P01', 'protocol violation'],
    ['40001', 'could not serialize access due to concurrent update'],
    ['40P01', 'deadlock detected'],
    ['53100', 'could not extend file: No space left on device'],
    ['53300', 'sorry, too many clients already'],
    ['57014', 'canceling statement due to statement timeout'],
    ['57P01', 'terminating connection due to administrator command'],
    ['57P03', 'the database system is starting up'],
    ['58030', 'could not read block'],
    ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'],
    ['ECONNRESET', 'read ECONNRESET'],
    ['EPIPE', 'write EPIPE'],
    ['ETIMEDOUT', 'connect ETIMEDOUT'],
    ['ENOTFOUND', 'getaddrinfo ENOTFOUND db'],
    ['EAI_AGAIN', 'getaddrinfo EAI_AGAIN db'],
    ['EHOSTUNREACH', 'connect EHOSTUNREACH'],
  ])('%s (%s) may pass: true', (code, message) => {
    expect(transientDatabaseFailure(pgError(code, message))).toBe(true);
  });

  it.each([
    ['23505', 'duplicate key value violates unique constraint'],
    ['23514', 'new row violates check constraint'],
    ['22P02', 'invalid input syntax for type bigint'],
    ['22003', 'value out of range'],
    ['42P01', 'relation "wallets" does not exist'],
    ['42501', 'permission denied for table wallets'],
    ['42601', 'syntax error at or near "selec"'],
    ['25006', 'cannot execute INSERT in a read-only transaction'],
    ['54000', 'row is too big'],
  ])('%s (%s) fails the same way again: false', (code, message) => {
    expect(transientDatabaseFailure(pgError(code, message))).toBe(false);
  });

  it.each([
    'Connection terminated unexpectedly',
    'Client has encountered a connection error and is not queryable',
    'Client was closed and is not queryable',
    'timeout exceeded when trying to connect',
    'Connection terminated due to connection timeout',
    'Query read timeout',
  ])('pg\'s "%s", which has no code, may pass', (message) => {
    expect(transientDatabaseFailure(pgError(undefined, message))).toBe(true);
  });

  it('reads the class from a SQLSTATE only: a code that merely starts with those digits is not one', () => {
    expect(transientDatabaseFailure(pgError('4000'))).toBe(false);
    expect(transientDatabaseFailure(pgError('401234'))).toBe(false);
    expect(transientDatabaseFailure(pgError(''))).toBe(false);
  });

  it('a word such as "timeout" in some other failure is not taken for a missed deadline', () => {
    expect(transientDatabaseFailure(pgError('22023', 'invalid value for parameter "statement_timeout"'))).toBe(false);
  });

  it('anything thrown that is not an object with a message is not transient, and does not throw', () => {
    for (const thrown of [undefined, null, 'ECONNRESET', 'Query read timeout', 42, { code: 1 }, { code: '08006' }]) {
      expect(transientDatabaseFailure(thrown)).toBe(false);
    }
  });
});

describe('missedDeadline and missedClientDeadline', () => {
  it('the server-side cancel and the three client-side deadlines are missed deadlines; only the read timeout leaves its connection busy', () => {
    const server = pgError('57014', 'canceling statement due to statement timeout');
    const read = pgError(undefined, 'Query read timeout');
    const waitForPool = pgError(undefined, 'timeout exceeded when trying to connect');
    const startUp = pgError(undefined, 'Connection terminated due to connection timeout');
    expect([server, read, waitForPool, startUp].map(missedDeadline)).toEqual([true, true, true, true]);
    expect([server, read, waitForPool, startUp].map(missedClientDeadline)).toEqual([false, true, false, false]);
  });

  it('a deadlock or a lost connection is transient but no missed deadline', () => {
    expect(missedDeadline(pgError('40P01', 'deadlock detected'))).toBe(false);
    expect(missedDeadline(pgError('ECONNRESET', 'read ECONNRESET'))).toBe(false);
  });
});
