/**
 * Synthesis benchmark: renders each preset (and the default station's parameters) through
 * StationRenderer — composer + synth, the station's whole mix: five instruments, reverb, delay,
 * high-pass, compressor and limiter — on the main thread, 100 ms chunks as the engine renders,
 * and prints the real-time factor (audio seconds per CPU second of this process, i.e. per core),
 * per-chunk render times and steady-state heap growth. Not a test: it prints numbers.
 *
 *   npm run bench:synth -- [--seconds 120] [--seed 7] [--station default,focus] [--rounds 3] [--json]
 *   npm run bench:synth -- --station default --rounds 3   (the default station's whole mix only)
 *   node --expose-gc --import tsx bench/synth.ts   (heap slope measured after forced GCs)
 *
 * With --rounds N each station is measured N times (a fresh renderer each time) and the
 * summary gives the min and median real-time factor per station.
 */
import os from 'node:os';
import { StationRenderer } from '../src/engine/station-renderer.ts';
import { DEFAULT_PARAMS } from '../src/music/params.ts';
import { PRESETS } from '../src/music/presets.ts';
import type { MusicParams } from '../src/music/types.ts';
import { SAMPLE_RATE } from '../src/music/types.ts';

const CHUNK_FRAMES = SAMPLE_RATE / 10; // 100 ms, as the engine renders
const WARMUP_SECONDS = 10;
/** Heap is sampled every this many seconds of audio (after a forced GC when available). */
const HEAP_SAMPLE_SECONDS = 5;

interface StationResult {
  station: string;
  audioSeconds: number;
  cpuSeconds: number;
  /** Audio seconds per CPU second of the process (user + system, all its threads): per core. */
  realTimeFactor: number;
  /** Audio seconds per wall-clock second of rendering (lower on a busy machine). */
  wallRealTimeFactor: number;
  round: number;
  /** Wall time per 100 ms chunk (includes preemption by other processes on a busy machine). */
  chunkMs: { p50: number; p99: number; max: number; mean: number };
  /** CPU time per chunk (user + system), the synthesis cost itself. */
  chunkCpuMs: { p50: number; p99: number; max: number };
  heapSlopeKbPerAudioMinute: number;
  heapSlopeMbPerAudioHour: number;
  heapSampledAfterGc: boolean;
}

const STATION_NAMES = ['default', ...PRESETS.map((p) => p.name)];
const USAGE =
  'usage: bench/synth.ts [--seconds N ≥ 10] [--seed S] [--station NAME[,NAME…]] [--rounds N] [--json]\n' +
  `  stations: ${STATION_NAMES.join(', ')} (default: all; "default" is the default station's parameters)`;

