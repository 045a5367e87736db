import { parseReplayTarget } from '../../../../services/platform/src/topics/consumer-group-admin';

describe('parseReplayTarget', () => {
  it('accepts earliest and ISO times', () => {
    expect(parseReplayTarget('earliest')).toEqual({ earliest: true });
    expect(parseReplayTarget('2026-11-24T10:00:00Z')).toEqual({ time: new Date('2026-11-24T10:00:00Z') });
  });

  it.each(['latest', 'yesterday', '24/11/2026', '2026-13-45T99:00:00Z'])('refuses %s naming --to', (text) => {
    expect(() => parseReplayTarget(text)).toThrow(/--to: expected "earliest" or an ISO time/);
  });
});
