import {
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
