import { BlockList, isIP } from 'node:net';

/**
 * Which proxies in front of the gateway are trusted to append the address they received a request from to
 * X-Forwarded-For. `none`: the connection's peer is the client and the header is ignored, since a client could write
 * anything there. `hops`: every request passes through that many proxies. `addresses`: the proxies are the listed
 * addresses and networks; a request from anywhere else is taken at its peer's address.
 */
export type ProxyTrust =
  | { readonly kind: 'none' }
  | { readonly kind: 'hops'; readonly hops: number }
  | { readonly kind: 'addresses'; readonly list: BlockList };

/**
 * The trust PAYSTREAM_TRUSTED_PROXY_HOPS and PAYSTREAM_TRUSTED_PROXIES configure (the configuration allows one of
 * them at most). `proxies` entries are IP addresses or CIDR networks, already validated by the configuration.
 */
export function proxyTrust(hops: number, proxies: readonly string[]): ProxyTrust {
  if (proxies.length > 0) {
    const list = new BlockList();
    for (const entry of proxies) {
      const [address = '', prefix] = entry.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) list.addAddress(address, family);
      else list.addSubnet(address, Number(prefix), family);
    }
    return { kind: 'addresses', list };
  }
  return hops > 0 ? { kind: 'hops', hops } : { kind: 'none' };
}

/** An IPv4 address as a dual-stack socket reports it (`::ffff:192.0.2.1`) is the IPv4 address: one client, one key. */
function canonical(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped?.[1] ?? address;
}

/**
 * The address a request came from, for the limits kept per address (anonymous requests, failed logins). Always an IP
 * address (or the peer as the socket reports it), so it also bounds the length of the keys built from it.
 *
 * - `none`: the peer.
 * - `hops`: the X-Forwarded-For entry that many from the end — the one the outermost trusted proxy wrote. Entries
 *   before it came from the client and are ignored, so a client cannot pick its own address. When the header holds
 *   fewer entries, the first is taken; when the entry taken is not an IP address, the peer is. Right only when every
 *   request reaches the gateway through those proxies: a client reaching it directly could choose its address.
 * - `addresses`: starting from the peer, each trusted address is replaced by the entry it appended (read from the
 *   end); the first address that is not a trusted proxy is the client. A client reaching the gateway directly is
 *   taken at its peer's address whatever it writes. When every address is a trusted proxy, the first entry is taken;
 *   when an entry is not an IP address, the trusted proxy that wrote it is.
 */
export function clientAddress(forwardedFor: string | undefined, peer: string, trust: ProxyTrust): string {
  const from = canonical(peer);
  if (trust.kind === 'none' || !forwardedFor) return from;
  const entries = forwardedFor.split(',').map((e) => canonical(e.trim()));
  if (trust.kind === 'hops') {
    const entry = entries[Math.max(0, entries.length - trust.hops)] ?? '';
    return isIP(entry) === 0 ? from : entry;
  }
  let address = from;
  for (let i = entries.length - 1; i >= 0 && isTrusted(trust.list, address); i--) {
    const entry = entries[i] ?? '';
    if (isIP(entry) === 0) break;
    address = entry;
  }
  return address;
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}
