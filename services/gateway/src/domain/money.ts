import { PaystreamError } from '../../../platform/src/errors';

/**
 * Exact money parsing for the HTTP edge: a decimal string ("12.34") or a JSON number (12.34, read through its
 * shortest decimal representation) becomes integer minor units. No float arithmetic ever touches the value.
 */
export const MINOR_DIGITS: Readonly<Record<string, number>> = Object.freeze({ EUR: 2, USD: 2, MXN: 2, GBP: 2, JPY: 0 });

export function parseAmount(input: unknown, currency: string, field: string, maxMinor: bigint): bigint {
  const digits = MINOR_DIGITS[currency];
  if (digits === undefined) throw invalid(field, `currency ${currency} is not supported`);
  let text: string;
  // A string is taken exactly as the OpenAPI pattern describes it: no sign, no exponent, no surrounding spaces.
  if (typeof input === 'string') text = input;
  else if (typeof input === 'number' && Number.isFinite(input)) {
    // A JSON number is a double by the time it is read. A decimal of at most 15 significant digits survives that
    // exactly (the shortest text of its double is itself); a longer one may already be another amount (90071992547409.91
    // reads as …409.9), so amounts of 10^15 minor units and more must come as strings.
    if (Math.abs(input) * 10 ** digits >= 1e15)
      throw invalid(field, 'is too large to be exact as a JSON number; send it as a decimal string');
    text = String(input);
  } else throw invalid(field, 'must be a decimal string such as "12.34" or a number');
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw invalid(field, `"${text}" is not a positive decimal amount`);
  const whole = m[1] ?? '0';
  const fraction = m[2] ?? '';
  if (fraction.length > digits) throw invalid(field, `at most ${digits} decimal places for ${currency}`);
  const minor = BigInt(whole) * 10n ** BigInt(digits) + BigInt(fraction.padEnd(digits, '0') || '0');
  if (minor <= 0n) throw invalid(field, 'must be greater than zero');
  if (minor > maxMinor) throw invalid(field, `must not exceed ${formatAmount(maxMinor, currency)}`);
  return minor;
}

/** Minor units as a decimal string with the currency's digits ("1234" EUR → "12.34"). */
export function formatAmount(minor: bigint, currency: string): string {
  const digits = MINOR_DIGITS[currency] ?? 2;
  const negative = minor < 0n;
  const abs = negative ? -minor : minor;
  const unit = 10n ** BigInt(digits);
  const whole = abs / unit;
  const fraction = (abs % unit).toString().padStart(digits, '0');
  return `${negative ? '-' : ''}${whole}${digits > 0 ? `.${fraction}` : ''}`;
}

function invalid(field: string, message: string): PaystreamError {
  return new PaystreamError('VALIDATION_FAILED', `${field}: ${message}`, { details: { field } });
}
