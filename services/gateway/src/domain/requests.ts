import { clipped, invalid } from './api-error';
import { bicKey, isValidBic, isValidIban, nameKey, normaliseIban } from './bank-identifiers';
import { parseAmount } from './money';

/**
 * Validation of every request body and query the gateway accepts, as pure functions: each returns a typed request or
 * throws a VALIDATION_FAILED ApiError naming the first bad field (dotted path, e.g. `credit_transfers[2].amount`).
 * Amounts are parsed exactly into minor units; nothing here touches a float.
 */

type Json = Record<string, unknown>;

/**
 * `value` as an object that holds no field but `fields`. A field this API does not read is refused, not ignored: a
 * `currency` beside a deposit's amount, say, would otherwise be dropped silently and the deposit made in the wallet's
 * own currency, not as its sender meant it.
 */
function object(value: unknown, field: string, fields: readonly string[]): Json {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(field, 'must be an object');
  const unknown = Object.keys(value).find((key) => !fields.includes(key));
  if (unknown !== undefined)
    throw invalid(
      field === 'body' ? clipped(unknown) : `${field}.${clipped(unknown)}`,
      'is not a field of this request',
    );
  return value as Json;
}

/**
 * Refuses a query parameter the request does not read (400 naming it), so a client that meant it as a filter (a misspelt
 * `form=`, a `/wallet/list?currency=USD`) learns it was not applied instead of reading an answer it did not ask for.
 */
export function onlyParameters(query: Record<string, unknown>, parameters: readonly string[]): void {
  const unknown = Object.keys(query).find((key) => !parameters.includes(key));
  if (unknown !== undefined) throw invalid(clipped(unknown), 'is not a parameter of this request');
}

/** `onlyParameters` for a request that reads none. */
export function parseNoQuery(query: Record<string, unknown>): void {
  onlyParameters(query, []);
}

/** The body of a request that takes none (`{}`, or nothing at all): wallet creation, logout. */
export function parseEmptyBody(input: unknown): void {
  object(input, 'body', []);
}

/** Deeper than any body this API takes (a bulk's items sit at depth 3). */
export const MAX_JSON_DEPTH = 16;

/**
 * Whether a parsed JSON value nests arrays and objects deeper than `max` (a scalar is depth 0, `{}` depth 1). Walks
 * with its own stack, not by recursion, so a body nested thousands deep is measured, not a stack overflow; every
 * later step that walks a body recursively (canonical JSON for idempotency, say) can then rely on its depth.
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, depth] = top;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

type Open =
  | { kind: 'object'; path: string; keys: Set<string>; key: string; expectKey: boolean }
  | { kind: 'array'; path: string; index: number };

/**
 * The first member name given twice in one object of a JSON text, as a field path (`amount`,
 * `credit_transfers[1].amount`), or undefined. `JSON.parse` keeps the last of them silently, while another reader on
 * the way (a proxy, a log, the client's own library) may keep the first: a body that reads two ways is refused instead.
 * Names are compared decoded (`"a"` and `"\u0061"` are one name). `text` must be valid JSON (parse it first); one pass,
 * no recursion.
 */
export function firstDuplicateKey(text: string): string | undefined {
  const stack: Open[] = [];
  const childPath = (top: Open | undefined): string =>
    top === undefined
      ? ''
      : top.kind === 'array'
        ? `${top.path}[${top.index}]`
        : top.path === ''
          ? top.key
          : `${top.path}.${top.key}`;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (top?.kind === 'object' && top.expectKey) {
        const raw = text.slice(i + 1, j);
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        top.key = key;
        if (top.keys.has(key)) return childPath(top);
        top.keys.add(key);
        top.expectKey = false;
      }
      i = j;
    } else if (c === '{') {
      stack.push({ kind: 'object', path: childPath(top), keys: new Set(), key: '', expectKey: true });
    } else if (c === '[') {
      stack.push({ kind: 'array', path: childPath(top), index: 0 });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top !== undefined) {
      if (top.kind === 'object') top.expectKey = true;
      else top.index += 1;
    }
  }
  return undefined;
}

/** C0 and C1 control characters and DEL: NUL is refused by Postgres text, the rest has no place in a name or a note. */
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Half of a UTF-16 surrogate pair without its other half: no character at all, and not encodable as UTF-8. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A required single-line text field, trimmed. It holds only characters every store and every partner on its way can
 * keep as they are (Postgres, Avro's UTF-8, a bank's payment message), so text accepted here is never refused later,
 * after money moved.
 */
function text(body: Json, key: string, prefix: string, opts: { min?: number; max?: number } = {}): string {
  return textValue(body[key], `${prefix}${key}`, opts);
}

