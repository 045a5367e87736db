import net from 'node:net';

/**
 * `count` consecutive free TCP ports on 127.0.0.1 (the platform puts its services' metrics on port, port+1, port+2),
 * below Linux's ephemeral range (32768 and up by default): there an outgoing connection of any process (a Kafka
 * client's, say) may take a port between this check and the service's listen, and the service fails with EADDRINUSE
 * (a CI run failed so, the ledger's metrics port 44442 taken).
 */
export async function freePorts(count: number): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    let ok = true;
    for (let k = 0; k < count && ok; k += 1) ok = await free(base + k);
    if (ok) return base;
  }
}
