// Icecast as the fan-out tier: Auralis pushes one station to a real icecast2 (--icecast) and N
// plain HTTP listeners read the mount from Icecast. Prints Icecast's CPU (utime + stime of its
// process over the window, % of one core) and the bytes each listener received per second, per
// listener count and stream (Ogg/Opus at --opus-bitrate, MP3 at --mp3-bitrate).
//
//   node --import tsx bench/icecast.ts [--listeners 100,400] [--seconds 15] [--kind ogg|mp3]
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { startServer } from '../src/server/server.ts';
import { freePort, IcecastServer } from '../test/relay/icecast-server.ts';
import { cpuSeconds } from './lib/proc.ts';

const { values } = parseArgs({
  options: {
    listeners: { type: 'string', default: '100,400' },
    seconds: { type: 'string', default: '15' },
    kind: { type: 'string', default: 'ogg' },
  },
});
const counts = values.listeners.split(',').map(Number);
const seconds = Number(values.seconds);
const kind = values.kind === 'mp3' ? 'mp3' : 'ogg';

const ice = new IcecastServer({ port: await freePort(), clients: Math.max(...counts) + 20 });
await ice.start();
const mount = `/bench.${kind}`;
const server = await startServer(
  {
    host: '127.0.0.1',
    port: 0,
    workers: 1,
    logLevel: 'silent',
    icecast: [`default=http://source:${ice.sourcePassword}@127.0.0.1:${ice.port}${mount}`],
  },
  {},
);
try {
  for (let i = 0; i < 100 && !(await ice.status()).has(mount); i++)
    await new Promise((r) => setTimeout(r, 100));
  console.log(
    `icecast2 ${ice.port}${mount}, ${seconds} s windows; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`,
  );
  for (const n of counts) {
    const reqs: http.ClientRequest[] = [];
    const got = new Float64Array(n);
    // One at a time: Icecast 2.4 listens with a backlog of 5, so a crowd connecting at once has its
    // SYNs dropped and retried by TCP (1 s, 3 s, 7 s …).
    for (let i = 0; i < n; i++) {
      await new Promise<void>((resolve) => {
        const req = http.get(`http://127.0.0.1:${ice.port}${mount}`, { agent: false }, (res) => {
          res.on('data', (d: Buffer) => (got[i]! += d.length));
          resolve();
        });
        req.on('error', () => resolve());
        reqs.push(req);
      });
    }
    // Wait until every listener has audio (at most 30 s): Icecast takes new listeners at its own pace.
    const c0 = performance.now();
    let connected = 0;
    for (let waited = 0; waited < 30_000; waited += 250) {
      connected = got.reduce((k, b) => k + (b > 0 ? 1 : 0), 0);
      if (connected === n) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    console.log(`  ${connected} of ${n} listeners had audio after ${Math.round(performance.now() - c0)} ms`);
    await new Promise((r) => setTimeout(r, 2000)); // bursts delivered
    const t0 = cpuSeconds(ice.pid!);
    const b0 = Float64Array.from(got);
    const start = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const wall = (performance.now() - start) / 1000;
    const cpu = cpuSeconds(ice.pid!) - t0;
    // Listeners: the clients that received audio during the whole window (connected before it).
    let listeners = 0;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      if (b0[i]! > 0 && got[i]! > b0[i]!) {
        listeners++;
        bytes += got[i]! - b0[i]!;
      }
    }
    const perListener = bytes / wall / Math.max(1, listeners);
    console.log(
      `listeners ${listeners} (asked ${n}): icecast CPU ${((cpu / wall) * 100).toFixed(2)} % of a core ` +
        `(${(((cpu / wall) * 1e6) / Math.max(1, listeners)).toFixed(1)} µs/s per listener), ` +
        `${(perListener / 1000).toFixed(2)} kB/s per listener (${((perListener * 8) / 1000).toFixed(1)} kb/s)`,
    );
    for (const r of reqs) r.destroy();
    await new Promise((r) => setTimeout(r, 1000));
  }
} finally {
  await server.close();
  await ice.dispose();
}
