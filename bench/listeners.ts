/**
 * `npm run bench:listeners -- --listeners 1,100,1000,5000 [--seconds 20] [--generators N] [--json]`
 *
 * Starts the server in its own process (pinned to CPU 0 when taskset exists) and N load generator
 * processes (`bench/load-generator.ts`, pinned to CPUs 1, 2, … in turn; default: one per CPU
 * besides the server's, at most 4), the listeners split between them; all of them measure the same
 * window. Then, for each listener count: lateness p50/p99/max and jitter p95 over every listener's
 * chunks (the generators' samples merged), gaps, the server's CPU (user + system over wall, from
 * /proc) and each generator's own CPU (% of its core; near 100 % means the generator, not the
 * server, may be what is late). Prints a table; `--json` prints the raw results too.
 *
 * Three views of lateness, all reported (docs/ARCHITECTURE.md, "Fan-out", says what each measures):
 * the generators' per-read clock (includes their own walk over thousands of readable sockets), their
 * batch clock (every read of one event-loop turn stamped with the turn's first read), and the
 * server's own `auralis_chunk_lateness_seconds` histogram over the same window (the time its last
 * write of each chunk was queued; bucket bounds, early counts as 0) with its fan-out time
 * (`auralis_fanout_seconds`) and main-thread GC pauses (`auralis_gc_pause_seconds`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from '../src/metrics/percentile.ts';
import { histogramBound, histogramDelta, parseProm, type Scrape } from './lib/prom.ts';
import {
  HAS_TASKSET as hasTaskset,
  pinned,
  readSamples,
  startGenerator,
  stopGenerators,
  type Generator,
} from './lib/generators.ts';
import { cpuSeconds, serverEntry, stdoutLines as lines } from './lib/proc.ts';

export interface ListenerBenchRow {
  listeners: number;
  seconds: number;
  latenessP50Ms: number;
  latenessP99Ms: number;
  latenessMaxMs: number;
  jitterP95Ms: number;
  /** The same over the generators' batch clock (lib/batch-clock.ts). */
  batchLatenessP50Ms?: number;
  batchLatenessP99Ms?: number;
  batchLatenessMaxMs?: number;
  batchJitterP95Ms?: number;
  /**
   * Per chunk received, per-read minus batch stamp: how long the generator had been walking other
   * sockets of the same turn before it read this one (ms), p50, p99 and max.
   */
  walkP50Ms?: number;
  walkP99Ms?: number;
  walkMaxMs?: number;
  /** The server's view over the window (from /metrics): see ServerView. */
  server?: ServerView;
  gaps: number;
  discontinuities: number;
  /** Connections closed during the window, and those whose bytes broke the WebSocket framing. */
  closedEarly?: number;
  protocolErrors?: number;
  chunksMeasured: number;
  expectedChunks: number;
  serverCpuPercent: number;
  /** The busiest generator's CPU (% of one core) over the window. */
  generatorCpuPercent: number;
  /** Each generator's CPU (% of one core), and the CPU it was pinned to (-1: not pinned). */
  generatorCpuPercents: number[];
  generatorCpus: number[];
  connectSeconds: number;
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** Generators by default: one per CPU besides the server's, at most 4. */
export const DEFAULT_GENERATORS = Math.max(1, Math.min(4, cpus().length - 1));
/** Generator g runs on CPU 1 + g (wrapping past the last CPU, never on the server's CPU 0). */
function generatorCpu(g: number): number {
  return 1 + (g % Math.max(1, cpus().length - 1));
}

/** What `npm start` runs while it is current, else the sources through tsx (bench/lib/proc.ts). */
const SERVER_ENTRY = serverEntry();

/** Warm-up before measuring: 3 s, plus 1 s per 500 listeners. */
export function warmupSeconds(listeners: number): number {
  return Math.max(3, Math.ceil(3 + listeners / 500));
}

