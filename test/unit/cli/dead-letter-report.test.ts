import { deadLetterJsonLines, deadLetterReport, redriveReport } from '../../../services/cli/src/dead-letter-report';
import type { DeadLetterRecord } from '../../../services/platform/src/events/dead-letter-reader';

const letter = (over: Partial<DeadLetterRecord> = {}): DeadLetterRecord => ({
  partition: 3,
  offset: '41',
  timestamp: new Date('2026-12-07T10:00:00.000Z'),
  errorCode: 'ROW_REJECTED',
  errorMessage: 'value too long',
  source: { topic: 'ledger.results', partition: 3, offset: '1200' },
  key: 'acct-1',
  value: { decoded: { commandId: 'dep-1', amountMinor: 12_345_678_901_234n } },
  redriven: false,
  ...over,
});

/** What an operator reads from `paystream dlq list` and `dlq redrive`. */
describe('dead-letter reports', () => {
  it('lists each letter with where it came from, why, its key and its value; 64-bit amounts exact', () => {
    const lines = deadLetterReport({
      topic: 'ledger.results.dlq',
      total: 1,
      redriven: 0,
      records: [letter()],
      unfinished: [],
      pending: [],
    });
    expect(lines).toEqual([
      'ledger.results.dlq: 1 dead letter',
      '',
      'partition 3 offset 41 at 2026-12-07T10:00:00.000Z',
      '  from    ledger.results partition 3 offset 1200',
      '  error   ROW_REJECTED: value too long',
      '  key     acct-1',
      '  value   {"commandId":"dep-1","amountMinor":"12345678901234"}',
    ]);
  });

  it('says how many there are, how many are shown and redriven, what lies past an open transaction, and which partitions were not read in time', () => {
    const lines = deadLetterReport({
      topic: 't.dlq',
      total: 5,
      redriven: 2,
      records: [
        letter({ redriven: true, source: null, key: null, errorCode: null, errorMessage: null, value: null }),
        letter({ offset: '42', value: { undecodable: 'not Avro', bytes: 7 } }),
      ],
      unfinished: [0, 4],
      pending: [
        { partition: 1, from: 7n, to: 8n },
        { partition: 3, from: 43n, to: 47n },
      ],
    });
    expect(lines[0]).toBe('t.dlq: 5 dead letters (the last 2 shown, 2 redriven)');
    expect(lines).toEqual(
      expect.arrayContaining([
        'partition 3 offset 41 at 2026-12-07T10:00:00.000Z (redriven)',
        '  from    unknown',
        '  error   unknown: ',
        '  key     none',
        '  value   none (tombstone)',
        '  value   undecodable (7 bytes): not Avro',
      ]),
    );
    expect(lines.slice(-5)).toEqual([
      '',
      'partition 1: offset 7 not listed, past a transaction still open there (or written as the list began); list again once it ends',
      'partition 3: offsets 43 to 46 not listed, past a transaction still open there (or written as the list began); list again once it ends',
      '',
      'partitions 0, 4 were not read to their end in time (the broker slow or unavailable?); run it again',
    ]);
    expect(
      deadLetterReport({ topic: 't.dlq', total: 0, redriven: 0, records: [], unfinished: [], pending: [] }),
    ).toEqual(['t.dlq: no dead letters']);
  });

  it('gives JSON lines with the topic, amounts as strings and dates as ISO-8601', () => {
    const [line, ...rest] = deadLetterJsonLines({
      topic: 't.dlq',
      total: 1,
      redriven: 0,
      records: [letter()],
      unfinished: [],
      pending: [],
    });
    expect(rest).toEqual([]);
    expect(JSON.parse(line!)).toEqual({
      topic: 't.dlq',
      partition: 3,
      offset: '41',
      timestamp: '2026-12-07T10:00:00.000Z',
      errorCode: 'ROW_REJECTED',
      errorMessage: 'value too long',
      source: { topic: 'ledger.results', partition: 3, offset: '1200' },
      key: 'acct-1',
      value: { decoded: { commandId: 'dep-1', amountMinor: '12345678901234' } },
      redriven: false,
    });
  });

  it('reports a redrive per partition, a dry run as such, what remains past the limit or an open transaction and what was not read', () => {
    const base = { topic: 't.dlq', target: 't', more: false, unfinished: [] as number[], pending: [] };
    expect(
      redriveReport({
        ...base,
        dryRun: false,
        total: 3,
        partitions: [
          { partition: 0, first: '5', last: '5', count: 1 },
          { partition: 2, first: '10', last: '14', count: 2 },
        ],
      }),
    ).toEqual([
      't.dlq: 3 dead letters redriven to t',
      '  partition 0: offset 5 (1)',
      '  partition 2: offsets 10 to 14 (2)',
    ]);
    expect(
      redriveReport({
        ...base,
        dryRun: true,
        total: 1,
        more: true,
        unfinished: [1],
        partitions: [{ partition: 1, first: '0', last: '0', count: 1 }],
        pending: [{ partition: 2, from: 3n, to: 5n }],
      }),
    ).toEqual([
      't.dlq: 1 dead letter to redrive to t (dry run: nothing written)',
      '  partition 1: offset 0 (1)',
      'more remain past --limit; run it again for them',
      'partition 2: offsets 3 to 4 not redriven, past a transaction still open there (or written as the run began); run it again once it ends',
      'partition 1 was not read to its end in time (the broker slow or unavailable?); run it again',
    ]);
    expect(redriveReport({ ...base, dryRun: false, total: 0, partitions: [] })).toEqual(['t.dlq: nothing to redrive']);
  });
});
