import type { PlatformConfig } from '../../../platform/src/config';
import { MAX_PAGE, MAX_WALLET_PAGE } from '../domain/history';
import { MAX_BULK_ITEMS } from '../domain/requests';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({
  type: 'object',
  properties,
  required,
});
/** A request's object: a field not listed is refused (400 naming it), as `requests.ts` does. */
const closed = (schema: Schema): Schema => ({ ...schema, additionalProperties: false });
const json = (schema: Schema) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('Error')) });

const AMOUNT = str({
  pattern: '^\\d+(\\.\\d{1,2})?$',
  description:
    'Decimal amount in full currency units, at most 2 decimals, > 0. A JSON number is also accepted while it is ' +
    'exact as one (under 10^15 minor units, 15 significant digits); larger amounts must be strings.',
  examples: ['12.50'],
});
const BALANCE = str({ pattern: '^-?\\d+\\.\\d{2}$', description: 'Decimal balance, exact (a string, never a float).' });
const WALLET = str({ pattern: '^[A-Za-z0-9_-]{32}$', description: 'Wallet token (192 random bits).' });
/** A single-line text field of a request, as `requests.ts` checks it (after trimming). */
const TEXT = (maxLength: number): Schema =>
  str({
    minLength: 1,
    maxLength,
    pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f]*$',
    description:
      'One line of Unicode text, trimmed of white space at both ends: no control characters (line breaks, tabs, NUL) ' +
      `and no unpaired surrogates. At most ${maxLength} UTF-16 code units: a character outside the Basic Multilingual ` +
      'Plane (an emoji, say) counts as two.',
  });

const AUTH = [{ token: [] }];
const IDEMPOTENCY = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'A retry with the same key returns the original response and applies nothing again; the same key with a different body → 422. ' +
    'Keys are honoured for at least the configured idempotency TTL (24 hours by default); past it, until the ledger forgets the ' +
    "key's command (30 days by default), the same request still gets its first outcome and another body is still refused " +
    '(422 IDEMPOTENCY_KEY_REUSED, nothing applied); past that, any request with the key is refused the same way. Use a new key for a new payment.',
  schema: str({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]{1,255}$' }),
};

const COMMON = {
  '400': error('Invalid body or parameter; `error.field` names it'),
  '401': {
    ...error(
      'Missing, unknown, expired or revoked token; at a login, a wrong e-mail or password (INVALID_CREDENTIALS)',
    ),
    headers: { 'WWW-Authenticate': { schema: str({ const: 'Token' }) } },
  },
  '429': error('Rate limit exceeded'),
  '503': error('A dependency is unavailable; retry with the same Idempotency-Key after Retry-After'),
};
const OVERLOADED_OR_UNAVAILABLE = error(
  'A dependency is unavailable (SERVICE_UNAVAILABLE), or too many sign-ups and logins are being checked at once ' +
    '(OVERLOADED; wait Retry-After)',
);
/** A response header naming the resource to read next (RFC 9110 §10.2.2). */
const LOCATION = (what: string) => ({ Location: { description: what, schema: str() } });
const PENDING = {
  description:
    'The ledger did not answer within the reply timeout; poll `/operations/{id}` (the `Location`), or retry with the ' +
    'same Idempotency-Key: once the outcome is known, the retry answers it (nothing is applied twice)',
  content: json(ref('Pending')),
  headers: LOCATION('`/operations/{id}` of this operation'),
};

function postOperation(
  summary: string,
  body: Schema,
  responses: Record<string, unknown>,
  { secured = true, bodyLimitBytes }: { secured?: boolean; bodyLimitBytes: number },
) {
  return {
    summary,
    ...(secured ? { security: AUTH } : { security: [] }),
    parameters: [IDEMPOTENCY],
    requestBody: { required: true, content: json(closed(body)) },
    responses: {
      ...COMMON,
      '413': error(`Body larger than ${bodyLimitBytes} bytes`),
      '415': {
        ...error(
          'A body not declared `Content-Type: application/json` (UNSUPPORTED_MEDIA_TYPE), or sent with a content ' +
            'coding (UNSUPPORTED_CONTENT_ENCODING); `error.field` names the header',
        ),
        headers: { 'Accept-Encoding': { schema: str({ const: 'identity' }) } },
      },
      '422': error('Refused (e.g. INSUFFICIENT_FUNDS, IDEMPOTENCY_KEY_REUSED)'),
      ...responses,
      // Any POST sent with an Idempotency-Key whose first request is still running (or whose gateway died, until
      // its claim lapses) is answered so, besides what the route's own 409 says.
      '409': error(
        [
          (responses['409'] as { description?: string } | undefined)?.description,
          'REQUEST_IN_PROGRESS: a request with this Idempotency-Key is still being processed; retry later with the same key',
        ]
          .filter((d) => d !== undefined)
          .join('; or '),
      ),
    },
  };
}

