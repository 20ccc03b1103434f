/**
 * Compares MP3 encoders on station audio: speed per 100 ms chunk, frame alignment of each chunk's
 * output, and (with ffmpeg) loudness and spectrum of the decoded stream against the source PCM.
 *   node --import tsx bench/mp3-encoders.ts [--seconds 60] [--out /tmp/mp3b]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Mp3ChunkEncoder } from '../src/codec/mp3-encoder.ts';
import { encodePcm16 } from '../src/codec/pcm16.ts';
import { wavFileHeader } from '../src/codec/wav.ts';
import { StationRenderer } from '../src/engine/station-renderer.ts';
import { DEFAULT_PARAMS } from '../src/music/params.ts';

const args = process.argv.slice(2);
const arg = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const seconds = Number(arg('seconds', '60'));
const outDir = arg('out', '/tmp/mp3-bench');
mkdirSync(outDir, { recursive: true });
const CHUNK = 4800;
const chunks = Math.round((seconds * 48000) / CHUNK);

const r = new StationRenderer({ seed: 7, params: { ...DEFAULT_PARAMS } });
const L: Float32Array[] = [];
const R: Float32Array[] = [];
for (let i = 0; i < chunks; i++) {
  const l = new Float32Array(CHUNK);
  const rr = new Float32Array(CHUNK);
  r.render(l, rr, CHUNK);
  L.push(l);
  R.push(rr);
}

interface Candidate {
  name: string;
  licence: string;
  encode(l: Float32Array, r: Float32Array): Uint8Array;
}

const require = createRequire(import.meta.url);
function wasmCandidate(): Candidate {
  const enc = new Mp3ChunkEncoder({ bitrate: 128_000 });
  const out = new Uint8Array(8192);
  return {
    name: 'wasm-media-encoders (LAME 3.100 WASM, direct calls)',
    licence: 'MIT wrapper, LAME LGPL',
    encode: (l, rr) => out.subarray(0, enc.encode(l, rr, CHUNK, out, 0)),
  };
}
/** Not a dependency: measured only where `@breezystack/lamejs` is installed. */
async function lamejsCandidate(): Promise<Candidate | null> {
  const name = '@breezystack/lamejs';
  const lamejs = (await import(name).catch(() => null)) as null | {
    Mp3Encoder: new (
      c: number,
      sr: number,
      kbps: number,
    ) => {
      encodeBuffer(l: Int16Array, r: Int16Array): Uint8Array;
    };
  };
  if (!lamejs) return null;
  const enc = new lamejs.Mp3Encoder(2, 48000, 128);
  const li = new Int16Array(CHUNK);
  const ri = new Int16Array(CHUNK);
  return {
    name: '@breezystack/lamejs (pure JS)',
    licence: 'LGPL-3.0',
    encode: (l, rr) => {
      for (let i = 0; i < CHUNK; i++) {
        li[i] = Math.max(-32768, Math.min(32767, Math.round(l[i]! * 32767)));
        ri[i] = Math.max(-32768, Math.min(32767, Math.round(rr[i]! * 32767)));
      }
      return enc.encodeBuffer(li, ri);
    },
  };
}

function loudness(file: string): { rms: string; lufs: string; errors: string } {
  const r = require('node:child_process').spawnSync(
    'ffmpeg',
    [
      '-nostats',
      '-i',
      file,
      '-af',
      'astats=measure_overall=RMS_level:measure_perchannel=none,ebur128',
      '-f',
      'null',
      '-',
    ],
    { encoding: 'utf8' },
  );
  const err: string = r.stderr;
  const rms = /RMS level dB: (-?[\d.]+|-inf)/.exec(err)?.[1] ?? '?';
  const lufs = /I:\s+(-?[\d.]+) LUFS/.exec(err.slice(err.lastIndexOf('Summary')))?.[1] ?? '?';
  const dec = require('node:child_process').spawnSync(
    'ffmpeg',
    ['-v', 'error', '-i', file, '-f', 'null', '-'],
    {
      encoding: 'utf8',
    },
  );
  return { rms, lufs, errors: (dec.stderr as string).trim() };
}

