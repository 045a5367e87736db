import { createHash, randomUUID } from 'node:crypto';

import Router from '@koa/router';
import Koa from 'koa';
import type { Context } from 'koa';
import { Counter, Histogram } from 'prom-client';

import { toPaystreamError } from '../../../platform/src/errors';
import { IdempotencyStore } from '../adapters/idempotency-store';
import type { StoredResponse } from '../adapters/idempotency-store';
import { ApiError, clipped, errorResponse, retryAfterOf } from '../domain/api-error';
import { awaitedFollowUp, duplicateBulkError, reusedKeyError } from '../domain/outcomes';
import { presentedToken } from './authorization';
import { clientAddress, proxyTrust } from './client-address';
import { derivedUuid } from './derived-id';
import { firstDuplicateKey, MAX_JSON_DEPTH, nestedDeeperThan, parseNoQuery } from '../domain/requests';
import { ANSWER_HEADERS } from './context';
import type { Caller, GatewayDeps, Reply } from './context';
import type { Request } from './handlers';
import { handlers } from './handlers';
import { createBookkeeping } from './bookkeeping';
import { openApiDocument } from './openapi';

type Auth = 'none' | 'party' | 'client' | 'merchant' | 'organization' | 'any';

/** Who may call each kind of route that not every token may, and how its 403 names them. */
const CALLERS: Record<Exclude<Auth, 'none' | 'any'>, { kinds: Caller['kind'][]; who: string }> = {
  party: { kinds: ['CLIENT', 'MERCHANT'], who: 'clients and companies' },
  client: { kinds: ['CLIENT'], who: 'clients' },
  merchant: { kinds: ['MERCHANT'], who: 'companies' },
  organization: { kinds: ['ORGANIZATION'], who: 'organizations' },
};

export interface RouteSpec {
  method: 'GET' | 'POST';
  path: string;
  auth: Auth;
  handler: (req: Request) => Promise<Reply>;
  /**
   * A request of this route sent without an Idempotency-Key is refused (409) when one with the same identity was
   * accepted already: the identity is what the request does (parsed, whatever way the body wrote it), not its bytes.
   * Throws the route's validation error for a body it cannot read.
   */
  dedupeBy?: (body: unknown, caller: Caller | undefined) => string;
  /**
   * What a query string gets: `refused` (the default: any parameter is a 400 naming it, the route reads none), `handler`
   * (the handler reads and checks it), `ignored` (probes and documents, where a cache-buster must not fail).
   */
  query?: 'refused' | 'handler' | 'ignored';
  /** The largest body this route reads (413 above it), when not the gateway's `bodyLimitBytes`. */
  bodyLimitBytes?: number;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
/** A client's X-Request-Id the gateway keeps (a UUID, a trace id, …): 8–64 letters, digits, `-`, `_`, `.`. */
const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * The gateway's HTTP surface (seed 004's wallet API and seed 003's bulk transfers), on koa.
 *
 * Every request: a JSON error body `{ error: { code, message, field } }` for every failure, 4xx for the client's
 * mistakes, 503 (retryable) when a dependency is down, never a stack trace; bodies above the configured limit (the
 * bulk transfer's own, larger) → 413, a body not declared `application/json` or sent with a content coding → 415;
 * `Authorization: Token <token>` (session token, or an organization API key `psk_…`) checked per route; a per-token
 * (or per-address for anonymous routes) rate limit → 429. Every POST honours `Idempotency-Key`: the first request
 * with a key runs, its response is stored, a retry gets that response back (`idempotent-replayed: true`), the same key
 * with a different body → 422.
 */
export function createGatewayApp(deps: GatewayDeps): { app: Koa; routes: RouteSpec[] } {
  const bookkeep = createBookkeeping(deps.logger, deps.metrics);
  const h = handlers(deps, bookkeep);
  const routes: RouteSpec[] = [
    { method: 'POST', path: '/client/signup', auth: 'none', handler: h.clientSignup },
    { method: 'POST', path: '/client/login', auth: 'none', handler: h.clientLogin },
    { method: 'POST', path: '/client/logout', auth: 'client', handler: h.logout },
    { method: 'POST', path: '/company/signup', auth: 'none', handler: h.companySignup },
    { method: 'POST', path: '/company/login', auth: 'none', handler: h.companyLogin },
    { method: 'POST', path: '/company/logout', auth: 'merchant', handler: h.logout },
    { method: 'POST', path: '/wallet/create', auth: 'party', handler: h.createWallet },
    { method: 'POST', path: '/wallet/deposit', auth: 'party', handler: h.deposit },
    { method: 'GET', path: '/wallet/info/:token', auth: 'party', handler: h.info },
    { method: 'GET', path: '/wallet/list', auth: 'party', handler: h.list, query: 'handler' },
    { method: 'POST', path: '/wallet/charge', auth: 'merchant', handler: h.charge },
    { method: 'GET', path: '/wallet/history/:token', auth: 'party', handler: h.history, query: 'handler' },
    {
      method: 'POST',
      path: '/bulk_transfer',
      auth: 'organization',
      handler: h.bulkTransfer,
      dedupeBy: h.bulkIdentity,
      bodyLimitBytes: deps.config.bulkBodyLimitBytes,
    },
    { method: 'GET', path: '/bulk_transfer/:id', auth: 'organization', handler: h.bulkStatus },
    { method: 'GET', path: '/operations/:id', auth: 'any', handler: h.operation },
    {
      method: 'GET',
      path: '/openapi.json',
      auth: 'none',
      query: 'ignored',
      handler: () => Promise.resolve({ status: 200, body: openApiDocument(deps.config) }),
    },
    {
      method: 'GET',
      path: '/status',
      auth: 'none',
      query: 'ignored',
      handler: () => Promise.resolve({ status: 200, body: { status: 'ok' } }),
    },
  ];

  const requests = new Counter({
    name: 'paystream_gateway_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [deps.metrics],
  });
  const latency = new Histogram({
    name: 'paystream_gateway_request_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route'],
    // Fine between 50 and 500 ms, where the charge route's p50 and p99 sit under load.
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 1, 2.5, 5],
    registers: [deps.metrics],
  });

