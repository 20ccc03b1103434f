/**
 * Accelerated memory soak: renders and encodes one station (A aeolian, 70 BPM, seed 12345) as fast as
 * the CPU allows, for a given length of audio, in one process, and fits memory growth per hour of audio.
 *
 * - `optimized`: the engine worker's path: StationRenderer into reused Float32Arrays, Opus into a
 *   reused byte buffer, PCM16 into a reused buffer, the Ogg page written in place.
 * - `baseline`: the naive profile's path: fresh Float32Arrays, a fresh output buffer per encoding,
 *   a fresh PCM16 buffer and a fresh Ogg page per chunk.
 *
 * Samples RSS and heapUsed every `sampleEveryChunks` chunks and, with --expose-gc, a settled heap
 * (after a forced full GC, which is not counted in the GC statistics) every `settleEveryChunks`.
 * Per-chunk synthesis and encode times are measured with performance.now() (the precise source for
 * the report's synthesis latency). GC counts and pauses per kind come from PerformanceObserver.
 *
 * Usage: node --expose-gc --import tsx bench/memory-soak.ts --profile optimized|baseline
 *        --audio-seconds 28800 [--warmup-fraction 0.1]   (prints one JSON line)
 * From code: `runMemorySoak({ profile, audioSeconds, nodeFlags })` runs it in a child process.
 */
import { spawn } from 'node:child_process';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { OpusChunkEncoder } from '../src/codec/opus-encoder.ts';
import { OggOpusMuxer } from '../src/codec/ogg.ts';
import { encodePcm16, PCM16_BYTES_PER_FRAME_STEREO } from '../src/codec/pcm16.ts';
import { StationRenderer } from '../src/engine/station-renderer.ts';
import { leastSquaresSlope } from '../src/metrics/least-squares.ts';
import { SAMPLE_RATE, type MusicParams } from '../src/music/types.ts';
import { summarize, type Summary } from './lib/stats.ts';

export type Profile = 'optimized' | 'baseline';

export const BENCH_SEED = 12345;
export const BENCH_PARAMS: MusicParams = { key: 'A', mode: 'aeolian', bpm: 70, intensity: 0.5, preset: null };

export interface GcKindTotals {
  count: number;
  totalPauseMs: number;
  maxPauseMs: number;
}

export interface SoakResult {
  profile: Profile;
  nodeFlags: string[];
  audioSeconds: number;
  chunkMs: number;
  chunks: number;
  wallSeconds: number;
  /** Audio seconds per wall second, synthesis + encoding, one thread. */
  speedX: number;
  /** Audio seconds per second of synthesis time alone (render only). */
  synthesisRealtimeFactor: number;
  synthesisMs: Summary;
  encodeMs: Summary;
  warmupAudioSeconds: number;
  initialRssMb: number;
  finalRssMb: number;
  peakRssMb: number;
  initialHeapUsedMb: number;
  finalHeapUsedMb: number;
  /** Least-squares slopes after warm-up, MB per hour of audio. */
  rssGrowthMbPerAudioHour: number;
  heapGrowthMbPerAudioHour: number;
  settledHeapGrowthMbPerAudioHour: number | null;
  gc: Record<'minor' | 'major' | 'incremental' | 'weakcb', GcKindTotals>;
  samples: { audioSeconds: number; rssMb: number; heapUsedMb: number; settledHeapMb: number | null }[];
}

const MB = 1024 * 1024;
const CHUNK_MS = 100;

function flagValue(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
}

function emptyGc(): SoakResult['gc'] {
  const k = (): GcKindTotals => ({ count: 0, totalPauseMs: 0, maxPauseMs: 0 });
  return { minor: k(), major: k(), incremental: k(), weakcb: k() };
}

