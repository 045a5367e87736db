import type { DeadLetterRecord, DeadLetters } from '../../platform/src/events/dead-letter-reader';

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

function valueText(r: DeadLetterRecord): string {
  if (r.value === null) return 'none (tombstone)';
  if ('decoded' in r.value) return jsonText(r.value.decoded);
  return `undecodable (${r.value.bytes} bytes): ${r.value.undecodable}`;
}

/** `paystream dlq list`: the dead letters read (the last ones), oldest first, each as a short block of lines. */
export function deadLetterReport(letters: DeadLetters): string[] {
  const { topic, total, records, unfinished } = letters;
  const lines = [
    total === 0
      ? `${topic}: no dead letters`
      : `${topic}: ${total} dead letter${total === 1 ? '' : 's'}` +
        (records.length < total ? ` (the last ${records.length} shown)` : ''),
  ];
  for (const r of records) {
    lines.push(
      '',
      `partition ${r.partition} offset ${r.offset} at ${r.timestamp.toISOString()}`,
      `  from    ${r.source ? `${r.source.topic} partition ${r.source.partition} offset ${r.source.offset}` : 'unknown'}`,
      `  error   ${r.errorCode ?? 'unknown'}: ${r.errorMessage ?? ''}`,
      `  key     ${r.key ?? 'none'}`,
      `  value   ${valueText(r)}`,
    );
  }
  if (unfinished.length > 0)
    lines.push(
      '',
      `partitions ${unfinished.join(', ')} were not read to their end in time (a transaction still open there?); ` +
        'run it again',
    );
  return lines;
}

/** `--json`: one object per line, for tools. */
export function deadLetterJsonLines(letters: DeadLetters): string[] {
  return letters.records.map((r) => jsonText({ topic: letters.topic, ...r, timestamp: r.timestamp.toISOString() }));
}
