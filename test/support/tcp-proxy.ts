import net from 'node:net';

export interface TcpProxy {
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** From now on nothing is forwarded either way: bytes are held, in order, until `resume`. */
  stall(): void;
  /** Forwards what was held, in order, and everything after it. */
  resume(): void;
  /**
   * The connections open now lose every byte either way from now on, and are never closed (a peer gone without a
   * word, as behind a dropped NAT entry); connections made later are forwarded as usual.
   */
  blackhole(): void;
  /** Closes every connection and stops listening (as a server that went away). */
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of a real server, for faults a real server cannot be asked to make: a connection that is
 * accepted and never answered (the connections `swallow` picks, numbered from 1, are read and ignored), or a stall that holds every
 * byte either way until it is resumed (an answer that is late, not lost: the protocol stream stays intact).
 */
export async function tcpProxy(
  target: { host: string; port: number },
  options: { swallow?: (connection: number) => boolean } = {},
) {
  const sockets = new Set<net.Socket>();
  const pipes: { flush(): void; drop(): void }[] = [];
  let accepted = 0;
  let stalled = false;

  /** Forwards `from` to `to`, holding the bytes while stalled. */
  const forward = (from: net.Socket, to: net.Socket) => {
    const held: Buffer[] = [];
    let dropped = false;
    from.on('data', (chunk: Buffer) => {
      if (dropped) return;
      if (stalled) held.push(chunk);
      else to.write(chunk);
    });
    from.on('end', () => {
      if (!dropped) to.end();
    });
    pipes.push({
      flush: () => {
        if (dropped) return;
        for (const chunk of held.splice(0)) to.write(chunk);
      },
      drop: () => {
        dropped = true;
        held.length = 0;
      },
    });
  };

  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };

  const server = net.createServer((client) => {
    track(client);
    accepted += 1;
    if (options.swallow?.(accepted)) {
      client.resume();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: TcpProxy = {
    port: (server.address() as net.AddressInfo).port,
    connections: () => accepted,
    stall: () => {
      stalled = true;
    },
    resume: () => {
      stalled = false;
      for (const p of pipes) p.flush();
    },
    blackhole: () => {
      for (const p of pipes) p.drop();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

const DEFAULT_PORTS: Record<string, number> = { 'postgres:': 5432, 'postgresql:': 5432, 'redis:': 6379, 'http:': 80 };

/**
 * A proxy in front of the server `url` names, and `url` pointed at the proxy instead (credentials, path and query
 * unchanged), to hand to the client under test.
 */
export async function tcpProxyFor(
  url: string,
  options: { swallow?: (connection: number) => boolean } = {},
): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(url);
  const port = Number(target.port) || DEFAULT_PORTS[target.protocol];
  if (!port) throw new Error(`tcpProxyFor: no port for ${target.protocol} URLs`);
  const proxy = await tcpProxy({ host: target.hostname, port }, options);
  target.hostname = '127.0.0.1';
  target.port = String(proxy.port);
  return { proxy, url: target.toString() };
}