  const trust = proxyTrust(deps.config.trustedProxyHops, deps.config.trustedProxies);
  const app = new Koa({ proxy: false });
  const router = new Router();

  app.use(async (ctx, next) => {
    const started = performance.now();
    ctx.set(ANSWER_HEADERS);
    // Every answer names its request, so a client reporting a failure and the log line about it meet. A client's own id
    // is kept when it is a plain token; anything else is replaced, so no log line carries what a client made up.
    const offered = ctx.get('x-request-id');
    const requestId = REQUEST_ID.test(offered) ? offered : randomUUID();
    ctx.set('x-request-id', requestId);
    try {
      await next();
      // The router answers a known path asked with another method 405 with an Allow header, but no body.
      if (ctx.status === 405) {
        throw new ApiError(
          'METHOD_NOT_ALLOWED',
          'METHOD_NOT_ALLOWED',
          `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('allow')}`,
        );
      }
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new ApiError('NOT_FOUND', 'ROUTE_NOT_FOUND', `no route ${ctx.method} ${ctx.path}`);
      }
    } catch (thrown) {
      const err = toPaystreamError(thrown);
      const { status, body } = errorResponse(err);
      if (status >= 500)
        deps.logger.error('request failed', { method: ctx.method, path: ctx.path, requestId, error: err });
      ctx.status = status;
      ctx.body = body;
      // Every 503 is retryable (a dependency down, a moment's overload): it says when to try again, as a 429 does.
      if (status === 429 || status === 503) ctx.set('retry-after', String(retryAfterOf(err)));
      // A 401 names the scheme credentials are accepted in (RFC 9110 §11.6.1): Token, seed 004's header.
      if (status === 401) ctx.set('www-authenticate', 'Token');
      // A body is read only as sent, without a content coding (RFC 7694: a 415 says which codings it takes).
      if (status === 415) ctx.set('accept-encoding', 'identity');
    } finally {
      const route = (ctx.state as { route?: string }).route ?? 'unmatched';
      requests.inc({ method: ctx.method, route, status: String(ctx.status) });
      latency.observe({ method: ctx.method, route }, (performance.now() - started) / 1000);
    }
  });

  for (const spec of routes) {
    const run = async (ctx: Context) => {
      (ctx.state as { route?: string }).route = spec.path;
      // Authentication and the rate limit are independent round trips to Redis: they run together. The limit is
      // per presented token (per address for anonymous routes).
      const presented = presentedToken(ctx.get('authorization'));
      const who = spec.auth !== 'none' && presented ? `t:${sha256(presented).slice(0, 24)}` : `ip:${addressOf(ctx)}`;
      const [caller] = await Promise.all([authenticate(ctx, spec.auth), rateLimit(who)]);
      if ((spec.query ?? 'refused') === 'refused') parseNoQuery(ctx.query);
      const body =
        spec.method === 'POST' ? await readJson(ctx, spec.bodyLimitBytes ?? deps.config.bodyLimitBytes) : undefined;
      const reply =
        spec.method === 'POST'
          ? await idempotent(ctx, spec, caller, body)
          : await spec.handler(request(ctx, caller, body, randomUUID()));
      write(ctx, reply);
    };
    if (spec.method === 'GET') router.get(spec.path, run);
    else router.post(spec.path, run);
  }
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: false }));

  function request(
    ctx: Context,
    caller: Caller | undefined,
    body: unknown,
    operationId: string,
    key?: string,
  ): Request {
    return {
      caller,
      body,
      params: (ctx as unknown as { params: Record<string, string> }).params ?? {},
      query: ctx.query,
      operationId,
      ...(key === undefined ? {} : { idempotencyKey: key }),
      clientAddress: addressOf(ctx),
    };
  }

  function write(ctx: Context, reply: Reply): void {
    ctx.status = reply.status;
    for (const [k, v] of Object.entries(reply.headers ?? {})) ctx.set(k, v);
    if (reply.body !== undefined) ctx.body = reply.body;
    else if (reply.status !== 204) ctx.body = {};
  }

  async function authenticate(ctx: Context, auth: Auth): Promise<Caller | undefined> {
    if (auth === 'none') return undefined;
    const token = presentedToken(ctx.get('authorization'));
    if (token === undefined)
      throw new ApiError('UNAUTHENTICATED', 'UNAUTHENTICATED', 'send Authorization: Token <token>', 'Authorization');
    let caller: Caller | undefined;
    if (token.startsWith('psk_')) {
      const org = await deps.directory.organizationByKey(token);
      if (org)
        caller = {
          kind: 'ORGANIZATION',
          partyId: org.organizationId,
          token,
          accountId: org.accountId,
          name: org.name,
          iban: org.iban,
          bic: org.bic,
          currency: org.currency,
        };
    } else {
      const session = await deps.sessions.get(token);
      if (session && session.kind !== 'ORGANIZATION') caller = { kind: session.kind, partyId: session.partyId, token };
    }
    if (!caller)
      throw new ApiError(
        'UNAUTHENTICATED',
        'INVALID_TOKEN',
        'the token is unknown, expired or revoked',
        'Authorization',
      );
    if (auth !== 'any' && !CALLERS[auth].kinds.includes(caller.kind))
      throw new ApiError('FORBIDDEN', 'FORBIDDEN', `only ${CALLERS[auth].who} may call ${ctx.method} ${ctx.path}`);
    return caller;
  }

  function addressOf(ctx: Context): string {
    return clientAddress(ctx.get('x-forwarded-for') || undefined, ctx.socket.remoteAddress ?? '', trust);
  }

  async function rateLimit(who: string): Promise<void> {
    const { allowed } = await deps.rateLimiter.hit(who, Date.now());
    if (!allowed)
      throw new ApiError(
        'RATE_LIMITED',
        'RATE_LIMITED',
        `more than ${deps.config.rateLimitPerSecond} requests per second`,
      );
  }

  async function idempotent(ctx: Context, spec: RouteSpec, caller: Caller | undefined, body: unknown): Promise<Reply> {
    const header = ctx.get('idempotency-key');
    // A header sent empty is a key gone missing on the client's side, not a request without one: refused, so that its
    // retry cannot apply the request a second time.
    if (ctx.req.headers['idempotency-key'] !== undefined && !IDEMPOTENCY_KEY.test(header))
      throw new ApiError(
        'VALIDATION_FAILED',
        'VALIDATION_FAILED',
        'Idempotency-Key: 1–255 printable ASCII characters',
        'Idempotency-Key',
      );
    const scope = `${caller?.partyId ?? 'anonymous'}:${spec.path}`;
    const identity = header === '' ? spec.dedupeBy?.(body, caller) : undefined;
    const byPayload = identity !== undefined;
    if (header === '' && !byPayload) return spec.handler(request(ctx, caller, body, randomUUID()));
    const key = byPayload ? `payload:${IdempotencyStore.payloadHash(identity)}` : header;
    // Keyed by identity, requests that mean the same are the same request, however their bodies differ.
    const fingerprint = byPayload ? key : IdempotencyStore.fingerprint(spec.method, spec.path, body);
    const claim = await deps.idempotency.claim(scope, key, fingerprint);
    if (claim.kind === 'mismatch') throw reusedKeyError();
    if (claim.kind === 'in-progress')
      throw new ApiError(
        'CONFLICT',
        byPayload ? 'DUPLICATE_REQUEST' : 'REQUEST_IN_PROGRESS',
        'the same request is being processed',
        byPayload ? 'body' : 'Idempotency-Key',
      );
    // Whether this request runs again in place of a 202 whose outcome is known now (see below).
    let rerun = false;
    if (claim.kind === 'replay') {
      if (byPayload) {
        const original = claim.response.body as { bulk_id?: string; operation_id?: string } | undefined;
        // Answered 202, and refused by the ledger since: it moved nothing, so it may be sent again like one refused at
        // once. (Two such sends racing both go on; the ids they derive are the same, so at most one is applied.)
        if (
          claim.response.status === 202 &&
          original?.operation_id !== undefined &&
          (await deps.directory.ledgerResult(original.operation_id))?.accepted === false
        ) {
          await deps.idempotency.release(scope, key);
          return idempotent(ctx, spec, caller, body);
        }
        throw duplicateBulkError(original?.bulk_id, { pending: claim.response.status === 202 });
      }
      // Answered 202, and the ledger has given the outcome since: the request runs again under the same ids, which
      // applies nothing again (the ledger answers a command id it knows with its first result), and its answer (200,
      // or the refusal) replaces the 202, so a client retrying with its key learns the outcome without polling.
      if (!(await outcomeKnown(claim.response))) {
        ctx.set('idempotent-replayed', 'true');
        return claim.response;
      }
      if (!(await deps.idempotency.reopen(scope, key, fingerprint, claim.record)))
        return idempotent(ctx, spec, caller, body);
      rerun = true;
    }
    // The operation id (and so the ledger command id) is a function of the caller and the key: a retry after a crash
    // re-sends the same command, which the ledger applies once.
    const operationId = derivedUuid(`${scope}\n${key}`);
    let reply: Reply;
    try {
      reply = await spec.handler(request(ctx, caller, body, operationId, byPayload ? undefined : header));
    } catch (thrown) {
      const err = toPaystreamError(thrown);
      const { status, body: errorBody } = errorResponse(err);
      // A refused bulk applied nothing: the same payments may be sent again once the account can cover them (the
      // handler then sends them under a new command id). The answer is the handler's error whether or not Redis took
      // this: a claim not released lapses after its lease, a response not stored is answered by the ledger again.
      await bookkeep('idempotency', () =>
        status >= 500 || byPayload
          ? deps.idempotency.release(scope, key)
          : deps.idempotency.complete(scope, key, fingerprint, { status, body: errorBody }),
      );
      // A refusal found by a re-run is the first request's outcome; a 5xx is this attempt's failure, not a replay.
      if (rerun && status < 500) ctx.set('idempotent-replayed', 'true');
      throw err;
    }
    if (rerun) ctx.set('idempotent-replayed', 'true');
    // Not stored, a retry with the key is in progress (409) until the claim lapses; then it runs again, and a money
    // movement re-sends the same command id, which the ledger answers with its first result.
    await bookkeep('idempotency', () => deps.idempotency.complete(scope, key, fingerprint, reply));
    return reply;
  }

  /**
   * Whether `response` is a 202 whose outcome the ledger has given since: the read model holds its command's result
   * and, for a charge it accepted, the merchant's credit's (before that a re-run would wait for the credit again and
   * answer 202 again). A read model that cannot be read leaves the 202 as it is: the client may poll, or retry later.
   */
  async function outcomeKnown(response: StoredResponse): Promise<boolean> {
    const operationId = (response.body as { operation_id?: unknown } | undefined)?.operation_id;
    if (response.status !== 202 || typeof operationId !== 'string') return false;
    try {
      const result = await deps.directory.ledgerResult(operationId);
      if (result === undefined) return false;
      const followUp = awaitedFollowUp(operationId, result.accepted);
      return followUp === undefined || (await deps.directory.ledgerResult(followUp)) !== undefined;
    } catch (thrown) {
      deps.logger.warn('the outcome of an operation answered 202 could not be read; its 202 is replayed', {
        operationId,
        error: toPaystreamError(thrown).message,
      });
      return false;
    }
  }

  return { app, routes };
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Reads a JSON body up to `limit` bytes; an empty body is `{}`. A body sent with a content coding (gzip, br, …) is
 * refused (415) with the header named, rather than parsed as if it were plain: it is decoded nowhere on the way in. A
 * body declared as anything but `application/json` is refused (415, naming `Content-Type`) before it is parsed.
 */
