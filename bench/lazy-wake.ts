/**
 * Lazy stations: what a wake-up costs and how it sounds.
 *
 * Offline (StationRenderer, no server): for each warm-up length, stations that slept and woke at
 * several positions are compared with the same stations rendered continuously: the loudness (RMS)
 * of the first 100 ms and 500 ms after the wake relative to the continuous one (1 = as loud; the
 * score is identical, the samples are not: a fresh synth), and the wall time of the wake-up
 * (composing up to the warm-up and rendering it).
 *
 * Server (`--server`): a server with `idleAfterMs` 500 ms and one engine worker; `--wakes` times, a
 * WebSocket listener joins the idle default station (200 ms or 1.5 s after it went idle) and the
 * time from the socket's open to its first chunk is printed (p50, p90, max), then it leaves and
 * the station goes idle again.
 *
 * Usage: node --import tsx bench/lazy-wake.ts [--seeds 6] [--server] [--wakes 20]
 */
import WebSocket from 'ws';
import { StationRenderer } from '../src/engine/station-renderer.ts';
import { DEFAULT_PARAMS } from '../src/music/params.ts';
import { startServer } from '../src/server/server.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

const SR = 48_000;
const CHUNK = 4800;
const seeds = Math.round(arg('seeds', 6));
const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

function rms(l: Float32Array, r: Float32Array): number {
  let s = 0;
  for (let i = 0; i < l.length; i++) s += l[i]! * l[i]! + r[i]! * r[i]!;
  return s / (2 * l.length);
}

/** Mean square of `chunks` chunks from `from` on, continuous rendering. */
function continuous(seed: number, from: number, chunks: number): number[] {
  const r = new StationRenderer({ seed, params: { ...DEFAULT_PARAMS } });
  const l = new Float32Array(CHUNK);
  const rr = new Float32Array(CHUNK);
  const out: number[] = [];
  for (let pos = 0; pos < from + chunks * CHUNK; pos += CHUNK) {
    r.render(l, rr, CHUNK);
    if (pos >= from) out.push(rms(l, rr));
  }
  return out;
}

function woken(
  seed: number,
  from: number,
  chunks: number,
  warmupMs: number,
): { ms: number[]; wakeMs: number } {
  const r = new StationRenderer({ seed, params: { ...DEFAULT_PARAMS } });
  const l = new Float32Array(CHUNK);
  const rr = new Float32Array(CHUNK);
  for (let i = 0; i < 20; i++) r.render(l, rr, CHUNK); // heard for 2 s, then asleep
  r.sleep();
  for (let pos = 2 * SR; pos < from - SR; pos += SR) r.skipTo(pos); // idle ticks, once a second
  const t0 = performance.now();
  const warm = r.wake(from, Math.round((warmupMs * SR) / 1000 / CHUNK) * CHUNK);
  for (let f = 0; f < warm; f += CHUNK) r.render(l, rr, CHUNK);
  const wakeMs = performance.now() - t0;
  const out: number[] = [];
  for (let i = 0; i < chunks; i++) {
    r.render(l, rr, CHUNK);
    out.push(rms(l, rr));
  }
  return { ms: out, wakeMs };
}

const ratio = (a: number[], b: number[], n: number): number => {
  const sa = a.slice(0, n).reduce((s, v) => s + v, 0);
  const sb = b.slice(0, n).reduce((s, v) => s + v, 0);
  return Math.sqrt(sa / sb);
};

const results: Record<string, unknown>[] = [];
for (const warmupMs of [0, 500, 1000, 2000, 3000]) {
  const first100: number[] = [];
  const first500: number[] = [];
  const wakeMs: number[] = [];
  for (let s = 0; s < seeds; s++) {
    const seed = 100 + s;
    const from = (30 + 7 * s) * SR;
    const ref = continuous(seed, from, 5);
    const w = woken(seed, from, 5, warmupMs);
    first100.push(ratio(w.ms, ref, 1));
    first500.push(ratio(w.ms, ref, 5));
    wakeMs.push(w.wakeMs);
  }
  const mean = (x: number[]): number => x.reduce((a, b) => a + b, 0) / x.length;
  results.push({
    warmupMs,
    rmsRatioFirst100ms: { mean: round(mean(first100)), min: round(Math.min(...first100)) },
    rmsRatioFirst500ms: { mean: round(mean(first500)), min: round(Math.min(...first500)) },
    wakeMs: { mean: round(mean(wakeMs), 1), max: round(Math.max(...wakeMs), 1) },
  });
}
console.log(JSON.stringify({ seeds, offline: results }));

if (process.argv.includes('--server')) {
  const wakes = Math.round(arg('wakes', 20));
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    workers: 1,
    logLevel: 'silent',
    stateFile: '',
    idleAfterMs: 500,
  });
  // Woken 200 ms after going idle (the chunks rendered ahead are still to come: sent from the
  // ring) or 1.5 s after (they are past: a fresh start on the chunk due now), alternately.
  const times: Record<string, number[]> = { soon: [], later: [] };
  try {
    const st = server.registry.get('default')!;
    for (let i = 0; i < wakes; i++) {
      while (st.live) await new Promise((r) => setTimeout(r, 50));
      const kind = i % 2 === 0 ? 'soon' : 'later';
      await new Promise((r) => setTimeout(r, kind === 'soon' ? 200 : 1500));
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?codec=opus`);
      await new Promise<void>((resolve, reject) => {
        let openedMs = 0;
        ws.once('open', () => (openedMs = performance.now()));
        ws.on('message', (_d, binary) => {
          if (!binary) return;
          times[kind]!.push(performance.now() - openedMs);
          ws.close();
          resolve();
        });
        ws.once('error', reject);
      });
    }
  } finally {
    await server.close();
  }
  const stats = (t: number[]): Record<string, number> => {
    t.sort((a, b) => a - b);
    return {
      p50: round(t[Math.floor(t.length / 2)]!, 1),
      p90: round(t[Math.floor(t.length * 0.9)]!, 1),
      max: round(t[t.length - 1]!, 1),
    };
  };
  console.log(
    JSON.stringify({ wakes, firstAudioMs: { soon: stats(times.soon!), later: stats(times.later!) } }),
  );
}
