/**
 * Structured JSON logger, one line per record on the given stream. Loggers are created once at start-up and passed
 * into every module (never imported as a global). Keys that name secrets are redacted before a record is written,
 * so a config object or an error's details can be logged as they are.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

const SECRET_KEY = /pass(word)?|secret|token|authorization|api[-_]?key|private[-_]?key|credential/i;
/** Full account and card numbers are masked to their last four characters. */
const ACCOUNT_NUMBER_KEY = /iban|clabe|^cuenta|card_?number|account_?number|^pan$/i;

function mask(v: unknown): string {
  const s = String(v);
  return s.length <= 4 ? '****' : `****${s.slice(-4)}`;
}

/** Replaces values under secret-looking keys and credentials inside URLs; walks plain objects and arrays. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[depth]';
  if (typeof value === 'string') return value.replace(/(\w+:\/\/[^:/@\s]+:)[^@\s]+@/g, '$1***@');
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: redact(value.message, depth + 1) };
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '***' : redact(v, depth + 1);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY.test(k) ? '***' : ACCOUNT_NUMBER_KEY.test(k) && v != null ? mask(v) : redact(v, depth + 1);
    }
    return out;
  }
  return value;
}

export interface LoggerOptions {
  level?: LogLevel;
  stream?: { write(chunk: string): unknown };
  bindings?: Record<string, unknown>;
  now?: () => Date;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = LOG_LEVELS.indexOf(options.level ?? 'info');
  const stream = options.stream ?? process.stdout;
  const now = options.now ?? (() => new Date());
  const bindings = options.bindings ?? {};
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const record = redact({ time: now().toISOString(), level, msg, ...bindings, ...(fields ?? {}) });
    stream.write(`${JSON.stringify(record)}\n`);
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    child: (more) => createLogger({ ...options, bindings: { ...bindings, ...more } }),
  };
}

/** A logger that writes nothing; for tests that do not assert on logs. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