export async function runListenerBench(
  listeners: number,
  seconds: number,
  extraServerArgs: string[] = [],
  generators = DEFAULT_GENERATORS,
): Promise<ListenerBenchRow> {
  const leadMs = 150;
  const [cmd, args] = pinned(0, process.execPath, [
    ...SERVER_ENTRY,
    'serve',
    // Benchmarks keep no stations across runs.
    '--state-file=',
    '--port',
    '0',
    '--log-level',
    'warn',
    '--max-listeners',
    String(listeners + 100),
    '--max-connections-per-ip',
    String(listeners + 100),
    '--lead-ms',
    String(leadMs),
    '--workers',
    '1',
    ...extraServerArgs,
  ]);
  const server = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start')), 20_000);
    lines(server, (l) => {
      const m = /serving on (http:\/\/\S+)/.exec(l);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
  });
  const serverPid = hasTaskset
    ? Number(
        spawnSync('pgrep', ['-P', String(server.pid)])
          .stdout.toString()
          .trim(),
      ) || server.pid!
    : server.pid!;
  const dir = mkdtempSync(join(tmpdir(), 'auralis-listeners-'));
  const n = Math.max(1, Math.min(generators, listeners));
  const gens: Generator[] = [];
  let result: ListenerBenchRow;
  try {
    for (let g = 0; g < n; g++) {
      const share = Math.floor(listeners / n) + (g < listeners % n ? 1 : 0);
      gens.push(
        startGenerator(generatorCpu(g), {
          url,
          listeners: share,
          seconds,
          leadMs,
          samplesDir: dir,
          id: String(g),
        }),
      );
    }
    const t0 = performance.now();
    await Promise.all(gens.map((g) => g.connected));
    const connectSeconds = (performance.now() - t0) / 1000;
    // Connecting thousands of listeners (and their join bursts) leaves the generators behind for a
    // while; measuring before they have caught up would report their backlog as server lateness.
    await new Promise((r) => setTimeout(r, warmupSeconds(listeners) * 1000));
    const metricsBefore = await scrape(url);
    for (const gen of gens) gen.measure();
    const cpuStart = cpuSeconds(serverPid);
    const wallStart = performance.now();
    const results = await Promise.all(gens.map((g) => g.done));
    const metricsAfter = await scrape(url);
    const metricsSeconds = (performance.now() - wallStart) / 1000;
    for (const r of results)
      if (r.firstProtocolError)
        process.stderr.write(`bench:listeners: protocol error: ${String(r.firstProtocolError)}\n`);
    const serverCpuPercent =
      ((cpuSeconds(serverPid) - cpuStart) / ((performance.now() - wallStart) / 1000)) * 100;
    const ids = gens.map((_, g) => String(g));
    const late = readSamples(dir, ids, 'lateness');
    const jit = readSamples(dir, ids, 'jitter');
    const batchLate = readSamples(dir, ids, 'batch-lateness');
    const batchJit = readSamples(dir, ids, 'batch-jitter');
    // Both lateness files hold the same chunks in the same order: their difference is the walk.
    const walk = late.map((t, i) => t - batchLate[i]!);
    const sum = (k: string): number => results.reduce((a, r) => a + (r[k] as number), 0);
    const generatorCpuPercents = results.map((r) => r.generatorCpuPercent as number);
    result = {
      listeners,
      seconds,
      latenessP50Ms: percentile(late, 50),
      latenessP99Ms: percentile(late, 99),
      latenessMaxMs: percentile(late, 100),
      jitterP95Ms: percentile(jit, 95),
      batchLatenessP50Ms: percentile(batchLate, 50),
      batchLatenessP99Ms: percentile(batchLate, 99),
      batchLatenessMaxMs: percentile(batchLate, 100),
      batchJitterP95Ms: percentile(batchJit, 95),
      walkP50Ms: percentile(walk, 50),
      walkP99Ms: percentile(walk, 99),
      walkMaxMs: percentile(walk, 100),
      server: serverView(metricsBefore, metricsAfter, metricsSeconds),
      gaps: sum('gaps'),
      discontinuities: sum('discontinuities'),
      closedEarly: sum('closedEarly'),
      protocolErrors: sum('protocolErrors'),
      chunksMeasured: sum('chunksMeasured'),
      expectedChunks: sum('expectedChunks'),
      serverCpuPercent,
      generatorCpuPercent: Math.max(...generatorCpuPercents),
      generatorCpuPercents,
      generatorCpus: gens.map((_, g) => (hasTaskset ? generatorCpu(g) : -1)),
      connectSeconds,
    };
  } finally {
    // Never leave the server or a generator behind, whatever happened.
    await stopGenerators(gens);
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

/** What the server's /metrics say about the measured window (deltas of its histograms). */
export interface ServerView {
  /** `auralis_chunk_lateness_seconds{transport="ws"}`: bucket upper bounds (ms) at p50 and p99. */
  latenessP50LeMs: number;
  latenessP99LeMs: number;
  /** Share of listener-chunks whose last write of the fan-out was queued ≤ 50 ms after due (%). */
  latenessWithin50MsPercent: number;
  /** `auralis_fanout_seconds`: chunks fanned out, mean and p99 bucket bound (ms). */
  fanouts: number;
  fanoutMeanMs: number;
  fanoutP99LeMs: number;
  /** `auralis_gc_pause_seconds`, every kind: pauses and their total per second of window (ms/s). */
  gcPauses: number;
  gcMsPerSecond: number;
}

async function scrape(base: string): Promise<Scrape> {
  return parseProm(await (await fetch(`${base}/metrics`)).text());
}

/** The server's view of a window from two scrapes of its /metrics. */
export function serverView(before: Scrape, after: Scrape, seconds: number): ServerView {
  const late = histogramDelta(before, after, 'auralis_chunk_lateness_seconds', { transport: 'ws' });
  const fan = histogramDelta(before, after, 'auralis_fanout_seconds');
  const gc = histogramDelta(before, after, 'auralis_gc_pause_seconds');
  const within = late.buckets.find((b) => b.le === 0.05)?.count ?? NaN;
  return {
    latenessP50LeMs: histogramBound(late, 0.5) * 1000,
    latenessP99LeMs: histogramBound(late, 0.99) * 1000,
    latenessWithin50MsPercent: late.count > 0 ? (within / late.count) * 100 : NaN,
    fanouts: fan.count,
    fanoutMeanMs: fan.count > 0 ? (fan.sum / fan.count) * 1000 : NaN,
    fanoutP99LeMs: histogramBound(fan, 0.99) * 1000,
    gcPauses: gc.count,
    gcMsPerSecond: (gc.sum * 1000) / seconds,
  };
}

export function formatListenerTable(rows: ListenerBenchRow[]): string {
  const head =
    '| listeners | lateness p50 (ms) | lateness p99 (ms) | lateness max (ms) | jitter p95 (ms) | gaps | server CPU (% of a core) | generator CPU (% of a core, per process) | chunks received / expected | connections lost (protocol errors) |';
  const sep = '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const body = rows.map((r) => {
    const gen = (r.generatorCpuPercents ?? [r.generatorCpuPercent]).map((c) => c.toFixed(1)).join(' + ');
    return `| ${r.listeners} | ${r.latenessP50Ms.toFixed(1)} | ${r.latenessP99Ms.toFixed(1)} | ${r.latenessMaxMs.toFixed(1)} | ${r.jitterP95Ms.toFixed(2)} | ${r.gaps} | ${r.serverCpuPercent.toFixed(1)} | ${gen} | ${r.chunksMeasured} / ${r.expectedChunks} | ${r.closedEarly ?? 0} (${r.protocolErrors ?? 0}) |`;
  });
  return [head, sep, ...body].join('\n');
}

