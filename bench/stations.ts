/**
 * What a station costs in resident memory: starts a server (engine workers are threads of this
 * process, so process RSS covers them), lets the `default` station settle, then adds N shared
 * stations over the HTTP API and N personal sessions over WebSockets, and prints RSS and heap per
 * station after each step. Not a test: it prints numbers (the basis for `maxStations` and
 * `maxPersonalSessions`).
 *
 *   npm run bench:stations -- [--stations 16] [--settle-ms 4000] [--workers 1] [--json]
 */
import WebSocket from 'ws';
import { startServer } from '../src/server/server.ts';

interface Args {
  stations: number;
  settleMs: number;
  workers: number;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { stations: 16, settleMs: 4000, workers: 1, json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${k} needs a positive integer`);
      return v;
    };
    if (k === '--stations') a.stations = num();
    else if (k === '--settle-ms') a.settleMs = num();
    else if (k === '--workers') a.workers = num();
    else if (k === '--json') a.json = true;
    else throw new Error(`unknown option ${k}; use --stations N --settle-ms MS --workers N --json`);
  }
  return a;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Sample {
  rssMb: number;
  heapMb: number;
  externalMb: number;
}

async function sample(settleMs: number): Promise<Sample> {
  await sleep(settleMs);
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return {
    rssMb: m.rss / 2 ** 20,
    heapMb: m.heapUsed / 2 ** 20,
    externalMb: (m.external + m.arrayBuffers) / 2 ** 20,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const n = args.stations;
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    workers: args.workers,
    stateFile: '',
    maxStations: 2 * n + 1,
    maxPersonalSessions: n,
    logLevel: 'warn',
  });
  const sockets: WebSocket[] = [];
  try {
    const base = await sample(args.settleMs);
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${server.url}/api/stations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: `mem-${i}`, seed: i + 1 }),
      });
      if (res.status !== 201) throw new Error(`station ${i}: HTTP ${res.status} ${await res.text()}`);
    }
    const shared = await sample(args.settleMs);
    for (let i = 0; i < n; i++) {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?personal=1&seed=${1000 + i}`);
      sockets.push(ws);
      await new Promise<void>((resolve, reject) => {
        ws.on('message', (d, binary) => {
          if (!binary && (JSON.parse(d.toString()) as { type: string }).type === 'welcome') resolve();
        });
        ws.once('error', reject);
        ws.once('close', (code) => reject(new Error(`personal session ${i} closed with ${code}`)));
      });
    }
    const personal = await sample(args.settleMs);
    const per = (a: Sample, b: Sample): Sample => ({
      rssMb: (b.rssMb - a.rssMb) / n,
      heapMb: (b.heapMb - a.heapMb) / n,
      externalMb: (b.externalMb - a.externalMb) / n,
    });
    const result = {
      stations: n,
      workers: args.workers,
      settleMs: args.settleMs,
      gcForced: typeof (globalThis as { gc?: unknown }).gc === 'function',
      baseline: base,
      afterShared: shared,
      afterPersonal: personal,
      perSharedStation: per(base, shared),
      perPersonalSession: per(shared, personal),
    };
    if (args.json) console.log(JSON.stringify(result, null, 2));
    else {
      const f = (s: Sample): string =>
        `RSS ${s.rssMb.toFixed(1)} MB, heap ${s.heapMb.toFixed(1)} MB, external+buffers ${s.externalMb.toFixed(1)} MB`;
      console.log(`baseline (default station only): ${f(base)}`);
      console.log(`after ${n} shared stations:      ${f(shared)}`);
      console.log(`after ${n} personal sessions:    ${f(personal)}`);
      console.log(`per shared station:   ${f(result.perSharedStation)}`);
      console.log(`per personal session: ${f(result.perPersonalSession)}`);
    }
  } finally {
    for (const ws of sockets) ws.terminate();
    await server.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