const GC_KIND: Record<number, keyof SoakResult['gc']> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** Runs the soak in this process (call in a child: it takes the whole thread for minutes). */
export async function soakInProcess(
  profile: Profile,
  audioSeconds: number,
  warmupFraction = 0.1,
): Promise<SoakResult> {
  const frames = (SAMPLE_RATE * CHUNK_MS) / 1000;
  const chunks = Math.max(1, Math.round((audioSeconds * 1000) / CHUNK_MS));
  const sampleEvery = Math.max(1, Math.round(chunks / 2000));
  // A forced full GC empties the young generation too: at most one per minute of audio.
  const settleEvery = Math.max(sampleEvery, Math.round(chunks / 100), 600);
  const forceGc = (globalThis as { gc?: () => void }).gc;

  const gc = emptyGc();
  const record = (entries: PerformanceEntry[]): void => {
    for (const e of entries) {
      const detail = (e as unknown as { detail?: { kind: number; flags: number } }).detail;
      if (!detail || detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) continue;
      const kind = GC_KIND[detail.kind];
      if (!kind) continue;
      gc[kind].count++;
      gc[kind].totalPauseMs += e.duration;
      gc[kind].maxPauseMs = Math.max(gc[kind].maxPauseMs, e.duration);
    }
  };
  // Node creates gc entries from an immediate: the loop below yields every few chunks so they arrive.
  const observer = new PerformanceObserver((list) => record(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });

  const renderer = new StationRenderer({ seed: BENCH_SEED, params: BENCH_PARAMS });
  const opus = new OpusChunkEncoder();
  const ogg = new OggOpusMuxer({
    serial: 0xbe4c,
    preSkipFrames: opus.preSkipFrames,
    sampleRate: SAMPLE_RATE,
    channels: 2,
    vendor: 'auralis',
    title: 'bench',
  });
  const maxOpus = OpusChunkEncoder.maxBytes(frames);
  // Preallocated (optimized) buffers.
  const left = new Float32Array(frames);
  const right = new Float32Array(frames);
  const opusOut = new Uint8Array(maxOpus);
  const pcmOut = new Uint8Array(frames * PCM16_BYTES_PER_FRAME_STEREO);
  const oggOut = new Uint8Array(maxOpus * 2 + 4096);

  const synthesis = new Float64Array(chunks);
  const encode = new Float64Array(chunks);
  const samples: SoakResult['samples'] = [];
  const sample = (i: number, settle: boolean): void => {
    let settledHeapMb: number | null = null;
    if (settle && forceGc) {
      forceGc();
      settledHeapMb = process.memoryUsage().heapUsed / MB;
    }
    const m = process.memoryUsage();
    samples.push({
      audioSeconds: (i * CHUNK_MS) / 1000,
      rssMb: m.rss / MB,
      heapUsedMb: m.heapUsed / MB,
      settledHeapMb,
    });
  };

  sample(0, true);
  const wall0 = performance.now();
  let sink = 0;
  for (let i = 0; i < chunks; i++) {
    const endPosition = (i + 1) * frames;
    const t0 = performance.now();
    if (profile === 'optimized') {
      renderer.render(left, right, frames);
      const t1 = performance.now();
      const n = opus.encode(left, right, frames, opusOut, 0);
      const p = encodePcm16(left, right, frames, pcmOut, 0);
      const o = ogg.writePageForChunk(opusOut.subarray(0, n), endPosition, oggOut, 0);
      synthesis[i] = t1 - t0;
      encode[i] = performance.now() - t1;
      sink += n + p + o;
    } else {
      const l = new Float32Array(frames);
      const r = new Float32Array(frames);
      renderer.render(l, r, frames);
      const t1 = performance.now();
      const out = new Uint8Array(maxOpus);
      const n = opus.encode(l, r, frames, out, 0);
      const payload = out.slice(0, n);
      const pcm = new Uint8Array(frames * PCM16_BYTES_PER_FRAME_STEREO);
      const p = encodePcm16(l, r, frames, pcm, 0);
      const page = ogg.pageForChunk(payload, endPosition);
      synthesis[i] = t1 - t0;
      encode[i] = performance.now() - t1;
      sink += payload.length + p + page.length;
    }
    if ((i + 1) % 10 === 0) await new Promise((r) => setImmediate(r));
    if ((i + 1) % sampleEvery === 0) sample(i + 1, (i + 1) % settleEvery === 0);
  }
  const wallSeconds = (performance.now() - wall0) / 1000;
  sample(chunks, true);
  await new Promise((r) => setImmediate(r));
  record(observer.takeRecords());
  observer.disconnect();
  opus.close();
  if (sink < 0) console.error(sink);

  const warmupAudioSeconds = audioSeconds * warmupFraction;
  const after = samples.filter((s) => s.audioSeconds >= warmupAudioSeconds);
  const hours = after.map((s) => s.audioSeconds / 3600);
  const settled = after.filter((s) => s.settledHeapMb !== null);
  const settledSlope =
    settled.length >= 3
      ? leastSquaresSlope(
          settled.map((s) => s.audioSeconds / 3600),
          settled.map((s) => s.settledHeapMb!),
        )
      : null;
  let synthTotal = 0;
  for (let i = 0; i < chunks; i++) synthTotal += synthesis[i]!;
  return {
    profile,
    nodeFlags: process.execArgv.filter((a) => a.startsWith('--') && a !== '--import' && !a.includes('tsx')),
    audioSeconds,
    chunkMs: CHUNK_MS,
    chunks,
    wallSeconds,
    speedX: audioSeconds / wallSeconds,
    synthesisRealtimeFactor: audioSeconds / (synthTotal / 1000),
    synthesisMs: summarize(synthesis),
    encodeMs: summarize(encode),
    warmupAudioSeconds,
    initialRssMb: samples[0]!.rssMb,
    finalRssMb: samples[samples.length - 1]!.rssMb,
    peakRssMb: Math.max(...samples.map((s) => s.rssMb)),
    initialHeapUsedMb: samples[0]!.heapUsedMb,
    finalHeapUsedMb: samples[samples.length - 1]!.heapUsedMb,
    rssGrowthMbPerAudioHour: leastSquaresSlope(
      hours,
      after.map((s) => s.rssMb),
    ),
    heapGrowthMbPerAudioHour: leastSquaresSlope(
      hours,
      after.map((s) => s.heapUsedMb),
    ),
    settledHeapGrowthMbPerAudioHour: settledSlope,
    gc,
    samples,
  };
}

