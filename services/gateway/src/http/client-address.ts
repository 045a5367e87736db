import { isIP } from 'node:net';

/**
 * The address a request came from, for the limits kept per address (anonymous requests, failed logins).
 *
 * With `trustedHops` 0 it is the connection's peer, and X-Forwarded-For is ignored: a client could write anything
 * there. Behind `trustedHops` proxies, each of which appends the address it received the request from, it is the entry
 * that many from the end — the one the outermost trusted proxy wrote. Entries before it came from the client and are
 * ignored, so a client cannot pick its own address. When the header holds fewer entries, the first is taken; when the
 * entry taken is not an IP address, the peer is. Set `trustedHops` only when every request reaches the gateway through
 * those proxies: a client that reaches it directly could otherwise choose its address.
 */
export function clientAddress(forwardedFor: string | undefined, peer: string, trustedHops: number): string {
  if (trustedHops <= 0 || !forwardedFor) return peer;
  const entries = forwardedFor.split(',').map((e) => e.trim());
  const entry = entries[Math.max(0, entries.length - trustedHops)] ?? '';
  return isIP(entry) === 0 ? peer : entry;
}
