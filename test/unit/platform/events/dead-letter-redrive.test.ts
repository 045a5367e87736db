import { redrivenRecord } from '../../../../services/platform/src/events/dead-letter-redrive';
import { DLQ_HEADER, HEADER } from '../../../../services/platform/src/events/event-headers';

const letter = (headers: Record<string, string>) => ({
  partition: 1,
  offset: '41',
  timestamp: '1765000000000',
  key: Buffer.from('acct-1'),
  value: Buffer.from([0, 0, 0, 0, 7, 2]),
  headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
});

const dead = {
  'event-id': 'cmd-1',
  'correlation-id': 'req-1',
  [HEADER.inputOffset]: '99',
  [DLQ_HEADER.errorCode]: 'DECODE_FAILED',
  [DLQ_HEADER.errorMessage]: 'bad',
  [DLQ_HEADER.sourceTopic]: 'ledger.commands',
  [DLQ_HEADER.sourcePartition]: '4',
  [DLQ_HEADER.sourceOffset]: '17',
  [DLQ_HEADER.redrivenFrom]: 'ledger.commands.dlq/0/3',
};

describe('redrivenRecord', () => {
  it('is the record as it was: key, value and own headers, no dead-lettering headers, naming the letter', () => {
    const r = redrivenRecord('ledger.commands.dlq', letter(dead), 'ledger.commands', 6);
    expect(r.key).toEqual(Buffer.from('acct-1'));
    expect(r.value).toEqual(Buffer.from([0, 0, 0, 0, 7, 2]));
    expect(r.partition).toBe(4);
    expect(Object.keys(r.headers ?? {}).sort()).toEqual(['correlation-id', DLQ_HEADER.redrivenFrom, 'event-id']);
    expect(r.headers?.['event-id']).toEqual(Buffer.from('cmd-1'));
    // The latest letter it was, not the first.
    expect(r.headers?.[DLQ_HEADER.redrivenFrom]).toBe('ledger.commands.dlq/1/41');
  });

  it('leaves the partition to the key where the source partition is unknown, gone or of another topic', () => {
    const without = { ...dead } as Record<string, string>;
    delete without[DLQ_HEADER.sourcePartition];
    expect(redrivenRecord('ledger.commands.dlq', letter(without), 'ledger.commands', 6).partition).toBeUndefined();
    expect(redrivenRecord('ledger.commands.dlq', letter(dead), 'ledger.commands', 3).partition).toBeUndefined();
    expect(redrivenRecord('x.ledger.commands.dlq', letter(dead), 'x.ledger.commands', 6).partition).toBeUndefined();
    const odd = { ...dead, [DLQ_HEADER.sourcePartition]: '-1' };
    expect(redrivenRecord('ledger.commands.dlq', letter(odd), 'ledger.commands', 6).partition).toBeUndefined();
  });
});