/**
 * The same window by each clock (docs/ARCHITECTURE.md, "Fan-out"): the generators' per-read and batch
 * stamps, their walk per loop turn, and the server's own histograms (bucket bounds: "≤ 50" means the
 * quantile fell in the bucket (20, 50] ms; early sends count as 0).
 */
export function formatClockTable(rows: ListenerBenchRow[]): string {
  const f = (x: number | undefined, d = 1): string =>
    x === undefined || Number.isNaN(x) ? '—' : x.toFixed(d);
  const le = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '—' : `≤ ${x}`);
  const head =
    '| listeners | per-read lateness p50 / p99 / max (ms) | batch lateness p50 / p99 / max (ms) | jitter p95 per-read / batch (ms) | generator walk before the read p50 / p99 / max (ms) | server lateness p50 / p99 (ms, bucket) | server ≤ 50 ms (%) | fan-out mean / p99 (ms) | server GC (ms/s) |';
  const sep = '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const body = rows.map((r) => {
    const sv = r.server;
    return `| ${r.listeners} | ${f(r.latenessP50Ms)} / ${f(r.latenessP99Ms)} / ${f(r.latenessMaxMs)} | ${f(r.batchLatenessP50Ms)} / ${f(r.batchLatenessP99Ms)} / ${f(r.batchLatenessMaxMs)} | ${f(r.jitterP95Ms, 2)} / ${f(r.batchJitterP95Ms, 2)} | ${f(r.walkP50Ms)} / ${f(r.walkP99Ms)} / ${f(r.walkMaxMs)} | ${le(sv?.latenessP50LeMs)} / ${le(sv?.latenessP99LeMs)} | ${f(sv?.latenessWithin50MsPercent, 2)} | ${f(sv?.fanoutMeanMs)} / ${le(sv?.fanoutP99LeMs)} | ${f(sv?.gcMsPerSecond, 2)} |`;
  });
  return [head, sep, ...body].join('\n');
}

async function main(): Promise<void> {
  const counts = flag('listeners', '1,100,1000,5000').split(',').map(Number);
  const seconds = Number(flag('seconds', '20'));
  const generators = Number(flag('generators', String(DEFAULT_GENERATORS)));
  if (!Number.isInteger(generators) || generators < 1)
    throw new Error('--generators must be a whole number ≥ 1');
  const rows: ListenerBenchRow[] = [];
  for (const n of counts) {
    process.stderr.write(`bench:listeners: ${n} listener(s) for ${seconds} s, ${generators} generator(s)…\n`);
    rows.push(await runListenerBench(n, seconds, [], generators));
  }
  console.log(
    hasTaskset
      ? `server pinned to CPU 0, load generators to CPU ${[...new Set(rows.flatMap((r) => r.generatorCpus))].join(', ')} (taskset); ${cpus().length} CPUs; load average ${loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')} at the end`
      : `not pinned (taskset unavailable); ${cpus().length} CPUs`,
  );
  console.log(formatListenerTable(rows));
  console.log('');
  console.log(formatClockTable(rows));
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows, null, 2));
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
