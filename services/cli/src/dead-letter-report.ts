import type { DeadLetterRecord, DeadLetters, PastCommittedEnd } from '../../platform/src/events/dead-letter-reader';
import type { Redrive } from '../../platform/src/events/dead-letter-redrive';

/** JSON for an operator's eyes: 64-bit integers as decimal strings, bytes as base64, dates as ISO-8601. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
    if (v !== null && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer')
      return Buffer.from((v as { data: number[] }).data).toString('base64');
    return v;
  });
}

/** Partitions a read did not reach the end of in time (its end is the last stable offset: no open transaction). */
const unreadText = (partitions: number[]) =>
  (partitions.length === 1
    ? `partition ${partitions[0]} was not read to its end`
    : `partitions ${partitions.join(', ')} were not read to their end`) +
  ' in time (the broker slow or unavailable?); run it again';

/**
 * A partition whose records run on past its committed end (see `DeadLetters.pending`): what was not listed, and why.
 */
export function pendingText(p: PastCommittedEnd, what: 'list' | 'redrive' = 'list'): string {
  const last = p.to - 1n;
  const offsets = p.from === last ? `offset ${p.from}` : `offsets ${p.from} to ${last}`;
  return what === 'list'
    ? `partition ${p.partition}: ${offsets} not listed, past a transaction still open there (or written as the list ` +
        'began); list again once it ends'
    : `partition ${p.partition}: ${offsets} not redriven, past a transaction still open there (or written as the ` +
        'run began); run it again once it ends';
}

function valueText(r: DeadLetterRecord): string {
  if (r.value === null) return 'none (tombstone)';
  if ('decoded' in r.value) return jsonText(r.value.decoded);
  return `undecodable (${r.value.bytes} bytes): ${r.value.undecodable}`;
}

/** `paystream dlq list`: the dead letters read (the last ones), oldest first, each as a short block of lines. */
export function deadLetterReport(letters: DeadLetters): string[] {
  const { topic, total, redriven, records, unfinished, pending } = letters;
  const shown = [
    ...(records.length < total ? [`the last ${records.length} shown`] : []),
    ...(redriven > 0 ? [`${redriven} redriven`] : []),
  ];
  const lines = [
    total === 0
      ? `${topic}: no dead letters`
      : `${topic}: ${total} dead letter${total === 1 ? '' : 's'}` + (shown.length > 0 ? ` (${shown.join(', ')})` : ''),
  ];
  for (const r of records) {
    lines.push(
      '',
      `partition ${r.partition} offset ${r.offset} at ${r.timestamp.toISOString()}${r.redriven ? ' (redriven)' : ''}`,
      `  from    ${r.source ? `${r.source.topic} partition ${r.source.partition} offset ${r.source.offset}` : 'unknown'}`,
      `  error   ${r.errorCode ?? 'unknown'}: ${r.errorMessage ?? ''}`,
      `  key     ${r.key ?? 'none'}`,
      `  value   ${valueText(r)}`,
    );
  }
  if (pending.length > 0) lines.push('', ...pending.map((p) => pendingText(p)));
  if (unfinished.length > 0) lines.push('', unreadText(unfinished));
  return lines;
}

/** `--json`: one object per line, for tools. */
export function deadLetterJsonLines(letters: DeadLetters): string[] {
  return letters.records.map((r) => jsonText({ topic: letters.topic, ...r, timestamp: r.timestamp.toISOString() }));
}

/** `paystream dlq redrive`: what was written back (or, dry, would be), per dead-letter partition. */
export function redriveReport(r: Redrive): string[] {
  const letters = (n: number) => `${n} dead letter${n === 1 ? '' : 's'}`;
  const lines = [
    r.total === 0
      ? `${r.topic}: nothing to redrive`
      : r.dryRun
        ? `${r.topic}: ${letters(r.total)} to redrive to ${r.target} (dry run: nothing written)`
        : `${r.topic}: ${letters(r.total)} redriven to ${r.target}`,
  ];
  for (const p of r.partitions)
    lines.push(
      `  partition ${p.partition}: ` +
        (p.first === p.last ? `offset ${p.first}` : `offsets ${p.first} to ${p.last}`) +
        ` (${p.count})`,
    );
  if (r.more) lines.push('more remain past --limit; run it again for them');
  for (const p of r.pending) lines.push(pendingText(p, 'redrive'));
  if (r.unfinished.length > 0) lines.push(unreadText(r.unfinished));
  return lines;
}
