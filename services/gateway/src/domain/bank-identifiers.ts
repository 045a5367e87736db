/**
 * IBAN (ISO 13616, mod-97 check) and BIC (ISO 9362) validation, pure. IBANs are accepted with spaces and in lower
 * case and normalised to the compact upper-case form.
 */
const IBAN_LENGTHS: Readonly<Record<string, number>> = Object.freeze({
  AD: 24,
  AT: 20,
  BE: 16,
  BG: 22,
  CH: 21,
  CY: 28,
  CZ: 24,
  DE: 22,
  DK: 18,
  EE: 20,
  ES: 24,
  FI: 18,
  FR: 27,
  GB: 22,
  GR: 27,
  HR: 21,
  HU: 28,
  IE: 22,
  IS: 26,
  IT: 27,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  MC: 27,
  MT: 31,
  NL: 18,
  NO: 15,
  PL: 28,
  PT: 25,
  RO: 24,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
});

export function normaliseIban(input: string): string {
  return input.replace(/\s+/g, '').toUpperCase();
}

/** True for a well-formed IBAN whose check digits verify (mod 97 = 1) and whose length fits its country. */
export function isValidIban(input: string): boolean {
  const iban = normaliseIban(input);
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$/.test(iban)) return false;
  const expected = IBAN_LENGTHS[iban.slice(0, 2)];
  if (expected !== undefined && iban.length !== expected) return false;
  return mod97(iban.slice(4) + iban.slice(0, 4)) === 1;
}

/**
 * The IBAN of a domestic account number (BBAN) in `country`, with the check digits that make it valid; a country or
 * a BBAN it cannot make a valid IBAN of is an Error.
 */
export function ibanFromBban(country: string, bban: string): string {
  const digits = 98 - mod97(`${bban}${country}00`);
  const iban = `${country}${String(digits).padStart(2, '0')}${bban}`;
  if (!isValidIban(iban)) throw new Error(`no valid IBAN for country ${country} and account ${bban}`);
  return iban;
}

/** ISO 7064 mod 97-10 of an upper-case alphanumeric text, letters read as 10–35. */
function mod97(text: string): number {
  let remainder = 0;
  for (const ch of text) {
    const value = ch >= 'A' && ch <= 'Z' ? ch.charCodeAt(0) - 55 : Number(ch);
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder;
}

/** 8 or 11 characters: bank (4 letters), country (2 letters), location (2), optional branch (3). */
export function isValidBic(input: string): boolean {
  return /^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$/.test(input.trim().toUpperCase());
}

/**
 * A valid BIC in the form that compares: upper case, and 11 characters — an 8-character BIC is its institution's
 * primary office, the same as the 11-character form with branch code `XXX` (`BNPAFRPP` is `BNPAFRPPXXX`).
 */
export function bicKey(bic: string): string {
  const s = bic.trim().toUpperCase();
  return s.length === 8 ? `${s}XXX` : s;
}

/** Whether two valid BICs name the same office (see `bicKey`). */
export function sameBic(a: string, b: string): boolean {
  return bicKey(a) === bicKey(b);
}

/**
 * A name as people write it, in the form that compares: Unicode compatibility normalisation (NFKC), surrounding white
 * space dropped, inner runs of it as one space, case ignored. Punctuation counts ("ACME Corp." is not "ACME Corp").
 */
export function nameKey(name: string): string {
  return name.normalize('NFKC').trim().replace(/\s+/gu, ' ').toLowerCase();
}

/** Whether two organization names are the same name (see `nameKey`). */
export function sameOrganizationName(a: string, b: string): boolean {
  return nameKey(a) === nameKey(b);
}
