// One streaming measurement: a server process (one profile, pinned to a CPU, 0 unless told) with the bench station
// (A aeolian, 70 BPM, seed 12345), a load generator (pinned to the other CPU) listening to it, and samplers of
// the server's CPU and memory from /proc, its /metrics and its --trace-gc output.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { leastSquaresSlope } from '../../src/metrics/least-squares.ts';
import { BENCH_PARAMS, BENCH_SEED, type Profile } from '../memory-soak.ts';
import {
  histogramDelta,
  histogramMaxBound,
  histogramQuantile,
  parseProm,
  value,
  type Scrape,
} from './prom.ts';
import { summarize, type Summary } from './stats.ts';
import { TraceGcCounter, type TraceGcTotals } from './trace-gc.ts';
import { generatorArgs, HAS_TASKSET as hasTaskset, pinned } from './generators.ts';
import { serverEntry, stdoutLines } from './proc.ts';

export const BENCH_STATION = 'bench';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLK_TCK = 100;
const MB = 1024 * 1024;

export interface StreamRunOptions {
  profile: Profile;
  /** Measured seconds (after the warm-up). */
  seconds: number;
  warmupSeconds: number;
  listeners?: number;
  /** V8 flags for the server process (before --import tsx). */
  nodeFlags?: string[];
  leadMs?: number;
  /**
   * The CPU the server is pinned to (default 0; the load generator takes the other of CPUs 0 and 1).
   * Two runs at once, one per CPU, measure both profiles under the same conditions at the same time.
   */
  cpu?: number;
  /** Log progress lines to stderr. */
  log?: (msg: string) => void;
}

