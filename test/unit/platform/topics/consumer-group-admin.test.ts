import { parseReplayTarget } from '../../../../services/platform/src/topics/consumer-group-admin';

describe('parseReplayTarget', () => {
  it('accepts earliest and ISO times', () => {
    expect(parseReplayTarget('earliest')).toEqual({ earliest: true });
    expect(parseReplayTarget('2026-11-24T10:00:00Z')).toEqual({ time: new Date('2026-11-24T10:00:00Z') });
  });

  it.each([
    'latest',
    'yesterday',
    '24/11/2026',
    '2026-13-45T99:00:00Z',
    '2026-02-30T10:00:00Z',
    '2026-11-24T25:00:00Z',
  ])('refuses %s naming --to', (text) => {
    expect(() => parseReplayTarget(text)).toThrow(/--to: expected "earliest" or an ISO time/);
  });

  it('refuses a time without its zone, which would mean another instant on a machine in another time zone', () => {
    expect(() => parseReplayTarget('2026-11-24T10:00:00')).toThrow(/with its zone/);
    expect(parseReplayTarget('2026-11-24T10:00:00+01:00')).toEqual({ time: new Date('2026-11-24T09:00:00Z') });
    expect(parseReplayTarget('2026-11-24')).toEqual({ time: new Date('2026-11-24T00:00:00Z') });
  });
});
