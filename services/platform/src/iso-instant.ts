/**
 * ISO-8601 instants as every edge accepts them (history filters, `paystream replay --to`): a day (`2026-11-24`, midnight
 * UTC) or a date-time with an explicit zone (`Z` or `±hh:mm`), so the same text names the same instant on every
 * machine whatever its time zone; fractions up to microseconds. Pure.
 */
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * The instant `text` names; 'malformed' when it is not in the form above, 'no such day' when its date does not exist
 * (2026-02-30: JavaScript's Date would roll it over into March) or its time is out of range (25:00).
 */
export function parseIsoInstant(text: string): Date | 'malformed' | 'no such day' {
  const m = ISO_INSTANT.exec(text);
  if (!m) return 'malformed';
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const calendar = new Date(Date.UTC(year, month - 1, day));
  const instant = new Date(text);
  if (Number.isNaN(instant.getTime()) || calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day)
    return 'no such day';
  return instant;
}