export interface StreamRunResult {
  profile: Profile;
  listeners: number;
  seconds: number;
  warmupSeconds: number;
  nodeFlags: string[];
  serverArgs: string[];
  /** How the server was started (node arguments before `serve`): bench/lib/proc.ts serverEntry(). */
  serverEntry: string[];
  pinned: boolean;
  /** At the listeners (load generator), ms. */
  lateness: { p50: number; p95: number; p99: number; max: number; within50MsPercent: number };
  jitter: { p50: number; p95: number; p99: number; max: number };
  gaps: number;
  discontinuities: number;
  chunksMeasured: number;
  expectedChunks: number;
  /** From auralis_synthesis_seconds{station="bench"} over the window, interpolated (ms). */
  synthesisMs: { p50: number; p95: number; p99: number; maxBucketBound: number; avg: number; count: number };
  encodeMs: { avg: number; count: number };
  /** Server process CPU (all threads), % of one core: per-second samples and the window's mean. */
  cpuPercent: Summary & { mean: number };
  memory: {
    initialRssMb: number;
    finalRssMb: number;
    peakRssMb: number;
    rssGrowthMbPerHour: number;
    initialHeapUsedMb: number;
    finalHeapUsedMb: number;
    heapGrowthMbPerHour: number;
    rssSamples: number;
  };
  /** Every isolate (main + worker threads), from --trace-gc. */
  gc: TraceGcTotals;
  /** The main thread only, from auralis_gc_pause_seconds (PerformanceObserver). */
  mainThreadGc: Record<string, { count: number; totalPauseMs: number }>;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`);
  return parseProm(await res.text());
}

export function serverPinned(): boolean {
  return hasTaskset;
}

export async function runStream(opts: StreamRunOptions): Promise<StreamRunResult> {
  const listeners = opts.listeners ?? 1;
  const leadMs = opts.leadMs ?? 150;
  const nodeFlags = opts.nodeFlags ?? [];
  const log = opts.log ?? (() => {});
  const serverArgs = [
    'serve',
    // Benchmarks keep no stations across runs.
    '--state-file=',
    '--port',
    '0',
    '--log-level',
    'warn',
    '--profile',
    opts.profile,
    '--workers',
    '1',
    '--lead-ms',
    String(leadMs),
    '--max-listeners',
    String(listeners + 100),
    '--max-connections-per-ip',
    String(listeners + 100),
  ];
  const serverCpu = opts.cpu ?? 0;
  const entry = serverEntry();
  const [cmd, args] = pinned(serverCpu, process.execPath, [
    ...nodeFlags,
    '--trace-gc',
    ...entry,
    ...serverArgs,
  ]);
  const server = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const gc = new TraceGcCounter();
  gc.counting = false;
  const serverExit = new Promise<void>((r) => server.once('exit', () => r()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server did not start in 30 s')), 30_000);
      server.once('exit', (code) => reject(new Error(`server exited ${code} before serving`)));
      stdoutLines(server, (l) => {
        if (gc.line(l)) return;
        const m = /serving on (http:\/\/\S+)/.exec(l);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
    });
    const pid = server.pid!; // taskset execs the command: same pid
    const created = await fetch(`${url}/api/stations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: BENCH_STATION,
        params: { bpm: BENCH_PARAMS.bpm, key: BENCH_PARAMS.key, mode: BENCH_PARAMS.mode },
        seed: BENCH_SEED,
      }),
    });
    if (!created.ok)
      throw new Error(`creating the bench station: HTTP ${created.status} ${await created.text()}`);

    const [gcmd, gargs] = pinned(
      serverCpu === 0 ? 1 : 0,
      process.execPath,
      generatorArgs({
        url,
        station: BENCH_STATION,
        listeners,
        seconds: opts.seconds,
        warmupSeconds: opts.warmupSeconds,
        leadMs,
      }),
    );
    const gen = spawn(gcmd, gargs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });

    const cpuSamples: number[] = [];
    const rss: { t: number; mb: number }[] = [];
    const heap: { t: number; mb: number }[] = [];
    let before: Scrape | null = null;
    let timer: NodeJS.Timeout | undefined;
    let heapTimer: NodeJS.Timeout | undefined;
    // Heap used (a /metrics scrape) every 10 s, or more often in a short window so a slope can be fitted.
    const heapEveryMs = Math.max(1000, Math.min(10_000, (opts.seconds * 1000) / 10));
    let ticks0 = 0;
    let wall0 = 0;
    const result = await new Promise<Record<string, unknown>>((resolve, reject) => {
      stdoutLines(gen, (l) => {
        const msg = JSON.parse(l) as Record<string, unknown>;
        if (msg.phase === 'measuring') {
          gc.counting = true;
          ticks0 = cpuTicks(pid);
          wall0 = performance.now();
          let lastTicks = ticks0;
          let lastWall = wall0;
          rss.push({ t: 0, mb: rssMb(pid) });
          void scrape(url).then((s) => {
            before = s;
            heap.push({
              t: (performance.now() - wall0) / 1000,
              mb: value(s, 'nodejs_heap_size_used_bytes') / MB,
            });
          });
          timer = setInterval(() => {
            const ticks = cpuTicks(pid);
            const now = performance.now();
            cpuSamples.push(((ticks - lastTicks) / CLK_TCK / ((now - lastWall) / 1000)) * 100);
            lastTicks = ticks;
            lastWall = now;
            rss.push({ t: (now - wall0) / 1000, mb: rssMb(pid) });
          }, 1000);
          heapTimer = setInterval(() => {
            // A missed heap sample is only a missing point of the fit.
            void scrape(url)
              .then((s) =>
                heap.push({
                  t: (performance.now() - wall0) / 1000,
                  mb: value(s, 'nodejs_heap_size_used_bytes') / MB,
                }),
              )
              .catch(() => {});
          }, heapEveryMs);
          log(`  ${opts.profile}: measuring ${opts.seconds} s…`);
        } else if (msg.phase === 'done') resolve(msg);
      });
      gen.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`load generator exited ${code}`))));
    });
    clearInterval(timer);
    clearInterval(heapTimer);
    const cpuMean = ((cpuTicks(pid) - ticks0) / CLK_TCK / ((performance.now() - wall0) / 1000)) * 100;
    gc.counting = false;
    const after = await scrape(url);
    const b = before ?? new Map<string, number>();

    const synth = histogramDelta(b, after, 'auralis_synthesis_seconds', { station: BENCH_STATION });
    const enc = histogramDelta(b, after, 'auralis_encode_seconds', { codec: 'opus' });
    const mainThreadGc: StreamRunResult['mainThreadGc'] = {};
    for (const kind of ['minor', 'major', 'incremental', 'weakcb']) {
      const h = histogramDelta(b, after, 'auralis_gc_pause_seconds', { kind });
      mainThreadGc[kind] = { count: h.count, totalPauseMs: h.sum * 1000 };
    }
    const l = result.latenessMs as Record<string, number>;
    const j = result.jitterMs as Record<string, number>;
    const hours = (xs: { t: number }[]): number[] => xs.map((x) => x.t / 3600);
    return {
      profile: opts.profile,
      listeners,
      seconds: opts.seconds,
      warmupSeconds: opts.warmupSeconds,
      nodeFlags,
      serverArgs,
      serverEntry: entry,
      pinned: hasTaskset,
      lateness: {
        p50: l.p50!,
        p95: l.p95!,
        p99: l.p99!,
        max: l.max!,
        within50MsPercent: result.within50MsPercent as number,
      },
      jitter: { p50: j.p50!, p95: j.p95!, p99: j.p99!, max: j.max! },
      gaps: result.gaps as number,
      discontinuities: result.discontinuities as number,
      chunksMeasured: result.chunksMeasured as number,
      expectedChunks: result.expectedChunks as number,
      synthesisMs: {
        p50: histogramQuantile(synth, 0.5) * 1000,
        p95: histogramQuantile(synth, 0.95) * 1000,
        p99: histogramQuantile(synth, 0.99) * 1000,
        maxBucketBound: histogramMaxBound(synth) * 1000,
        avg: (synth.sum / synth.count) * 1000,
        count: synth.count,
      },
      encodeMs: { avg: (enc.sum / enc.count) * 1000, count: enc.count },
      cpuPercent: { ...summarize(cpuSamples), mean: cpuMean },
      memory: {
        initialRssMb: rss[0]!.mb,
        finalRssMb: rss[rss.length - 1]!.mb,
        peakRssMb: Math.max(...rss.map((r) => r.mb)),
        rssGrowthMbPerHour: leastSquaresSlope(
          hours(rss),
          rss.map((r) => r.mb),
        ),
        initialHeapUsedMb: heap[0]?.mb ?? Number.NaN,
        finalHeapUsedMb: heap[heap.length - 1]?.mb ?? Number.NaN,
        heapGrowthMbPerHour: leastSquaresSlope(
          hours(heap),
          heap.map((r) => r.mb),
        ),
        rssSamples: rss.length,
      },
      gc: gc.snapshot(),
      mainThreadGc,
    };
  } finally {
    server.kill('SIGTERM');
    const killer = setTimeout(() => server.kill('SIGKILL'), 10_000);
    await serverExit;
    clearTimeout(killer);
  }
}
