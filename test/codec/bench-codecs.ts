/**
 * Codec speed, for the performance report: `node --import tsx test/codec/bench-codecs.ts`.
 * Reports × real time per core from process CPU time (user + system), which is steadier than
 * wall time on a shared machine, for each Opus backend/complexity and for the per-chunk work of
 * the server (Opus + Ogg page + PCM16 + header) on 100 ms chunks.
 */
import { writeFrameHeader } from '../../src/codec/frame-header.ts';
import { OggOpusMuxer } from '../../src/codec/ogg.ts';
import { OpusChunkEncoder, type OpusBackendName } from '../../src/codec/opus-encoder.ts';
import { encodePcm16 } from '../../src/codec/pcm16.ts';
import { sinePlusNoise } from './signals.ts';

const CHUNK = 4800;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const signal = sinePlusNoise(SECONDS * 48_000, 440, 0.4, 0.1, 9);
const signalR = sinePlusNoise(SECONDS * 48_000, 660, 0.3, 0.1, 10);

function cpuSeconds(fn: () => void): number {
  const start = process.cpuUsage();
  fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

function bench(name: string, work: (chunk: number) => number): void {
  const chunks = (SECONDS * 48_000) / CHUNK;
  for (let c = 0; c < 20; c++) work(c); // warm-up
  let bytes = 0;
  const cpu = cpuSeconds(() => {
    for (let c = 0; c < chunks; c++) bytes += work(c);
  });
  const perChunkUs = (cpu / chunks) * 1e6;
  console.log(
    `${name.padEnd(34)} ${(SECONDS / cpu).toFixed(0).padStart(5)}× real time  ${perChunkUs.toFixed(0).padStart(5)} µs/chunk  ${(bytes / chunks).toFixed(0).padStart(5)} bytes/chunk`,
  );
}

const out = new Uint8Array(OpusChunkEncoder.maxBytes(CHUNK) + 64);
for (const backend of ['evan-native', 'evan-wasm', 'opusscript'] as OpusBackendName[]) {
  for (const complexity of backend === 'evan-native' ? [5, 8, 10] : [5]) {
    const enc = new OpusChunkEncoder({ backend, complexity });
    bench(`opus ${backend} c${complexity} 96k`, (c) =>
      enc.encode(signal.subarray(c * CHUNK), signalR.subarray(c * CHUNK), CHUNK, out, 0),
    );
    enc.close();
  }
}

const enc = new OpusChunkEncoder();
const mux = new OggOpusMuxer({
  serial: 1,
  preSkipFrames: enc.preSkipFrames,
  sampleRate: 48_000,
  channels: 2,
  vendor: 'bench',
});
const page = new Uint8Array(8192);
const pcm = new Uint8Array(CHUNK * 4 + 32);
const header = {
  version: 1,
  codec: 1,
  channels: 2,
  flags: 0,
  sampleRate: 48_000,
  sequence: 0,
  frames: CHUNK,
  positionFrames: 0,
  playTimeMs: 0,
};
bench('pcm16 + header only', (c) => {
  header.sequence = c;
  writeFrameHeader(pcm, 0, header);
  return encodePcm16(signal.subarray(c * CHUNK), signalR.subarray(c * CHUNK), CHUNK, pcm, 32);
});
bench('server chunk: opus+ogg+pcm16+headers', (c) => {
  const l = signal.subarray(c * CHUNK);
  const r = signalR.subarray(c * CHUNK);
  header.sequence = c;
  writeFrameHeader(out, 0, header);
  const n = enc.encode(l, r, CHUNK, out, 32);
  const p = mux.writePageForChunk(out.subarray(32, 32 + n), (c + 1) * CHUNK, page, 0);
  encodePcm16(l, r, CHUNK, pcm, 32);
  return n + p;
});
