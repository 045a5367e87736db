import { clientAddress } from '../../../../services/gateway/src/http/client-address';

describe('clientAddress', () => {
  const peer = '10.0.0.5';

  it('is the peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddress('203.0.113.7', peer, 0)).toBe(peer);
    expect(clientAddress(undefined, peer, 0)).toBe(peer);
  });

  it('is the entry the outermost trusted proxy wrote; what the client wrote before it is ignored', () => {
    expect(clientAddress('203.0.113.7', peer, 1)).toBe('203.0.113.7');
    expect(clientAddress('198.51.100.1, 203.0.113.7', peer, 1)).toBe('203.0.113.7');
    expect(clientAddress('198.51.100.1,203.0.113.7 , 192.0.2.10', peer, 2)).toBe('203.0.113.7');
    expect(clientAddress('2001:db8::1', peer, 1)).toBe('2001:db8::1');
  });

  it('takes the first entry when the header holds fewer than the trusted hops', () => {
    expect(clientAddress('203.0.113.7', peer, 3)).toBe('203.0.113.7');
  });

  it('is the peer when the header is missing or the entry is not an IP address', () => {
    expect(clientAddress(undefined, peer, 1)).toBe(peer);
    expect(clientAddress('', peer, 1)).toBe(peer);
    expect(clientAddress('203.0.113.7, unknown', peer, 1)).toBe(peer);
    expect(clientAddress('203.0.113.7:4711', peer, 1)).toBe(peer);
    expect(clientAddress('203.0.113.7, ' + 'x'.repeat(5_000), peer, 1)).toBe(peer);
  });
});
