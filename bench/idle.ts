/**
 * Idle cost: CPU and RSS of stations nobody listens to, against the same stations with a listener,
 * and against a server whose stations never go idle (`--idle-after-ms 0`, the old behaviour).
 *
 * Starts servers in this process (1 engine worker) and measures the process's CPU (all threads:
 * `process.cpuUsage()`) and RSS over a window in each phase:
 *   1. the `default` station alone, nobody listening;
 *   2. the same with one WebSocket (Opus) listener;
 *   3. `--stations` more stations, nobody listening (the default one idle again);
 *   4. one WebSocket listener on each of them.
 * Then phases 1 and 3 again on a server with `idleAfterMs: 0`. Prints one JSON line: CPU % of one
 * core and RSS MB per phase, and per station (phase 3 − 1, phase 4 − 3, divided by the count).
 *
 * Usage: node --import tsx bench/idle.ts [--seconds 10] [--stations 16]
 */
import WebSocket from 'ws';
import { startServer, type AuralisServer } from '../src/server/server.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

const seconds = arg('seconds', 10);
const count = Math.round(arg('stations', 16));
const IDLE_AFTER_MS = 1000;

interface Sample {
  cpuPercent: number;
  rssMb: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (x: number): number => Math.round(x * 100) / 100;

async function measure(ms: number): Promise<Sample> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(ms);
  const c = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  return {
    cpuPercent: round(((c.user + c.system) / 1000 / wallMs) * 100),
    rssMb: round(process.memoryUsage().rss / 2 ** 20),
  };
}

function listen(server: AuralisServer, station: string): Promise<WebSocket> {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?station=${station}&codec=opus`);
  return new Promise((resolve, reject) => {
    ws.once('message', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function run(idleAfterMs: number, withListeners: boolean): Promise<Record<string, Sample>> {
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    workers: 1,
    logLevel: 'silent',
    stateFile: '',
    idleAfterMs,
  });
  const out: Record<string, Sample> = {};
  try {
    await sleep(3000); // settle: warm-up, first GCs
    out.defaultAlone = await measure(seconds * 1000);
    if (withListeners) {
      const ws = await listen(server, 'default');
      await sleep(2000);
      out.defaultOneListener = await measure(seconds * 1000);
      ws.close();
    }
    for (let i = 0; i < count; i++) await server.registry.create({ id: `idle-${i}` });
    await sleep(3000 + IDLE_AFTER_MS);
    out.stationsNoListener = await measure(seconds * 1000);
    if (withListeners) {
      const sockets: WebSocket[] = [];
      for (let i = 0; i < count; i++) sockets.push(await listen(server, `idle-${i}`));
      await sleep(3000);
      out.stationsOneListenerEach = await measure(seconds * 1000);
      for (const ws of sockets) ws.close();
    }
  } finally {
    await server.close();
  }
  return out;
}

const lazy = await run(IDLE_AFTER_MS, true);
const eager = await run(0, false);
const per = (a: Sample, b: Sample): Sample => ({
  cpuPercent: round((b.cpuPercent - a.cpuPercent) / count),
  rssMb: round((b.rssMb - a.rssMb) / count),
});
console.log(
  JSON.stringify({
    seconds,
    stations: count,
    lazy,
    eager,
    perStation: {
      idle: per(lazy.defaultAlone!, lazy.stationsNoListener!),
      listened: per(lazy.stationsNoListener!, lazy.stationsOneListenerEach!),
      neverIdleNoListener: per(eager.defaultAlone!, eager.stationsNoListener!),
    },
    defaultStation: {
      noListener: lazy.defaultAlone!.cpuPercent,
      oneListener: lazy.defaultOneListener!.cpuPercent,
      neverIdleNoListener: eager.defaultAlone!.cpuPercent,
    },
  }),
);
