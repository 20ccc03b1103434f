/**
 * Now-playing event streams: what one change costs the main thread with N open streams, and how
 * long until the last client has it.
 *
 * Opens N loopback TCP connections, hands the server side of each to a NowFeed (as the route does
 * with an HTTP response), then announces `--changes` chord changes on one station and prints one JSON
 * line per N: the time of the `changed()` call itself (p50, max), the time until every client
 * received the event (p50, max), and the longest the event loop was held meanwhile (the fan-out is
 * written in slices, one per turn: this bounds how long it can delay the pacer).
 *
 * Usage: node --import tsx bench/now-feed.ts [--clients 100,1000,5000] [--changes 20]
 */
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { EngineStation } from '../src/engine/engine-host.ts';
import { NowFeed } from '../src/server/now-feed.ts';
import { Station } from '../src/server/station.ts';

function list(name: string, fallback: number[]): number[] {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1]!.split(',').map(Number);
  if (v.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--${name} takes positive integers`);
  return v;
}

const sizes = list('clients', [100, 1000, 5000]);
const changes = list('changes', [20])[0]!;

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

const params = { key: 'A' as const, mode: 'aeolian' as const, bpm: 70, intensity: 0.5, preset: null };
const engine = {
  id: 'bench',
  seed: 1,
  startMonoMs: performance.now(),
  wallOffsetMs: Date.now() - performance.now(),
  chunkFrames: 4800,
  chunkMs: 100,
  params,
} as unknown as EngineStation;

for (const n of sizes) {
  const st = new Station({ id: 'bench', personal: false, seed: 1, params, engine });
  const feed = new NowFeed({ heartbeatMs: 15_000, maxClients: n });
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const clients: net.Socket[] = [];
  let received = 0;
  let waiting: (() => void) | null = null;
  let marker = '';
  for (let i = 0; i < n; i++) {
    const c = net.connect(port, '127.0.0.1');
    c.setEncoding('utf8');
    // The marker may be split across reads: keep the tail of what arrived.
    let tail = '';
    let seen = '';
    c.on('data', (d: string) => {
      tail = (tail + d).slice(-400);
      if (marker && seen !== marker && tail.includes(marker)) {
        seen = marker;
        received++;
        if (received === n) waiting?.();
      }
    });
    clients.push(c);
    // In batches, so that the listen backlog never overflows (a dropped SYN waits seconds to retry).
    if (i % 256 === 255) while (accepted.length <= i) await new Promise((r) => setTimeout(r, 5));
  }
  while (accepted.length < n) await new Promise((r) => setTimeout(r, 10));
  for (const s of accepted) feed.add(st, s);
  await new Promise((r) => setTimeout(r, 200));

  const cpuMs: number[] = [];
  const allMs: number[] = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  for (let k = 0; k < changes; k++) {
    const chord = `C${k}maj7`;
    st.queueNow({
      id: 'bench',
      position: (k + 1) * 4800,
      chord,
      key: 'A',
      mode: 'aeolian',
      section: 'drift',
      next: null,
    });
    st.takeDueNow((k + 1) * 4800);
    marker = `"chord":"${chord}"`;
    received = 0;
    const done = new Promise<void>((r) => (waiting = r));
    const t0 = performance.now();
    feed.changed(st);
    cpuMs.push(performance.now() - t0);
    await Promise.race([
      done,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`${n - received} clients missed it`)), 30_000),
      ),
    ]);
    allMs.push(performance.now() - t0);
  }
  delay.disable();
  console.log(
    JSON.stringify({
      clients: n,
      changes,
      changedCpuMsP50: +pct(cpuMs, 0.5).toFixed(3),
      changedCpuMsMax: +Math.max(...cpuMs).toFixed(3),
      allReceivedMsP50: +pct(allMs, 0.5).toFixed(2),
      allReceivedMsMax: +Math.max(...allMs).toFixed(2),
      eventLoopDelayMsMax: +(delay.max / 1e6).toFixed(2),
    }),
  );
  feed.close();
  for (const c of clients) c.destroy();
  await new Promise((r) => server.close(r));
}
