/**
 * The impairment proxy itself, over plain sockets (no browser): bytes pass unchanged and in order,
 * and each impairment does what it says. Bounds are generous (a loaded 2-core machine) but each
 * one fails if its impairment is missing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startImpairmentProxy, type ImpairmentProxy } from './impairment-proxy.ts';

/** An echo server that also can stream a fixed payload on demand ("S<n>\n" → n bytes). */
async function startEcho(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (d) => s.write(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends `payload` and resolves with the echoed bytes and the time until the first/last byte came back. */
function roundTrip(s: Socket, payload: Buffer): Promise<{ data: Buffer; firstMs: number; lastMs: number }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let got = 0;
    let firstMs = -1;
    const t0 = performance.now();
    const onData = (d: Buffer) => {
      if (firstMs < 0) firstMs = performance.now() - t0;
      parts.push(d);
      got += d.length;
      if (got >= payload.length) {
        s.off('data', onData);
        resolve({ data: Buffer.concat(parts), firstMs, lastMs: performance.now() - t0 });
      }
    };
    s.on('data', onData);
    s.write(payload);
  });
}

describe('impairment proxy', () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let proxy: ImpairmentProxy;
  const opened: Socket[] = [];

  before(async () => {
    echo = await startEcho();
    proxy = await startImpairmentProxy(echo.port);
  });
  after(async () => {
    for (const s of opened) s.destroy();
    await proxy?.close();
    for (const s of echo?.sockets ?? []) s.destroy();
    await new Promise<void>((r) => (echo ? echo.server.close(() => r()) : r()));
  });

  it('passes bytes through unchanged and in order, both ways', async () => {
    proxy.setProfile({});
    const s = await open(proxy.port);
    opened.push(s);
    const payload = randomBytes(300_000);
    const { data } = await roundTrip(s, payload);
    assert.ok(data.equals(payload));
    assert.ok(
      proxy.counters.bytesToServer >= payload.length && proxy.counters.bytesToClient >= payload.length,
    );
  });

  it('adds the configured delay each way, never reordering under jitter', async () => {
    proxy.setProfile({ delayMs: 150, jitterMs: 100 });
    const s = await open(proxy.port);
    opened.push(s);
    const payload = Buffer.alloc(64 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32BE(i / 4, i);
    const { data, firstMs } = await roundTrip(s, payload);
    // Two ways at ≥ 50 ms each (150 − 100): ≥ 100 ms; without the delay it is ~1 ms.
    assert.ok(firstMs >= 100, `first byte after ${firstMs.toFixed(0)} ms`);
    assert.ok(data.equals(payload), 'echoed bytes differ: reordered or lost');
  });

  it('caps the rate with a token bucket', async () => {
    // 100 kB/s each way; 100 kB then takes ≥ 1 s (the bucket holds two packets, ~3 kB).
    proxy.setProfile({ rateBytesPerS: 100_000 });
    const s = await open(proxy.port);
    opened.push(s);
    const { data, lastMs } = await roundTrip(s, randomBytes(100_000));
    assert.equal(data.length, 100_000);
    assert.ok(lastMs >= 900, `100 kB through a 100 kB/s cap in ${lastMs.toFixed(0)} ms`);
    assert.ok(lastMs < 20_000, `${lastMs.toFixed(0)} ms`);
  });

  it('stalls periodically: nothing moves during a stall, everything arrives after it', async () => {
    proxy.setProfile({ stall: { everyMs: 400, forMs: 300 } });
    const s = await open(proxy.port);
    opened.push(s);
    // Sample the round trip every 50 ms for 1.6 s: some must fall into a stall.
    const times: number[] = [];
    const end = performance.now() + 1600;
    while (performance.now() < end) {
      times.push((await roundTrip(s, Buffer.from('x'))).lastMs);
      await new Promise((r) => setTimeout(r, 50));
    }
    const stalled = times.filter((t) => t >= 100).length;
    assert.ok(stalled >= 1, `round trips ${times.map((t) => t.toFixed(0)).join(',')}`);
    assert.ok(Math.max(...times) < 2000, `a stall of 300 ms held data ${Math.max(...times).toFixed(0)} ms`);
  });

  it('resets open connections (the client sees ECONNRESET) and keeps accepting new ones', async () => {
    proxy.setProfile({});
    const s = await open(proxy.port);
    opened.push(s);
    await roundTrip(s, Buffer.from('hello'));
    const closed = new Promise<string>((resolve) => {
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      s.on('close', () => resolve('close'));
    });
    const before = proxy.counters.resets;
    assert.ok(proxy.resetConnections() >= 1);
    assert.equal(await closed, 'ECONNRESET');
    assert.ok(proxy.counters.resets > before);
    const again = await open(proxy.port);
    opened.push(again);
    assert.equal((await roundTrip(again, Buffer.from('again'))).data.toString(), 'again');
  });
});