/** Spectral band energies (dB) of a file via ffmpeg → raw f32 mono and a naive DFT per band. */
function bands(file: string): number[] {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-ac', '1', '-f', 'f32le', '-'], {
    maxBuffer: 1 << 30,
  });
  const x = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength >> 2);
  const N = 4096;
  const edges = [20, 100, 250, 500, 1000, 2000, 4000, 8000, 12000, 16000, 20000];
  const acc = new Float64Array(edges.length - 1);
  // Radix-2 FFT on frames every 0.5 s.
  const re = new Float64Array(N);
  const im = new Float64Array(N);
  for (let start = 48000; start + N < x.length; start += 24000) {
    for (let i = 0; i < N; i++) {
      re[i] = x[start + i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / N));
      im[i] = 0;
    }
    fft(re, im);
    for (let k = 1; k < N / 2; k++) {
      const f = (k * 48000) / N;
      const p = re[k]! ** 2 + im[k]! ** 2;
      for (let b = 0; b < acc.length; b++) if (f >= edges[b]! && f < edges[b + 1]!) acc[b]! += p;
    }
  }
  return [...acc].map((p) => 10 * Math.log10(p + 1e-30));
}
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len) {
      for (let j = 0; j < len / 2; j++) {
        const wr = Math.cos(ang * j);
        const wi = Math.sin(ang * j);
        const ur = re[i + j]!;
        const ui = im[i + j]!;
        const vr = re[i + j + len / 2]! * wr - im[i + j + len / 2]! * wi;
        const vi = re[i + j + len / 2]! * wi + im[i + j + len / 2]! * wr;
        re[i + j] = ur + vr;
        im[i + j] = ui + vi;
        re[i + j + len / 2] = ur - vr;
        im[i + j + len / 2] = ui - vi;
      }
    }
  }
}

const wavPath = join(outDir, 'source.wav');
{
  const l = new Float32Array(chunks * CHUNK);
  const rr = new Float32Array(chunks * CHUNK);
  for (let i = 0; i < chunks; i++) {
    l.set(L[i]!, i * CHUNK);
    rr.set(R[i]!, i * CHUNK);
  }
  const pcm = new Uint8Array(l.length * 4);
  const n = encodePcm16(l, rr, l.length, pcm, 0);
  writeFileSync(wavPath, Buffer.concat([wavFileHeader(n), pcm.subarray(0, n)]));
}
const src = loudness(wavPath);
const srcBands = bands(wavPath);
console.log(`source: ${seconds} s, RMS ${src.rms} dBFS, ${src.lufs} LUFS`);

for (const make of [async () => wasmCandidate(), lamejsCandidate]) {
  const c = await make();
  if (!c) {
    console.log('\n@breezystack/lamejs is not installed: skipped');
    continue;
  }
  const parts: Uint8Array[] = [];
  const times: number[] = [];
  let misaligned = 0;
  const framesPerChunk = new Map<number, number>();
  for (let i = 0; i < chunks; i++) {
    const t0 = performance.now();
    const b = c.encode(L[i]!, R[i]!);
    times.push(performance.now() - t0);
    if (b.length > 0 && !(b[0] === 0xff && (b[1]! & 0xe0) === 0xe0)) misaligned++;
    parts.push(Uint8Array.from(b));
    const fr = Math.round(b.length / 384);
    framesPerChunk.set(fr, (framesPerChunk.get(fr) ?? 0) + 1);
  }
  const file = join(outDir, `${c.name.split(' ')[0]!.replace(/[^a-z0-9]/gi, '_')}.mp3`);
  writeFileSync(file, Buffer.concat(parts));
  // From a chunk boundary in the middle (a listener joining late).
  const mid = join(outDir, `${c.name.split(' ')[0]!.replace(/[^a-z0-9]/gi, '_')}-mid.mp3`);
  writeFileSync(mid, Buffer.concat(parts.slice(Math.floor(chunks / 2))));
  const sorted = [...times].sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const st = loudness(file);
  const midSt = loudness(mid);
  const b = bands(file);
  console.log(`\n${c.name} [${c.licence}]`);
  console.log(
    `  encode per 100 ms chunk: mean ${mean.toFixed(3)} ms, p50 ${sorted[sorted.length >> 1]!.toFixed(3)} ms, p99 ${sorted[Math.floor(sorted.length * 0.99)]!.toFixed(3)} ms → ${(100 / mean).toFixed(0)}× real time`,
  );
  console.log(
    `  chunks not starting at a frame sync: ${misaligned}; frames per chunk: ${JSON.stringify([...framesPerChunk])}`,
  );
  console.log(`  decoded: RMS ${st.rms} dBFS, ${st.lufs} LUFS; ffmpeg errors: ${JSON.stringify(st.errors)}`);
  console.log(`  joined mid-stream: ffmpeg errors: ${JSON.stringify(midSt.errors)}`);
  console.log(
    `  band energy vs source (dB, 20-100-250-500-1k-2k-4k-8k-12k-16k-20k): ${b.map((v, i) => (v - srcBands[i]!).toFixed(1)).join(' ')}`,
  );
}