function get(summary: string, responses: Record<string, unknown>, parameters: unknown[] = []) {
  return { summary, security: AUTH, parameters, responses: { ...responses, ...COMMON, '404': error('Not found') } };
}

const pathParam = (name: string, schema: Schema) => ({ name, in: 'path', required: true, schema });

/** The OpenAPI 3.1 description of every gateway route (a test checks it against the router). */
export function openApiDocument(config: PlatformConfig['gateway']): Schema {
  const post = (
    summary: string,
    body: Schema,
    responses: Record<string, unknown>,
    options: { secured?: boolean; bodyLimitBytes?: number } = {},
  ) =>
    postOperation(summary, body, responses, {
      ...options,
      bodyLimitBytes: options.bodyLimitBytes ?? config.bodyLimitBytes,
    });
  const signup = (kind: 'client' | 'company') =>
    post(
      `Sign up a ${kind === 'client' ? 'client' : 'company (merchant)'}`,
      obj({
        email: str({ format: 'email' }),
        password: str({ minLength: 8 }),
        [kind]: kind === 'client' ? ref('ClientProfile') : ref('CompanyProfile'),
      }),
      {
        '201': {
          description:
            'Signed up and logged in. The same sign-up sent again with its Idempotency-Key (the same password and ' +
            'profile) gets 201 with a new session of that account, even once the key is forgotten',
          content: json(ref('Token')),
        },
        '409': error('E-mail taken (EMAIL_TAKEN), or the same keyed sign-up still in progress (REQUEST_IN_PROGRESS)'),
        '429': error(
          'Rate limit exceeded, or more sign-ups from this address in an hour than the configured limit (TOO_MANY_SIGNUPS; wait Retry-After)',
        ),
        '503': OVERLOADED_OR_UNAVAILABLE,
      },
      { secured: false },
    );
  const login = (who: string) =>
    post(
      `Log in as a ${who}`,
      obj({ email: str(), password: str() }),
      {
        '200': { description: 'Logged in', content: json(ref('Token')) },
        '429': error(
          'Rate limit exceeded, or too many failed logins for this e-mail from this address, or from all addresses (TOO_MANY_LOGIN_ATTEMPTS; wait Retry-After)',
        ),
        '503': OVERLOADED_OR_UNAVAILABLE,
      },
      { secured: false },
    );
  const logout = (who: 'client' | 'company') =>
    post(`Log out a ${who} (revokes the token)`, obj({}, []), {
      '204': { description: 'Logged out' },
      '403': error(`Not a ${who}'s token`),
    });

  return {
    openapi: '3.1.0',
    info: {
      title: 'paystream gateway',
      version: '1.0.0',
      description:
        'Wallets (seed 004) and bulk transfers (seed 003) on the paystream ledger. Money movements are ledger commands ' +
        `answered within ${config.replyTimeoutMs} ms, else 202 with an operation to poll. Amounts are ${config.currency} decimal strings. ` +
        'Every answer carries X-Request-Id (the one the request sent, when it is 8–64 of A-Za-z0-9._-, else a new UUID).',
    },
    servers: [{ url: `http://${config.host}:${config.port}` }],
    components: {
      securitySchemes: {
        token: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description:
            '`Token <session token>` (clients, companies) or `Token psk_…` (organization API key); the scheme is case-insensitive.',
        },
      },
      schemas: {
        Error: obj({
          error: obj({ code: str(), message: str(), field: str() }, ['code', 'message']),
        }),
        Token: obj({ token: str() }),
        ClientProfile: closed(
          obj({
            first_name: TEXT(100),
            last_name: TEXT(100),
            phone_number: str({ pattern: '^\\+[1-9]\\d{6,14}$' }),
          }),
        ),
        CompanyProfile: closed(
          obj({
            name: TEXT(200),
            url: str({ format: 'uri' }),
            first_name: TEXT(100),
            last_name: TEXT(100),
            phone_number: str({ pattern: '^\\+[1-9]\\d{6,14}$' }),
          }),
        ),
        Wallet: obj({ wallet: WALLET, balance: BALANCE, currency: str() }),
        Pending: obj({ operation_id: str(), status: str({ const: 'PENDING' }), wallet: WALLET, bulk_id: str() }, [
          'operation_id',
          'status',
        ]),
        HistoryItem: obj({
          summary: str(),
          source__token: { type: ['string', 'null'], description: 'Wallet the money left; null for a deposit' },
          target__token: { type: ['string', 'null'] },
          amount: AMOUNT,
          currency: str(),
          type: str({
            enum: ['deposit', 'charge', 'charge_received', 'reversal', 'transfer', 'bulk_debit'],
            description:
              'reversal: a charge this wallet paid, sent back because the payee could not take it (source__token is the payee)',
          }),
          success: { type: 'boolean', description: 'false for a charge refused for insufficient funds' },
          date: str({ format: 'date-time' }),
        }),
        CreditTransfer: closed(
          obj({
            amount: AMOUNT,
            counterparty_name: TEXT(140),
            counterparty_bic: str({ pattern: '^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$' }),
            counterparty_iban: str({
              description: 'Checked with ISO 7064 mod 97; not the organization_iban (a transfer to itself is refused)',
            }),
            description: TEXT(140),
          }),
        ),
        BulkAccepted: obj({
          bulk_id: str({ format: 'uuid' }),
          status: str({ const: 'ACCEPTED' }),
          total_amount: AMOUNT,
          currency: str(),
          credit_transfers: { type: 'integer' },
        }),
        BulkStatus: obj(
          {
            bulk_id: str(),
            status: str({ enum: ['PENDING', 'ACCEPTED', 'REJECTED'] }),
            rejection_code: { type: ['string', 'null'] },
            total_amount: { type: ['string', 'null'] },
            currency: { type: ['string', 'null'] },
            credit_transfers: { type: ['integer', 'null'] },
            processed_at: str({ format: 'date-time' }),
            items: {
              type: 'array',
              items: { type: 'object' },
              description:
                "The bulk's credit transfers; [] for a rejected bulk. A read after the 201 waits (up to the reply timeout) " +
                'until all are listed; absent only while some are not yet known (a bulk processed longer ago than ' +
                'the reply timeout is answered at once).',
            },
          },
          ['bulk_id', 'status'],
        ),
        Operation: obj(
          {
            operation_id: str(),
            status: str({ enum: ['PENDING', 'SUCCEEDED', 'FAILED'] }),
            rejection_code: {
              type: ['string', 'null'],
              description:
                "The ledger's code for a FAILED operation (e.g. INSUFFICIENT_FUNDS); IDEMPOTENCY_KEY_REUSED: the key named another request the ledger had applied before, and this one applied nothing; CHARGE_REVERSED: the merchant's wallet could not take a charge's money, which went back to the payer. A charge is PENDING until the merchant's wallet is credited",
            },
          },
          ['operation_id', 'status'],
        ),
      },
    },
    paths: {
      '/client/signup': { post: signup('client') },
      '/client/login': { post: login('client') },
      '/client/logout': { post: logout('client') },
      '/company/signup': { post: signup('company') },
      '/company/login': { post: login('company') },
      '/company/logout': { post: logout('company') },
      '/wallet/create': {
        post: post('Create a wallet (clients: up to the configured limit; companies: one)', obj({}, []), {
          '201': {
            description: 'Created',
            content: json(ref('Wallet')),
            headers: LOCATION('`/wallet/info/{token}` of the new wallet'),
          },
          '202': PENDING,
          '409': error('Wallet limit reached'),
        }),
      },
      '/wallet/deposit': {
        post: post('Deposit into one of your wallets', obj({ wallet: WALLET, amount: AMOUNT }), {
          '200': { description: 'Balance after the deposit', content: json(ref('Wallet')) },
          '202': PENDING,
          '403': error('Not your wallet'),
          '404': error('No such wallet'),
          '409': error('WALLET_OPENING: the wallet’s account is not open yet; nothing moved (send again, new key)'),
        }),
      },
      '/wallet/charge': {
        post: post(
          'Charge a wallet (companies only); your wallet is credited and its balance returned',
          obj({ wallet: WALLET, amount: AMOUNT, summary: TEXT(140) }),
          {
            '200': { description: "Your wallet's balance after receiving the charge", content: json(ref('Wallet')) },
            '202': PENDING,
            '403': error('Only companies charge'),
            '404': error('No such wallet'),
            '409': error(
              'MERCHANT_WALLET_MISSING (create your wallet first) or WALLET_OPENING (your wallet’s or the charged wallet’s account is not open yet); nothing charged (send again, new key)',
            ),
            '422': error(
              'INSUFFICIENT_FUNDS (nothing charged), IDEMPOTENCY_KEY_REUSED, or CHARGE_REVERSED: your wallet could not take the money and it was returned to the payer (a read after this answer shows it back)',
            ),
          },
        ),
      },
      '/wallet/info/{token}': {
        get: get(
          'A wallet of yours and its balance',
          { '200': { description: 'The wallet', content: json(ref('Wallet')) }, '403': error('Not your wallet') },
          [pathParam('token', WALLET)],
        ),
      },
      '/wallet/list': {
        get: get(
          'All your wallets, in the order they were created; keyset pagination',
          {
            '200': {
              description:
                'Your wallets; when the page is full, the next one is in `X-Next-Cursor` and `Link: rel="next"`',
              headers: { 'X-Next-Cursor': { schema: str() }, Link: { schema: str() } },
              content: json({ type: 'array', items: ref('Wallet') }),
            },
          },
          [
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: MAX_WALLET_PAGE, default: MAX_WALLET_PAGE },
            },
            { name: 'cursor', in: 'query', schema: str() },
          ],
        ),
      },
      '/wallet/history/{token}': {
        get: get(
          'Operations of a wallet, newest first (deposits, charges in and out, failed charges); keyset pagination',
          {
            '200': {
              description: 'A page; the next page is in the `X-Next-Cursor` header and `Link: rel="next"`',
              headers: { 'X-Next-Cursor': { schema: str() }, Link: { schema: str() } },
              content: json({ type: 'array', items: ref('HistoryItem') }),
            },
            '403': error('Not your wallet'),
          },
          [
            pathParam('token', WALLET),
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 50 } },
            { name: 'cursor', in: 'query', schema: str() },
            { name: 'from', in: 'query', description: 'Inclusive', schema: str({ format: 'date-time' }) },
            { name: 'to', in: 'query', description: 'Exclusive', schema: str({ format: 'date-time' }) },
          ],
        ),
      },
      '/bulk_transfer': {
        post: post(
          'Debit the organization account by the total of N credit transfers, all or nothing (organization API key)',
          obj({
            organization_name: TEXT(200),
            organization_iban: str(),
            organization_bic: str(),
            credit_transfers: { type: 'array', minItems: 1, maxItems: MAX_BULK_ITEMS, items: ref('CreditTransfer') },
          }),
          {
            '201': {
              description: 'Accepted and debited',
              content: json(ref('BulkAccepted')),
              headers: LOCATION('`/bulk_transfer/{id}` of this bulk'),
            },
            '202': PENDING,
            '403': error(
              'Name, IBAN or BIC not those of the API key (the name compared ignoring case and spacing; an 8-character BIC is its XXX branch)',
            ),
            '409': error(
              'A bulk with the same credit transfers (in any order, however written) was accepted already, and no Idempotency-Key was sent',
            ),
          },
          { bodyLimitBytes: config.bulkBodyLimitBytes },
        ),
      },
      '/bulk_transfer/{id}': {
        get: get(
          'Status of a bulk transfer',
          {
            '200': { description: 'Status', content: json(ref('BulkStatus')) },
            '403': error('Not an organization API key'),
          },
          [pathParam('id', str({ format: 'uuid' }))],
        ),
      },
      '/operations/{id}': {
        get: get(
          `Outcome of an operation answered 202; pollable for at least ${config.idempotencyTtlSeconds / 3600} hours after it (then 404)`,
          { '200': { description: 'Status', content: json(ref('Operation')) } },
          [pathParam('id', str())],
        ),
      },
      '/openapi.json': {
        get: {
          summary: 'This document',
          security: [],
          responses: {
            '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) },
            '429': COMMON['429'],
            '503': error('A dependency (Redis, for the rate limit) is unavailable'),
          },
        },
      },
      '/status': {
        get: {
          summary: 'Liveness of the HTTP API',
          security: [],
          responses: {
            '200': { description: 'ok', content: json(obj({ status: str() })) },
            '429': COMMON['429'],
            '503': error('A dependency (Redis, for the rate limit) is unavailable'),
          },
        },
      },
    },
  };
}