/** Runs the soak in a child process (with --expose-gc and the given V8 flags); resolves with its result. */
export function runMemorySoak(opts: {
  profile: Profile;
  audioSeconds: number;
  nodeFlags?: string[];
  warmupFraction?: number;
  cpu?: number;
}): Promise<SoakResult> {
  const script = fileURLToPath(import.meta.url);
  const nodeArgs = [
    '--expose-gc',
    ...(opts.nodeFlags ?? []),
    '--import',
    'tsx',
    script,
    '--profile',
    opts.profile,
    '--audio-seconds',
    String(opts.audioSeconds),
    '--warmup-fraction',
    String(opts.warmupFraction ?? 0.1),
  ];
  const [cmd, args] =
    opts.cpu !== undefined
      ? ['taskset', ['-c', String(opts.cpu), process.execPath, ...nodeArgs]]
      : [process.execPath, nodeArgs];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`memory soak (${opts.profile}) exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as SoakResult);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const profile = flagValue(argv, 'profile', 'optimized') as Profile;
  if (profile !== 'optimized' && profile !== 'baseline') throw new Error(`unknown profile ${profile}`);
  const audioSeconds = Number(flagValue(argv, 'audio-seconds', '1200'));
  const warmup = Number(flagValue(argv, 'warmup-fraction', '0.1'));
  process.stdout.write(JSON.stringify(await soakInProcess(profile, audioSeconds, warmup)) + '\n');
}
