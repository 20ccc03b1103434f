/**
 * Synthesis benchmark: renders each preset (and the default parameters) through StationRenderer
 * (composer + synth) on the main thread and prints the real-time factor, per-chunk render times
 * and steady-state heap growth. Not a test: it prints numbers.
 *
 *   npm run bench:synth -- [--seconds 120] [--seed 7] [--json]
 *   node --expose-gc --import tsx bench/synth.ts   (heap slope measured after forced GCs)
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
  realTimeFactor: number;
  /** Wall time per 100 ms chunk (includes preemption by other processes on a busy machine). */
  chunkMs: { p50: number; p99: number; max: number; mean: number };
  /** CPU time per chunk (user + system), the synthesis cost itself. */
  chunkCpuMs: { p50: number; p99: number; max: number };
  heapSlopeKbPerAudioMinute: number;
  heapSlopeMbPerAudioHour: number;
  heapSampledAfterGc: boolean;
}

function parseArgs(argv: string[]): { seconds: number; seed: number; json: boolean } {
  let seconds = 120;
  let seed = 7;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--seconds') seconds = Number(argv[++i]);
    else if (a === '--seed') seed = Number(argv[++i]);
    else if (a === '--help') {
      console.log('usage: bench/synth.ts [--seconds N] [--seed S] [--json]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isFinite(seconds) || seconds < 10) throw new Error('--seconds must be a number ≥ 10');
  return { seconds, seed: seed >>> 0, json };
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

function benchStation(name: string, params: MusicParams, seconds: number, seed: number): StationResult {
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
  const mean = times.reduce((s, v) => s + v, 0) / chunks;
  const bytesPerAudioSecond = slope(heapX, heapY);
  return {
    station: name,
    audioSeconds: seconds,
    cpuSeconds: cpuMicros / 1e6,
    realTimeFactor: seconds / (cpuMicros / 1e6),
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

const { seconds, seed, json } = parseArgs(process.argv.slice(2));
const stations: [string, MusicParams][] = [
  ['default', { ...DEFAULT_PARAMS }],
  ...PRESETS.map((p): [string, MusicParams] => [p.name, { ...DEFAULT_PARAMS, ...p.params, preset: p.name }]),
];
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  node: process.version,
  loadAverage1m: os.loadavg()[0],
};
const results: StationResult[] = [];
for (const [name, params] of stations) {
  const r = benchStation(name, params, seconds, seed);
  results.push(r);
  if (!json) {
    console.log(
      `${name.padEnd(11)} ${r.realTimeFactor.toFixed(0).padStart(5)}× real time` +
        `  chunk (100 ms) p50 ${r.chunkMs.p50.toFixed(2)} ms  p99 ${r.chunkMs.p99.toFixed(2)} ms` +
        `  max ${r.chunkMs.max.toFixed(2)} ms (cpu p99 ${r.chunkCpuMs.p99.toFixed(2)} ms)  heap ${r.heapSlopeKbPerAudioMinute >= 0 ? '+' : ''}` +
        `${r.heapSlopeKbPerAudioMinute.toFixed(1)} KB/audio-min${r.heapSampledAfterGc ? '' : ' (no --expose-gc)'}`,
    );
  }
}
if (json) {
  console.log(JSON.stringify({ seconds, seed, chunkFrames: CHUNK_FRAMES, machine, results }, null, 2));
} else {
  console.log(
    `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load ${machine.loadAverage1m.toFixed(1)};` +
      ` ${seconds} s of audio per station after ${WARMUP_SECONDS} s warm-up, seed ${seed}`,
  );
}
