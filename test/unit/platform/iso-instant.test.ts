import { parseIsoInstant } from '../../../services/platform/src/iso-instant';

describe('parseIsoInstant', () => {
  it.each([
    ['2026-11-24', '2026-11-24T00:00:00.000Z'],
    ['2026-11-24T10:00Z', '2026-11-24T10:00:00.000Z'],
    ['2026-11-24T10:00:00+05:30', '2026-11-24T04:30:00.000Z'],
    ['2026-11-24T10:00:00.123456-03:00', '2026-11-24T13:00:00.123Z'],
    ['2028-02-29', '2028-02-29T00:00:00.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(parseIsoInstant(text)).toEqual(new Date(iso));
  });

  it.each(['2026-02-29', '2026-02-30', '2026-04-31', '2026-13-01', '2026-00-01', '2026-01-00', '2026-11-24T24:30:00Z'])(
    '%s does not exist',
    (text) => {
      expect(parseIsoInstant(text)).toBe('no such day');
    },
  );

  it.each(['', 'yesterday', '24/11/2026', '2026-11-24T10:00:00', '2026-11-24 10:00:00Z', '20261124', '2026-11-24T10Z'])(
    '%j is malformed (a time must carry its zone)',
    (text) => {
      expect(parseIsoInstant(text)).toBe('malformed');
    },
  );
});