/** `text` for a value that is not in a request body (an operator's argument, say), named `field` in errors. */
export function textValue(v: unknown, field: string, opts: { min?: number; max?: number } = {}): string {
  if (typeof v !== 'string') throw invalid(field, 'is required and must be a string');
  const t = v.trim();
  if (t.length < (opts.min ?? 1))
    throw invalid(field, opts.min && opts.min > 1 ? `needs at least ${opts.min} characters` : 'must not be empty');
  const max = opts.max ?? 200;
  // Counted in UTF-16 code units, which bounds a field's UTF-8 size at 3 bytes per unit: the largest bulk (1,000
  // transfers of 140-unit texts) stays a Kafka record under the broker's 1 MiB. Counted in code points, 140 emoji
  // would be 560 bytes a field, and such a bulk about 1.2 MB.
  if (t.length > max)
    throw invalid(
      field,
      [...t].length > max
        ? `must be at most ${max} characters`
        : `must be at most ${max} UTF-16 code units (a character outside the Basic Multilingual Plane, such as an ` +
            'emoji, counts as two)',
    );
  if (CONTROL.test(t)) throw invalid(field, 'must not contain control characters (line breaks, tabs, NUL, …)');
  if (LONE_SURROGATE.test(t)) throw invalid(field, 'is not valid Unicode text (an unpaired surrogate)');
  return t;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PHONE = /^\+[1-9]\d{6,14}$/;

export interface Credentials {
  email: string;
  password: string;
}

/** An e-mail address as accounts are keyed by it: trimmed and in lower case. */
export function parseEmail(value: unknown, field: string): string {
  const email = textValue(value, field, { max: 254 }).toLowerCase();
  if (!EMAIL.test(email)) throw invalid(field, 'is not an e-mail address');
  return email;
}

export function parseLogin(input: unknown): Credentials {
  return credentials(object(input, 'body', ['email', 'password']));
}

function credentials(body: Json): Credentials {
  const email = parseEmail(body.email, 'email');
  const password = body.password;
  if (typeof password !== 'string') throw invalid('password', 'is required and must be a string');
  if (password.length === 0) throw invalid('password', 'must not be empty');
  if (password.length > 256) throw invalid('password', 'must be at most 256 characters');
  return { email, password };
}

export interface ClientProfile {
  first_name: string;
  last_name: string;
  phone_number: string;
}

export interface CompanyProfile extends ClientProfile {
  name: string;
  url: string;
}

export type Signup =
  | (Credentials & { kind: 'CLIENT'; profile: ClientProfile; displayName: string })
  | (Credentials & { kind: 'MERCHANT'; profile: CompanyProfile; displayName: string });

const PERSON = ['first_name', 'last_name', 'phone_number'] as const;

function person(p: Json, prefix: string): ClientProfile {
  const phone = text(p, 'phone_number', prefix, { max: 20 });
  if (!PHONE.test(phone)) throw invalid(`${prefix}phone_number`, 'must be in international format, e.g. +34666666666');
  return {
    first_name: text(p, 'first_name', prefix, { max: 100 }),
    last_name: text(p, 'last_name', prefix, { max: 100 }),
    phone_number: phone,
  };
}

/** The name a party is shown by: a client's first and last name, a company's or an organization's name. */
export function displayNameOf(kind: 'CLIENT' | 'MERCHANT' | 'ORGANIZATION', profile: Record<string, unknown>): string {
  return kind === 'CLIENT' ? `${String(profile.first_name)} ${String(profile.last_name)}` : String(profile.name);
}

/** Seed 004's sign-up bodies: `{email, password, client: {…}}` or `{email, password, company: {…}}`. */
export function parseSignup(input: unknown, kind: 'CLIENT' | 'MERCHANT'): Signup {
  const body = object(input, 'body', ['email', 'password', kind === 'CLIENT' ? 'client' : 'company']);
  const creds = credentials(body);
  if (creds.password.length < 8) throw invalid('password', 'needs at least 8 characters');
  if (kind === 'CLIENT') {
    const profile = person(object(body.client, 'client', PERSON), 'client.');
    return { ...creds, kind, profile, displayName: displayNameOf(kind, { ...profile }) };
  }
  const c = object(body.company, 'company', [...PERSON, 'name', 'url']);
  const url = text(c, 'url', 'company.', { max: 300 });
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw invalid('company.url', 'must be an http(s) URL');
  const profile: CompanyProfile = { ...person(c, 'company.'), name: text(c, 'name', 'company.', { max: 200 }), url };
  return { ...creds, kind, profile, displayName: displayNameOf(kind, { ...profile }) };
}

/** Wallet tokens: 192 random bits, base64url. */
export const WALLET_TOKEN = /^[A-Za-z0-9_-]{32}$/;

export function walletToken(value: unknown, field: string): string {
  if (typeof value !== 'string' || !WALLET_TOKEN.test(value)) throw invalid(field, 'is not a wallet token');
  return value;
}

export interface DepositRequest {
  wallet: string;
  amountMinor: bigint;
}

export function parseDeposit(input: unknown, currency: string, maxMinor: bigint): DepositRequest {
  return depositOf(object(input, 'body', ['wallet', 'amount']), currency, maxMinor);
}

function depositOf(body: Json, currency: string, maxMinor: bigint): DepositRequest {
  return {
    wallet: walletToken(body.wallet, 'wallet'),
    amountMinor: parseAmount(body.amount, currency, 'amount', maxMinor),
  };
}

export interface ChargeRequest extends DepositRequest {
  summary: string;
}

export function parseCharge(input: unknown, currency: string, maxMinor: bigint): ChargeRequest {
  const body = object(input, 'body', ['wallet', 'amount', 'summary']);
  return { ...depositOf(body, currency, maxMinor), summary: text(body, 'summary', '', { max: 140 }) };
}

export interface BulkCreditTransfer {
  amountMinor: bigint;
  counterpartyName: string;
  counterpartyBic: string;
  counterpartyIban: string;
  description: string;
}

export interface BulkTransferRequest {
  organizationName: string;
  organizationIban: string;
  organizationBic: string;
  creditTransfers: BulkCreditTransfer[];
  totalMinor: bigint;
}

export const MAX_BULK_ITEMS = 1_000;

const CREDIT_TRANSFER = ['amount', 'counterparty_name', 'counterparty_bic', 'counterparty_iban', 'description'];

/** Seed 003's body; amounts are decimal strings in full currency units ("700" is 700.00). */
export function parseBulkTransfer(input: unknown, currency: string, maxMinor: bigint): BulkTransferRequest {
  const body = object(input, 'body', [
    'organization_name',
    'organization_iban',
    'organization_bic',
    'credit_transfers',
  ]);
  const organizationName = text(body, 'organization_name', '', { max: 200 });
  const organizationIban = normaliseIban(text(body, 'organization_iban', '', { max: 42 }));
  if (!isValidIban(organizationIban)) throw invalid('organization_iban', 'is not a valid IBAN (check digits)');
  const organizationBic = text(body, 'organization_bic', '', { max: 11 }).toUpperCase();
  if (!isValidBic(organizationBic)) throw invalid('organization_bic', 'is not a valid BIC');
  const list = body.credit_transfers;
  if (!Array.isArray(list) || list.length === 0) throw invalid('credit_transfers', 'must be a non-empty array');
  if (list.length > MAX_BULK_ITEMS) throw invalid('credit_transfers', `at most ${MAX_BULK_ITEMS} credit transfers`);
  let totalMinor = 0n;
  const creditTransfers = list.map((raw: unknown, i): BulkCreditTransfer => {
    const prefix = `credit_transfers[${i}].`;
    const item = object(raw, `credit_transfers[${i}]`, CREDIT_TRANSFER);
    const amountMinor = parseAmount(item.amount, currency, `${prefix}amount`, maxMinor);
    totalMinor += amountMinor;
    const counterpartyIban = normaliseIban(text(item, 'counterparty_iban', prefix, { max: 42 }));
    if (!isValidIban(counterpartyIban))
      throw invalid(`${prefix}counterparty_iban`, 'is not a valid IBAN (check digits)');
    const counterpartyBic = text(item, 'counterparty_bic', prefix, { max: 11 }).toUpperCase();
    if (!isValidBic(counterpartyBic)) throw invalid(`${prefix}counterparty_bic`, 'is not a valid BIC');
    return {
      amountMinor,
      counterpartyName: text(item, 'counterparty_name', prefix, { max: 140 }),
      counterpartyIban,
      counterpartyBic,
      description: text(item, 'description', prefix, { max: 140 }),
    };
  });
  return { organizationName, organizationIban, organizationBic, creditTransfers, totalMinor };
}

/**
 * A credit transfer from the organization's account to itself pays nobody (the money would leave through the bank's
 * transfer only to come back): refused, naming the first such transfer. For a bulk whose organization_iban is known
 * to be the API key's, so that a body naming another organization is refused as that (403) first.
 */
export function refuseTransfersToItself(bulk: BulkTransferRequest): void {
  const i = bulk.creditTransfers.findIndex((t) => t.counterpartyIban === bulk.organizationIban);
  if (i >= 0)
    throw invalid(`credit_transfers[${i}].counterparty_iban`, "is the organization's own account (organization_iban)");
}

/**
 * What makes two bulk transfers of one organization the same payments, for refusing the second one sent without an
 * Idempotency-Key: the same credit transfers, each the same amount in minor units to the same IBAN and office (BIC),
 * with the same counterparty name and description as `nameKey` compares them, in any order. How the body wrote them
 * does not count: "14.5", "14.50" and 14.5; an IBAN in groups or in lower case; `BNPAFRPP` or `BNPAFRPPXXX`; the order
 * of members or of transfers. The organization fields are left out: a bulk is accepted only when they are the key's.
 */
export function bulkIdentity(bulk: BulkTransferRequest): string {
  const transfers = bulk.creditTransfers
    .map((t) =>
      JSON.stringify([
        t.amountMinor.toString(),
        t.counterpartyIban,
        bicKey(t.counterpartyBic),
        nameKey(t.counterpartyName),
        nameKey(t.description),
      ]),
    )
    .sort(); // by UTF-16 code units: the same on every host and locale
  return `bulk-transfer/1\n${transfers.join('\n')}`;
}
