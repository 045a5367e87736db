import { clientAddress, proxyTrust } from '../../../../services/gateway/src/http/client-address';

describe('clientAddress', () => {
  const peer = '10.0.0.5';
  const hops = (n: number) => proxyTrust(n, []);

  it('is the peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddress('203.0.113.7', peer, hops(0))).toBe(peer);
    expect(clientAddress(undefined, peer, hops(0))).toBe(peer);
  });

  it('is the entry the outermost trusted proxy wrote; what the client wrote before it is ignored', () => {
    expect(clientAddress('203.0.113.7', peer, hops(1))).toBe('203.0.113.7');
    expect(clientAddress('198.51.100.1, 203.0.113.7', peer, hops(1))).toBe('203.0.113.7');
    expect(clientAddress('198.51.100.1,203.0.113.7 , 192.0.2.10', peer, hops(2))).toBe('203.0.113.7');
    expect(clientAddress('2001:db8::1', peer, hops(1))).toBe('2001:db8::1');
  });

  it('takes the first entry when the header holds fewer than the trusted hops', () => {
    expect(clientAddress('203.0.113.7', peer, hops(3))).toBe('203.0.113.7');
  });

  it('is the peer when the header is missing or the entry is not an IP address', () => {
    expect(clientAddress(undefined, peer, hops(1))).toBe(peer);
    expect(clientAddress('', peer, hops(1))).toBe(peer);
    expect(clientAddress('203.0.113.7, unknown', peer, hops(1))).toBe(peer);
    expect(clientAddress('203.0.113.7:4711', peer, hops(1))).toBe(peer);
    expect(clientAddress('203.0.113.7, ' + 'x'.repeat(5_000), peer, hops(1))).toBe(peer);
  });

  it('reads an IPv4 address a dual-stack socket reports as IPv6 as the IPv4 address', () => {
    expect(clientAddress(undefined, '::ffff:192.0.2.1', hops(0))).toBe('192.0.2.1');
    expect(clientAddress('::FFFF:203.0.113.7', peer, hops(1))).toBe('203.0.113.7');
    expect(clientAddress(undefined, '2001:db8::ffff:1', hops(0))).toBe('2001:db8::ffff:1');
  });

  describe('behind proxies trusted by address', () => {
    const trust = proxyTrust(0, ['10.0.0.0/8', '192.168.1.7', '2001:db8:aa::/48']);

    it('ignores X-Forwarded-For from a peer that is not one of the proxies', () => {
      expect(clientAddress('203.0.113.7', '198.51.100.9', trust)).toBe('198.51.100.9');
      expect(clientAddress('203.0.113.7', '192.168.1.8', trust)).toBe('192.168.1.8');
      expect(clientAddress('203.0.113.7', '2001:db8:ab::1', trust)).toBe('2001:db8:ab::1');
    });

    it('is the last address that is not a trusted proxy, whatever the client wrote before it', () => {
      expect(clientAddress('203.0.113.7', peer, trust)).toBe('203.0.113.7');
      expect(clientAddress('198.51.100.1, 203.0.113.7', peer, trust)).toBe('203.0.113.7');
      expect(clientAddress('198.51.100.1, 203.0.113.7, 192.168.1.7, 10.9.9.9', peer, trust)).toBe('203.0.113.7');
      expect(clientAddress('203.0.113.7, 2001:db8:aa::5', '::ffff:10.0.0.5', trust)).toBe('203.0.113.7');
      // A client that names a proxy's address is not skipped past unless the header's next entry was written by one.
      expect(clientAddress('10.1.1.1, 203.0.113.7', peer, trust)).toBe('203.0.113.7');
    });

    it('takes the first entry when every address is a proxy, and the proxy when an entry is not an IP address', () => {
      expect(clientAddress('10.1.1.1, 10.2.2.2', peer, trust)).toBe('10.1.1.1');
      expect(clientAddress(undefined, peer, trust)).toBe(peer);
      expect(clientAddress('203.0.113.7, unknown', peer, trust)).toBe(peer);
      expect(clientAddress('203.0.113.7, unknown, 10.3.3.3', peer, trust)).toBe('10.3.3.3');
      expect(clientAddress('x'.repeat(5_000), peer, trust)).toBe(peer);
    });
  });
});
