import {
  checkMappings,
  copyLine,
  dedupe,
  inKeyOrder,
  toRows,
  utcMonths,
} from '../../../../connectors/postgres-sink/src/domain/table-mapping';
import type { TableMapping } from '../../../../connectors/postgres-sink/src/domain/table-mapping';

const meta = {
  topic: 't',
  partition: 2,
  offset: '41',
  timestamp: new Date('2026-11-24T10:00:00Z'),
  headers: { 'event-id': 'e-1' },
};

describe('table mapping', () => {
  const mapping: TableMapping = {
    name: 'results',
    topic: 'ledger.results',
    table: 'ledger_results',
    mode: 'insert',
    key: ['command_id'],
    columns: {
      command_id: 'commandId',
      accepted: '$has:outcome/paystream.ledger.CommandAccepted',
      balance: 'outcome/paystream.ledger.CommandAccepted/balanceAfterMinor',
      code: 'outcome/paystream.ledger.CommandRejected/code',
      event_id: '$header:event-id',
      offset: '$offset',
      partition: '$partition',
      at: '$timestamp',
      fixed: '$const:t',
    },
  };

  it('maps fields, union branches, headers and record coordinates into a row', () => {
    const value = { commandId: 'c1', outcome: { 'paystream.ledger.CommandAccepted': { balanceAfterMinor: 500n } } };
    expect(toRows(mapping, value, meta)).toEqual([
      ['c1', true, 500n, null, 'e-1', 41n, 2, new Date('2026-11-24T10:00:00Z'), 't'],
    ]);
  });

  it('with several filters, maps only records meeting all of them; $neg: negates an integer', () => {
    const failed: TableMapping = {
      ...mapping,
      columns: { command_id: 'commandId', amount: '$neg:request/amountMinor' },
      filter: [
        { path: 'duplicate', equals: 'false' },
        { path: 'request/kind', equals: 'CHARGE' },
      ],
    };
    const value = { commandId: 'c', duplicate: false, request: { kind: 'CHARGE', amountMinor: 75n } };
    expect(toRows(failed, value, meta)).toEqual([['c', -75n]]);
    expect(toRows(failed, { ...value, duplicate: true }, meta)).toEqual([]);
    expect(toRows(failed, { ...value, request: { kind: 'DEPOSIT', amountMinor: 75n } }, meta)).toEqual([]);
    expect(toRows(failed, { ...value, request: null }, meta)).toEqual([]);
  });

  it('$first: takes the first of several paths holding a value', () => {
    const first: TableMapping = { ...mapping, columns: { command_id: 'commandId', at: '$first:openedAt,updatedAt' } };
    const opened = new Date('2026-11-01T00:00:00Z');
    const updated = new Date('2026-11-24T00:00:00Z');
    expect(toRows(first, { commandId: 'c', openedAt: opened, updatedAt: updated }, meta)).toEqual([['c', opened]]);
    expect(toRows(first, { commandId: 'c', openedAt: null, updatedAt: updated }, meta)).toEqual([['c', updated]]);
    expect(toRows(first, { commandId: 'c', updatedAt: updated }, meta)).toEqual([['c', updated]]);
    expect(toRows(first, { commandId: 'c' }, meta)).toEqual([['c', null]]);
  });

  it('skips records the filter excludes', () => {
    const filtered = { ...mapping, filter: { path: 'duplicate', equals: 'false' } };
    expect(toRows(filtered, { commandId: 'c', duplicate: true }, meta)).toEqual([]);
    expect(toRows(filtered, { commandId: 'c', duplicate: false }, meta)).toHaveLength(1);
  });

  it('with each, makes one row per array element, columns read from the element and filters from the record', () => {
    const legs: TableMapping = {
      ...mapping,
      key: ['entry_id'],
      each: 'outcome/paystream.ledger.CommandAccepted/entries',
      filter: { path: 'duplicate', equals: 'false' },
      columns: { entry_id: 'entryId', amount: 'amountMinor', event_id: '$header:event-id' },
    };
    const entries = [
      { entryId: 'c:0', amountMinor: -300n },
      { entryId: 'c:1', amountMinor: 300n },
    ];
    const value = { duplicate: false, outcome: { 'paystream.ledger.CommandAccepted': { entries } } };
    expect(toRows(legs, value, meta)).toEqual([
      ['c:0', -300n, 'e-1'],
      ['c:1', 300n, 'e-1'],
    ]);
    expect(toRows(legs, { ...value, duplicate: true }, meta)).toEqual([]);
    expect(toRows(legs, { duplicate: false, outcome: { 'paystream.ledger.CommandRejected': {} } }, meta)).toEqual([]);
    const none = { duplicate: false, outcome: { 'paystream.ledger.CommandAccepted': { entries: [] } } };
    expect(toRows(legs, none, meta)).toEqual([]);
  });

  it('writes COPY text with nulls, booleans, timestamps and escapes', () => {
    expect(copyLine(['a\tb\\c\nd\re', null, true, false, 12n, new Date('2026-01-01T00:00:00Z')])).toBe(
      'a\\tb\\\\c\\nd\\re\t\\N\tt\tf\t12\t2026-01-01T00:00:00.000Z\n',
    );
  });

  it('keeps the first row per key for inserts and the highest version for upserts', () => {
    const insert: TableMapping = {
      name: 'i',
      topic: 't',
      table: 't',
      mode: 'insert',
      key: ['id'],
      columns: { id: 'id', v: 'v' },
    };
    expect(
      dedupe(insert, [
        ['a', 1n],
        ['a', 2n],
        ['b', 1n],
      ]),
    ).toEqual([
      ['a', 1n],
      ['b', 1n],
    ]);
    const upsert: TableMapping = { ...insert, mode: 'upsert', version: 'v' };
    expect(
      dedupe(upsert, [
        ['a', 3n],
        ['a', 2n],
        ['a', 5n],
      ]),
    ).toEqual([['a', 5n]]);
  });

  it('puts rows in one order whatever order they came in: by key, composite keys column by column', () => {
    const m: TableMapping = {
      name: 'h',
      topic: 't',
      table: 'h',
      mode: 'insert',
      key: ['at', 'id'],
      columns: { id: 'id', at: 'at', amount: 'amount' },
    };
    const jan = new Date('2026-01-05T00:00:00Z');
    const feb = new Date('2026-02-01T00:00:00Z');
    const given: [string, Date, bigint][] = [
      ['b', feb, 1n],
      ['a', feb, 2n],
      ['c', jan, 3n],
      ['a', jan, 4n],
    ];
    const expected = [given[3], given[2], given[1], given[0]];
    expect(inKeyOrder(m, given)).toEqual(expected);
    expect(inKeyOrder(m, [...given].reverse())).toEqual(expected);
    expect(inKeyOrder(m, [given[1]!, given[3]!, given[0]!, given[2]!])).toEqual(expected);
  });

  it('refuses mappings that could not be written safely, naming the mapping', () => {
    const ok: TableMapping = { name: 'm', topic: 't', table: 'x', mode: 'insert', key: ['id'], columns: { id: 'id' } };
    expect(() => checkMappings([ok, ok])).toThrow(/mapping m: name missing or repeated/);
    expect(() => checkMappings([{ ...ok, table: 'x; drop table y' }])).toThrow(
      /mapping m: table must be a plain identifier/,
    );
    expect(() => checkMappings([{ ...ok, key: ['nope'] }])).toThrow(/key column nope is not mapped/);
    expect(() => checkMappings([{ ...ok, mode: 'upsert' }])).toThrow(/upsert needs a mapped version column/);
    expect(() => checkMappings([{ ...ok, each: '' }])).toThrow(/mapping m: each must be a path to an array/);
  });

  it('utcMonths: each UTC month of a timestamp column once; null when a cell is not a Date', () => {
    const at = (iso: string) => new Date(iso);
    const rows = [
      ['a', at('2026-10-31T23:59:59.999Z')],
      ['b', at('2026-11-01T00:00:00.000Z')],
      // 23:30 on 30 November at UTC-6 is 05:30 on 1 December UTC: December's partition.
      ['c', at('2026-11-30T23:30:00-06:00')],
      ['d', at('2026-11-15T12:00:00Z')],
    ];
    expect(utcMonths(rows, 1)).toEqual(['2026-10', '2026-11', '2026-12']);
    expect(utcMonths([['x', at('0999-01-05T00:00:00Z')]], 1)).toEqual(['0999-01']);
    expect(utcMonths([], 1)).toEqual([]);
    expect(utcMonths([['a', '2026-11-01T00:00:00Z']], 1)).toBeNull();
    expect(utcMonths([['a', null]], 1)).toBeNull();
    expect(utcMonths([['a', new Date(Number.NaN)]], 1)).toBeNull();
  });
});
