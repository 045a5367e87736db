import {
  ibanFromBban,
  isValidBic,
  isValidIban,
  normaliseIban,
  sameBic,
  sameOrganizationName,
} from '../../../../services/gateway/src/domain/bank-identifiers';

describe('IBAN', () => {
  it.each([
    'DE89370400440532013000',
    'FR1420041010050500013M02606',
    'GB82 WEST 1234 5698 7654 32',
    'es9121000418450200051332',
    'NO9386011117947',
  ])('%s is valid', (iban) => expect(isValidIban(iban)).toBe(true));

  it.each([
    ['DE89370400440532013001', 'wrong check digits'],
    ['FR10474608000002006107XXXXX', "seed 003's placeholder"],
    ['DE8937040044053201300', 'too short for DE'],
    ['XX', 'too short'],
    ['DE89-3704-0044', 'bad characters'],
  ])('%s is refused (%s)', (iban) => expect(isValidIban(iban)).toBe(false));

  it('normalises spaces and case', () => {
    expect(normaliseIban('gb82 west 1234 5698 7654 32')).toBe('GB82WEST12345698765432');
  });

  it.each([
    ['DE', '370400440532013000', 'DE89370400440532013000'],
    ['FR', '20041010050500013M02606', 'FR1420041010050500013M02606'],
    ['GB', 'WEST12345698765432', 'GB82WEST12345698765432'],
    ['NO', '86011117947', 'NO9386011117947'],
  ])('makes the %s IBAN of account %s: %s', (country, bban, iban) => {
    expect(ibanFromBban(country, bban)).toBe(iban);
  });

  it('gives check digits below 10 with a leading zero', () => {
    const ibans = Array.from({ length: 200 }, (_, i) => ibanFromBban('DE', `1000000000${String(i).padStart(8, '0')}`));
    expect(ibans.every(isValidIban)).toBe(true);
    expect(ibans.some((iban) => iban.slice(2, 4) < '10')).toBe(true);
  });

  it('refuses an account that cannot make a valid IBAN of its country', () => {
    expect(() => ibanFromBban('DE', '1234')).toThrow('no valid IBAN for country DE and account 1234');
  });
});

describe('BIC', () => {
  it.each(['COBADEFFXXX', 'CRLYFRPP', 'OIVUSCLQXXX', 'deutdeff500'])('%s is valid', (bic) =>
    expect(isValidBic(bic)).toBe(true),
  );
  it.each(['e', 'COBADEFFXX', 'COBA1EFF', 'COBADEFFXXXX'])('%s is refused', (bic) =>
    expect(isValidBic(bic)).toBe(false),
  );
});

describe('the same BIC', () => {
  it.each([
    ['BNPAFRPP', 'BNPAFRPP'],
    ['BNPAFRPP', 'BNPAFRPPXXX'],
    ['bnpafrppxxx', 'BNPAFRPP'],
    ['DEUTDEFF500', 'deutdeff500'],
  ])('%s is %s', (a, b) => {
    expect(sameBic(a, b)).toBe(true);
    expect(sameBic(b, a)).toBe(true);
  });
  it.each([
    ['BNPAFRPP', 'BNPAFRPP123'],
    ['DEUTDEFF500', 'DEUTDEFF'],
    ['BNPAFRPP', 'BNPAFRPQ'],
  ])('%s is not %s', (a, b) => {
    expect(sameBic(a, b)).toBe(false);
    expect(sameBic(b, a)).toBe(false);
  });
});

describe('the same organization name', () => {
  it.each([
    ['ACME Corp', 'ACME Corp'],
    ['ACME Corp', '  acme   CORP '],
    ['ACME\u00a0Corp', 'ACME Corp'],
    ['Ｆｏｏ Bank', 'Foo Bank'],
    ['Café Müller', 'CAFÉ MÜLLER'],
    ['Cafe\u0301', 'Café'],
  ])('%j is %j', (a, b) => expect(sameOrganizationName(a, b)).toBe(true));
  it.each([
    ['ACME Corp', 'ACME Corp.'],
    ['ACME Corp', 'ACMECorp'],
    ['ACME Corp', 'ACME Corporation'],
    ['Cafe', 'Café'],
  ])('%j is not %j', (a, b) => expect(sameOrganizationName(a, b)).toBe(false));
});
