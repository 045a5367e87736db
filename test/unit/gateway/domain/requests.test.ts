import { PaystreamError } from '../../../../services/platform/src/errors';
import { errorResponse } from '../../../../services/gateway/src/domain/api-error';
import {
  bulkIdentity,
  firstDuplicateKey,
  MAX_JSON_DEPTH,
  nestedDeeperThan,
  parseBulkTransfer,
  refuseTransfersToItself,
  parseCharge,
  parseDeposit,
  parseEmptyBody,
  parseLogin,
  parseNoQuery,
  parseSignup,
} from '../../../../services/gateway/src/domain/requests';

const WALLET = 'abcdefghijklmnopqrstuvwxyzABCDEF';
const field = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return errorResponse(err as PaystreamError).body.error.field;
  }
  return undefined;
};

describe('gateway request validation', () => {
  it('parses deposits and charges exactly into minor units', () => {
    expect(parseDeposit({ wallet: WALLET, amount: '100.5' }, 'EUR', 10_000_00n).amountMinor).toBe(10_050n);
    expect(parseDeposit({ wallet: WALLET, amount: 0.1 }, 'EUR', 10_000_00n).amountMinor).toBe(10n);
    expect(parseCharge({ wallet: WALLET, amount: '30.25', summary: ' coffee ' }, 'EUR', 10_000_00n)).toEqual({
      wallet: WALLET,
      amountMinor: 3_025n,
      summary: 'coffee',
    });
  });

  it.each([
    [{ wallet: WALLET, amount: '1.001' }, 'amount'],
    [{ wallet: WALLET, amount: '-1' }, 'amount'],
    [{ wallet: WALLET, amount: '10000.01' }, 'amount'],
    [{ wallet: WALLET, amount: null }, 'amount'],
    [{ wallet: 'short', amount: '1' }, 'wallet'],
    [{ amount: '1' }, 'wallet'],
    [[], 'body'],
  ])('deposit %j is refused naming %s', (body, expected) => {
    expect(field(() => parseDeposit(body, 'EUR', 10_000_00n))).toBe(expected);
  });

  it('names the nested sign-up field at fault', () => {
    const ok = {
      email: 'A@Example.com',
      password: 'long enough',
      client: { first_name: 'A', last_name: 'B', phone_number: '+34666666666' },
    };
    expect(parseSignup(ok, 'CLIENT')).toMatchObject({ email: 'a@example.com', displayName: 'A B' });
    expect(field(() => parseSignup({ ...ok, password: 'short' }, 'CLIENT'))).toBe('password');
    // A number is not a missing password: the message says what is wrong with it.
    expect(() => parseSignup({ ...ok, password: 12345678901 }, 'CLIENT')).toThrow(
      'password: is required and must be a string',
    );
    expect(() => parseLogin({ email: 'a@example.com', password: '' })).toThrow('password: must not be empty');
    expect(field(() => parseSignup({ ...ok, email: 'nope' }, 'CLIENT'))).toBe('email');
    expect(field(() => parseSignup({ ...ok, client: { ...ok.client, last_name: '' } }, 'CLIENT'))).toBe(
      'client.last_name',
    );
    const { client, ...credentials } = ok;
    expect(field(() => parseSignup(credentials, 'MERCHANT'))).toBe('company');
    // A client's profile on a company's sign-up is not read there: named, not ignored.
    expect(field(() => parseSignup(ok, 'MERCHANT'))).toBe('client');
    const company = { ...credentials, company: { ...client, name: 'Shop', url: 'ftp://x' } };
    expect(field(() => parseSignup(company, 'MERCHANT'))).toBe('company.url');
  });

  const bulk = {
    organization_name: 'ACME Corp',
    organization_iban: 'FR1420041010050500013M02606',
    organization_bic: 'BNPAFRPP',
    credit_transfers: [
      {
        amount: '700',
        counterparty_name: 'd',
        counterparty_bic: 'COBADEFFXXX',
        counterparty_iban: 'DE89 3704 0044 0532 0130 00',
        description: 'g',
      },
      {
        amount: '0.01',
        counterparty_name: 'e',
        counterparty_bic: 'DEUTDEFF',
        counterparty_iban: 'GB82WEST12345698765432',
        description: 'h',
      },
    ],
  };

  describe('refuses a field it does not read, naming it, rather than act as if it were absent', () => {
    const signup = {
      email: 'a@example.com',
      password: 'long enough',
      client: { first_name: 'A', last_name: 'B', phone_number: '+34666666666' },
    };
    const item = bulk.credit_transfers[0]!;
    it.each<[string, () => unknown, string]>([
      [
        'a currency beside a deposit',
        () => parseDeposit({ wallet: WALLET, amount: '1', currency: 'USD' }, 'EUR', 9n ** 9n),
        'currency',
      ],
      [
        'a misspelt summary',
        () => parseCharge({ wallet: WALLET, amount: '1', sumary: 'x', summary: 'y' }, 'EUR', 9n ** 9n),
        'sumary',
      ],
      ['a currency on a wallet creation', () => parseEmptyBody({ currency: 'USD' }), 'currency'],
      ['a field in a login', () => parseLogin({ email: 'a@example.com', password: 'x', remember: true }), 'remember'],
      [
        'a field in a profile',
        () => parseSignup({ ...signup, client: { ...signup.client, iban: 'x' } }, 'CLIENT'),
        'client.iban',
      ],
      ['a currency on a bulk', () => parseBulkTransfer({ ...bulk, currency: 'USD' }, 'EUR', 9n ** 9n), 'currency'],
      [
        'an end-to-end id on a bulk item',
        () =>
          parseBulkTransfer({ ...bulk, credit_transfers: [item, { ...item, end_to_end_id: 'E2E' }] }, 'EUR', 9n ** 9n),
        'credit_transfers[1].end_to_end_id',
      ],
    ])('%s', (_what, parse, expected) => {
      expect(field(parse)).toBe(expected);
    });

    it('takes an empty object where a request needs nothing (an empty body reads as one)', () => {
      expect(() => parseEmptyBody({})).not.toThrow();
      expect(field(() => parseEmptyBody([]))).toBe('body');
    });

    it('names a long field by its first 64 characters', () => {
      const name = 'x'.repeat(10_000);
      expect(field(() => parseDeposit({ wallet: WALLET, amount: '1', [name]: 1 }, 'EUR', 9n))).toBe(
        `${'x'.repeat(64)}…`,
      );
    });
  });

  it("parses seed 003's bulk body: totals in minor units, normalised IBANs", () => {
    const b = parseBulkTransfer(bulk, 'EUR', 1_000_000_00n);
    expect(b.totalMinor).toBe(70_001n);
    expect(b.creditTransfers[0]?.counterpartyIban).toBe('DE89370400440532013000');
  });

  it.each([
    [{ ...bulk, organization_iban: 'FR1420041010050500013M02607' }, 'organization_iban'],
    [{ ...bulk, organization_bic: 'BNP1' }, 'organization_bic'],
    [{ ...bulk, credit_transfers: [] }, 'credit_transfers'],
    [
      { ...bulk, credit_transfers: [{ ...bulk.credit_transfers[0], counterparty_iban: 'f' }] },
      'credit_transfers[0].counterparty_iban',
    ],
    [
      { ...bulk, credit_transfers: [bulk.credit_transfers[0], { ...bulk.credit_transfers[1], amount: '1.234' }] },
      'credit_transfers[1].amount',
    ],
    [
      { ...bulk, credit_transfers: [{ ...bulk.credit_transfers[0], description: 7 }] },
      'credit_transfers[0].description',
    ],
  ])('bulk %# is refused naming %s', (body, expected) => {
    expect(field(() => parseBulkTransfer(body, 'EUR', 1_000_000_00n))).toBe(expected);
  });

  it("refuses a credit transfer to the organization's own account, however its IBAN is written, naming it", () => {
    const b = parseBulkTransfer(bulk, 'EUR', 1_000_000_00n);
    expect(() => refuseTransfersToItself(b)).not.toThrow();
    const toItself = parseBulkTransfer(
      {
        ...bulk,
        credit_transfers: [
          bulk.credit_transfers[0],
          { ...bulk.credit_transfers[1], counterparty_iban: 'fr14 2004 1010 0505 0001 3m02 606' },
          { ...bulk.credit_transfers[1], counterparty_iban: 'FR1420041010050500013M02606' },
        ],
      },
      'EUR',
      1_000_000_00n,
    );
    expect(field(() => refuseTransfersToItself(toItself))).toBe('credit_transfers[1].counterparty_iban');
  });

  it.each([
    ['NUL', 'A\u0000B'],
    ['a line break', 'first line\nsecond line'],
    ['a tab', 'a\tb'],
    ['DEL', 'a\u007fb'],
    ['a C1 control', 'a\u0085b'],
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone low surrogate', 'a\udc00b'],
    ['a surrogate pair the wrong way round', 'a\udc00\ud800b'],
  ])('text with %s is refused in every free-text field, naming it', (_what, bad) => {
    const item = bulk.credit_transfers[0];
    expect(
      field(() =>
        parseBulkTransfer({ ...bulk, credit_transfers: [{ ...item, counterparty_name: bad }] }, 'EUR', 1n << 40n),
      ),
    ).toBe('credit_transfers[0].counterparty_name');
    expect(
      field(() => parseBulkTransfer({ ...bulk, credit_transfers: [{ ...item, description: bad }] }, 'EUR', 1n << 40n)),
    ).toBe('credit_transfers[0].description');
    expect(field(() => parseBulkTransfer({ ...bulk, organization_name: bad }, 'EUR', 1n << 40n))).toBe(
      'organization_name',
    );
    expect(field(() => parseCharge({ wallet: WALLET, amount: '1', summary: bad }, 'EUR', 100n))).toBe('summary');
    const signup = {
      email: 'a@example.com',
      password: 'long enough',
      client: { first_name: 'A', last_name: 'B', phone_number: '+34666666666' },
    };
    expect(field(() => parseSignup({ ...signup, client: { ...signup.client, first_name: bad } }, 'CLIENT'))).toBe(
      'client.first_name',
    );
    expect(field(() => parseSignup({ ...signup, email: `x${bad}@example.com` }, 'CLIENT'))).toBe('email');
  });

  it('keeps text outside the Latin alphabet, emoji (a surrogate pair) included, exactly as sent', () => {
    const name = 'García Ñúñez 名前 Ωμέγα 🚀';
    const b = parseBulkTransfer(
      { ...bulk, credit_transfers: [{ ...bulk.credit_transfers[0], counterparty_name: name, description: '  🚀  ' }] },
      'EUR',
      1n << 40n,
    );
    expect(b.creditTransfers[0]).toMatchObject({ counterpartyName: name, description: '🚀' });
  });

  it('bounds text in UTF-16 code units, and says so when characters outside the BMP are what exceed it', () => {
    const charge = (summary: string) => () => parseCharge({ wallet: WALLET, amount: '1', summary }, 'EUR', 100n);
    expect(charge('x'.repeat(140))().summary).toHaveLength(140);
    expect(charge('🚀'.repeat(70))().summary).toBe('🚀'.repeat(70));
    expect(charge('x'.repeat(141))).toThrow('summary: must be at most 140 characters');
    // 71 emoji are 142 code units: fewer characters than the bound, more units.
    expect(charge('🚀'.repeat(71))).toThrow(
      'summary: must be at most 140 UTF-16 code units (a character outside the Basic Multilingual Plane, such as an emoji, counts as two)',
    );
    expect(charge(`${'x'.repeat(139)}🚀`)).toThrow('UTF-16 code units');
  });

  describe('firstDuplicateKey', () => {
    it.each<[string, string | undefined]>([
      ['{"wallet":"w","amount":"1"}', undefined],
      ['{"amount":"1","amount":"1000"}', 'amount'],
      ['{"amount":"1", "wallet":"w",\n "amount" : "2"}', 'amount'],
      // Decoded before compared: an escape spells the same name.
      ['{"amount":"1","\\u0061mount":"2"}', 'amount'],
      ['{"a\\"b":1,"a\\"b":2}', 'a"b'],
      // The same name in different objects, or as a value, is no duplicate.
      ['{"client":{"first_name":"A"},"first_name":"B"}', undefined],
      ['{"summary":"amount","amount":"1"}', undefined],
      ['[{"a":1},{"a":1}]', undefined],
      ['{"x":"{\\"a\\":1,\\"a\\":2}"}', undefined],
      ['{"client":{"last_name":"A","last_name":"B"}}', 'client.last_name'],
      [
        '{"credit_transfers":[{"amount":"1"},{"description":"d","amount":"2","amount":"3"}]}',
        'credit_transfers[1].amount',
      ],
      ['{"a":[[1,2],{"b":{"c":1,"c":2}}]}', 'a[1].b.c'],
      ['{"":1,"":2}', ''],
      ['"just a string"', undefined],
      ['{}', undefined],
    ])('%s → %s', (text, expected) => {
      JSON.parse(text); // every case is valid JSON, as the function requires
      expect(firstDuplicateKey(text)).toBe(expected);
    });
  });

  it('measures nesting without recursion: a body nested 100,000 deep is found too deep, not a stack overflow', () => {
    const nest = (depth: number, open: string, close: string) =>
      JSON.parse(open.repeat(depth) + '1' + close.repeat(depth)) as unknown;
    expect(nestedDeeperThan(1, 0)).toBe(false);
    expect(nestedDeeperThan({}, 0)).toBe(true);
    expect(nestedDeeperThan(nest(MAX_JSON_DEPTH, '[', ']'), MAX_JSON_DEPTH)).toBe(false);
    expect(nestedDeeperThan(nest(MAX_JSON_DEPTH + 1, '[', ']'), MAX_JSON_DEPTH)).toBe(true);
    expect(nestedDeeperThan(nest(100_000, '{"a":', '}'), MAX_JSON_DEPTH)).toBe(true);
    // The deepest branch counts, wherever it is: object 1, b 2, its object 3, c 4, then one more per bracket.
    expect(nestedDeeperThan({ a: 1, b: [2, { c: [[]] }] }, 5)).toBe(false);
    expect(nestedDeeperThan({ a: 1, b: [2, { c: [[[]]] }] }, 5)).toBe(true);
    // Every body this API takes is well inside the limit.
    expect(nestedDeeperThan(bulk, MAX_JSON_DEPTH)).toBe(false);
  });

  it('a server-side failure never leaks its message; a retryable one is 503', () => {
    expect(errorResponse(new PaystreamError('INTERNAL', 'secret detail'))).toEqual({
      status: 500,
      body: { error: { code: 'INTERNAL', message: 'internal error' } },
    });
    expect(errorResponse(PaystreamError.retryable('KAFKA_UNAVAILABLE', 'broker down')).status).toBe(503);
    // The gateway's own bound says so, still without internals.
    expect(errorResponse(PaystreamError.retryable('OVERLOADED', 'too many sign-ups and logins at once'))).toEqual({
      status: 503,
      body: { error: { code: 'OVERLOADED', message: 'too many sign-ups and logins at once' } },
    });
  });
});

