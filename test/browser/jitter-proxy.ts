/**
 * A TCP proxy that delays what the server sends by a random, in-order amount, like a jittery
 * network path (TCP never reorders: a late segment holds back the ones behind it). What the
 * browser sends goes through untouched. Not a test file.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface JitterProxy {
  port: number;
  url: string;
  /** Sets the maximum extra delay (uniform 0…maxMs) for data from now on. */
  setJitterMs(maxMs: number): void;
  /** Cuts every open connection (a network drop), leaving the proxy listening. */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startJitterProxy(targetPort: number, random: () => number): Promise<JitterProxy> {
  let jitterMs = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let releaseAtMs = 0;
    client.pipe(upstream);
    upstream.on('data', (data: Buffer) => {
      const now = Date.now();
      releaseAtMs = Math.max(releaseAtMs, now + random() * jitterMs);
      setTimeout(() => {
        if (!client.destroyed) client.write(data);
      }, releaseAtMs - now);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', () => setTimeout(end, Math.max(0, releaseAtMs - Date.now()) + 10)).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    setJitterMs(maxMs) {
      jitterMs = maxMs;
    },
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