async function readJson(ctx: Context, limit: number): Promise<unknown> {
  const coding = ctx.get('content-encoding').trim().toLowerCase();
  if (coding !== '' && coding !== 'identity')
    throw new ApiError(
      'UNSUPPORTED_MEDIA_TYPE',
      'UNSUPPORTED_CONTENT_ENCODING',
      `send the body without a content coding (got ${JSON.stringify(coding.slice(0, 40))})`,
      'Content-Encoding',
    );
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > limit)
    throw new ApiError('PAYLOAD_TOO_LARGE', 'PAYLOAD_TOO_LARGE', `body larger than ${limit} bytes`, 'body');
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit)
        throw new ApiError('PAYLOAD_TOO_LARGE', 'PAYLOAD_TOO_LARGE', `body larger than ${limit} bytes`, 'body');
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    // The client went away mid-body: its mistake (or its network's), not a server error.
    throw new ApiError('VALIDATION_FAILED', 'BODY_INCOMPLETE', 'the request body was not received completely', 'body');
  }
  let raw: string;
  try {
    // Bytes that are not UTF-8 are refused, not replaced by U+FFFD: a name is kept as sent or not at all.
    raw = UTF8.decode(Buffer.concat(chunks)).trim();
  } catch {
    throw new ApiError('VALIDATION_FAILED', 'MALFORMED_JSON', 'the body is not UTF-8 text', 'body');
  }
  if (raw === '') return {};
  if (!ctx.is('application/json'))
    throw new ApiError(
      'UNSUPPORTED_MEDIA_TYPE',
      'UNSUPPORTED_MEDIA_TYPE',
      'send the body as application/json',
      'Content-Type',
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw) as unknown;
  } catch {
    throw new ApiError('VALIDATION_FAILED', 'MALFORMED_JSON', 'the body is not valid JSON', 'body');
  }
  if (nestedDeeperThan(parsed, MAX_JSON_DEPTH))
    throw new ApiError(
      'VALIDATION_FAILED',
      'MALFORMED_JSON',
      `the body nests arrays and objects more than ${MAX_JSON_DEPTH} deep`,
      'body',
    );
  const duplicate = firstDuplicateKey(raw);
  if (duplicate !== undefined) {
    const field = clipped(duplicate, 100);
    throw new ApiError('VALIDATION_FAILED', 'VALIDATION_FAILED', `${field}: is given more than once`, field);
  }
  return parsed;
}