describe('parseNoQuery', () => {
  it('accepts no parameter and refuses any, naming it', () => {
    expect(() => parseNoQuery({})).not.toThrow();
    expect(field(() => parseNoQuery({ currency: 'USD' }))).toBe('currency');
    expect(field(() => parseNoQuery({ flag: '' }))).toBe('flag');
    expect(field(() => parseNoQuery({ ['x'.repeat(500)]: '1' }))).toBe(`${'x'.repeat(64)}…`);
  });

  describe('bulkIdentity: the same payments are the same bulk, however the body writes them', () => {
    const transfer = {
      amount: '14.5',
      counterparty_name: 'Bip Bip',
      counterparty_bic: 'CRLYFRPP',
      counterparty_iban: 'FR7630006000011234567890189',
      description: 'Wonderland/4410',
    };
    const second = {
      amount: '612.38',
      counterparty_name: 'Wile E Coyote',
      counterparty_bic: 'DEUTDEFF',
      counterparty_iban: 'DE89370400440532013000',
      description: 'Acme/4411',
    };
    const org = { organization_name: 'ACME Corp', organization_iban: 'FR1420041010050500013M02606' };
    const identity = (transfers: object[], bic = 'BNPAFRPP') =>
      bulkIdentity(parseBulkTransfer({ ...org, organization_bic: bic, credit_transfers: transfers }, 'EUR', 1n << 40n));
    const base = identity([transfer, second]);

    it('ignores how amounts, IBANs, BICs, names and the order of transfers are written', () => {
      expect(identity([{ ...transfer, amount: '14.50' }, second])).toBe(base);
      expect(identity([{ ...transfer, amount: 14.5 }, second])).toBe(base);
      expect(identity([{ ...transfer, counterparty_iban: 'fr76 3000 6000 0112 3456 7890 189' }, second])).toBe(base);
      expect(identity([{ ...transfer, counterparty_bic: 'crlyfrppxxx' }, second])).toBe(base);
      expect(identity([{ ...transfer, counterparty_name: '  BIP   bip ' }, second])).toBe(base);
      expect(identity([second, transfer])).toBe(base);
      expect(identity([transfer, second], 'BNPAFRPPXXX')).toBe(base);
    });

    it('tells apart what moves other money, to someone else, or for something else', () => {
      const others = [
        identity([{ ...transfer, amount: '14.51' }, second]),
        identity([{ ...transfer, counterparty_iban: 'GB82WEST12345698765432' }, second]),
        identity([{ ...transfer, counterparty_bic: 'CRLYFRPPTOU' }, second]),
        identity([{ ...transfer, counterparty_name: 'Bip Bip Ltd' }, second]),
        identity([{ ...transfer, description: 'Wonderland/4411' }, second]),
        identity([transfer]),
        identity([transfer, second, transfer]),
        identity([transfer, transfer, second]),
      ];
      expect(new Set([base, ...others.slice(0, 6)]).size).toBe(7);
      // Twice the same transfer is not once: a repeated line pays twice.
      expect(others[6]).not.toBe(base);
      expect(others[6]).toBe(others[7]);
    });
  });
});
