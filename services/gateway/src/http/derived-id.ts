import { createHash } from 'node:crypto';

/** A UUID-shaped id derived from text: the same text gives the same id in every process and on every retry. */
export function derivedUuid(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