function parseArgs(argv: string[]): {
  seconds: number;
  seed: number;
  json: boolean;
  stations: string[];
  rounds: number;
} {
  let seconds = 120;
  let seed = 7;
  let json = false;
  let rounds = 1;
  let stations = STATION_NAMES;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--seconds') seconds = Number(argv[++i]);
    else if (a === '--seed') seed = Number(argv[++i]);
    else if (a === '--rounds') rounds = Number(argv[++i]);
    else if (a === '--station') stations = String(argv[++i] ?? '').split(',');
    else if (a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (!Number.isFinite(seconds) || seconds < 10) throw new Error('--seconds must be a number ≥ 10');
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be an integer ≥ 1');
  for (const s of stations) {
    if (!STATION_NAMES.includes(s))
      throw new Error(`--station: unknown station ${JSON.stringify(s)}\n${USAGE}`);
  }
  return { seconds, seed: seed >>> 0, json, stations, rounds };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((s, v) => s + v, 0) / n;
  const my = ys.reduce((s, v) => s + v, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den > 0 ? num / den : 0;
}

function benchStation(
  name: string,
  params: MusicParams,
  seconds: number,
  seed: number,
  round: number,
): StationResult {
  const gc = (globalThis as { gc?: () => void }).gc;
  const renderer = new StationRenderer({ seed, params });
  const left = new Float32Array(CHUNK_FRAMES);
  const right = new Float32Array(CHUNK_FRAMES);
  for (let i = 0; i < WARMUP_SECONDS * 10; i++) renderer.render(left, right, CHUNK_FRAMES);
  const chunks = Math.round(seconds * 10);
  const times = new Float64Array(chunks);
  const cpuTimes = new Float64Array(chunks);
  const heapX: number[] = [];
  const heapY: number[] = [];
  let cpuMicros = 0;
  for (let c = 0; c < chunks; c++) {
    if (c % (HEAP_SAMPLE_SECONDS * 10) === 0) {
      gc?.();
      heapX.push(c / 10);
      heapY.push(process.memoryUsage().heapUsed);
    }
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    renderer.render(left, right, CHUNK_FRAMES);
    times[c] = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    cpuTimes[c] = (cpu.user + cpu.system) / 1000;
    cpuMicros += cpu.user + cpu.system;
  }
  const sorted = Float64Array.from(times).sort();
  const cpuSorted = Float64Array.from(cpuTimes).sort();
  const wallMs = times.reduce((s, v) => s + v, 0);
  const mean = wallMs / chunks;
  const bytesPerAudioSecond = slope(heapX, heapY);
  return {
    station: name,
    audioSeconds: seconds,
    cpuSeconds: cpuMicros / 1e6,
    realTimeFactor: seconds / (cpuMicros / 1e6),
    wallRealTimeFactor: seconds / (wallMs / 1000),
    round,
    chunkMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[chunks - 1]!, mean },
    chunkCpuMs: {
      p50: percentile(cpuSorted, 0.5),
      p99: percentile(cpuSorted, 0.99),
      max: cpuSorted[chunks - 1]!,
    },
    heapSlopeKbPerAudioMinute: (bytesPerAudioSecond * 60) / 1024,
    heapSlopeMbPerAudioHour: (bytesPerAudioSecond * 3600) / (1024 * 1024),
    heapSampledAfterGc: gc !== undefined,
  };
}

const { seconds, seed, json, stations: chosen, rounds } = parseArgs(process.argv.slice(2));
const stations: [string, MusicParams][] = [
  ['default', { ...DEFAULT_PARAMS }],
  ...PRESETS.map((p): [string, MusicParams] => [p.name, { ...DEFAULT_PARAMS, ...p.params, preset: p.name }]),
].filter(([name]) => chosen.includes(name as string)) as [string, MusicParams][];
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  node: process.version,
  loadAverage1m: os.loadavg()[0],
};
const results: StationResult[] = [];
for (let round = 1; round <= rounds; round++) {
  for (const [name, params] of stations) {
    const r = benchStation(name, params, seconds, seed, round);
    results.push(r);
    if (json) continue;
    console.log(
      `${rounds > 1 ? `round ${round}  ` : ''}${name.padEnd(11)} ${r.realTimeFactor.toFixed(0).padStart(5)}× real time per core` +
        ` (wall ${r.wallRealTimeFactor.toFixed(0)}×, load ${os.loadavg()[0]!.toFixed(1)})` +
        `  chunk (100 ms) p50 ${r.chunkMs.p50.toFixed(2)} ms  p99 ${r.chunkMs.p99.toFixed(2)} ms` +
        `  max ${r.chunkMs.max.toFixed(2)} ms (cpu p99 ${r.chunkCpuMs.p99.toFixed(2)} ms)  heap ${r.heapSlopeKbPerAudioMinute >= 0 ? '+' : ''}` +
        `${r.heapSlopeKbPerAudioMinute.toFixed(1)} KB/audio-min${r.heapSampledAfterGc ? '' : ' (no --expose-gc)'}`,
    );
  }
}
/** Min and median real-time factor per station over the rounds. */
const summary = stations.map(([name]) => {
  const xs = results
    .filter((r) => r.station === name)
    .map((r) => r.realTimeFactor)
    .sort((a, b) => a - b);
  const mid = xs.length >> 1;
  const median = xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  return { station: name, rounds: xs.length, min: xs[0]!, median };
});
if (json) {
  console.log(
    JSON.stringify({ seconds, seed, chunkFrames: CHUNK_FRAMES, machine, results, summary }, null, 2),
  );
} else {
  if (rounds > 1) {
    for (const s of summary) {
      console.log(
        `${s.station.padEnd(11)} min ${s.min.toFixed(0)}×  median ${s.median.toFixed(0)}× real time per core over ${s.rounds} rounds`,
      );
    }
  }
  console.log(
    `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load ${machine.loadAverage1m.toFixed(1)};` +
      ` ${seconds} s of audio per station after ${WARMUP_SECONDS} s warm-up, seed ${seed}`,
  );
}
