/**
 * What HLS costs: the segmenter's main-thread time per chunk and per segment (CBR 128 kb/s MP3
 * frames, or 96 kb/s Opus packets into fMP4, at 100 ms chunks, 30 chunks a segment), heap bytes
 * allocated per ordinary chunk, memory
 * held per HLS station, and (with a real server) the time from a station's first HLS request to
 * a playable media playlist.
 *   node --import tsx bench/hls.ts [--segments 2000] [--stations 5]
 */
import { getHeapStatistics } from 'node:v8';
import { CODEC_PCM_S16LE, writeFrameHeader } from '../src/codec/frame-header.ts';
import { ChunkRing, WS_PREFIX_BYTES } from '../src/engine/ring.ts';
import { HlsSegmenter, KEPT_SEGMENTS, type HlsCodec } from '../src/server/hls/segmenter.ts';
import { startServer } from '../src/server/server.ts';

const args = process.argv.slice(2);
const arg = (name: string, def: string): number => {
  const i = args.indexOf(`--${name}`);
  return Number(i >= 0 ? args[i + 1]! : def);
};
const SEGMENTS = arg('segments', '2000');
const STATIONS = arg('stations', '5');
const CHUNK_FRAMES = 4800;
const FRAME_BYTES = 384; // 128 kb/s at 48 kHz

// A ring of 80 slots (8 s) whose chunks hold LAME's pattern of 4-5 whole frames.
const ring = ChunkRing.create(80, CHUNK_FRAMES);
const framesOf = (seq: number): number =>
  Math.floor(((seq + 1) * CHUNK_FRAMES) / 1152) - Math.floor((seq * CHUNK_FRAMES) / 1152);
function publish(seq: number): void {
  const at = ring.mp3Region(seq);
  const frames = framesOf(seq);
  for (let f = 0; f < frames; f++) ring.bytes.set([0xff, 0xfb, 0x94, 0x00], at + f * FRAME_BYTES);
  writeFrameHeader(ring.bytes, ring.pcmRegion(seq) + WS_PREFIX_BYTES, {
    version: 1,
    codec: CODEC_PCM_S16LE,
    channels: 2,
    flags: 0,
    sampleRate: 48_000,
    sequence: seq,
    frames: CHUNK_FRAMES,
    positionFrames: seq * CHUNK_FRAMES,
    playTimeMs: 1_790_000_000_000 + seq * 100,
  });
  // The Opus wire payload at 96 kb/s: five 20 ms packets of 240 bytes, each after its u16 length.
  let pos = ring.opusRegion(seq) + WS_PREFIX_BYTES + 32;
  for (let k = 0; k < 5; k++) {
    ring.bytes[pos] = 240;
    ring.bytes[pos + 1] = 0;
    pos += 2 + 240;
  }
  const opusStart = ring.opusRegion(seq) + WS_PREFIX_BYTES - 2;
  ring.publish(seq, opusStart, pos - opusStart, 0, 0, 0, frames * FRAME_BYTES);
}

const nowJson = JSON.stringify({
  station: 'default',
  personal: false,
  preset: 'focus',
  key: 'D',
  mode: 'dorian',
  chord: 'Dm7',
  section: 'A',
  position: 123_456_000,
  at: 1_790_000_000_000,
  next: { position: 123_600_000, at: 1_790_000_003_000, kind: 'forecast', chord: null },
});
function measure(codec: HlsCodec): void {
  const seg = new HlsSegmenter({
    codec,
    engine: {
      ring,
      startMonoMs: 0,
      wallOffsetMs: 1_790_000_000_000,
      chunkFrames: CHUNK_FRAMES,
      chunkMs: 100,
    },
    now: () => ({ title: 'Auralis default: focus, D dorian, chord Dm7', json: nowJson }),
    minMsn: 0,
    leaseMs: 3_600_000,
    onExpired: () => {},
  });
  const n = seg.chunksPerSegment;
  // Each run on chunks the other has not seen (the ring is rewritten as it goes).
  const base0 = codec === 'mp3' ? 0 : 10 * SEGMENTS * n;
  let plain = 0n;
  let plainCount = 0;
  let boundary = 0n;
  let boundaryCount = 0;
  for (let seq = base0; seq < base0 + SEGMENTS * n; seq++) {
    publish(seq);
    const t0 = process.hrtime.bigint();
    seg.chunk(seq);
    const dt = process.hrtime.bigint() - t0;
    if (seq < base0 + 10 * n) continue; // warm-up
    if ((seq + 1) % n === 0) {
      boundary += dt;
      boundaryCount++;
    } else {
      plain += dt;
      plainCount++;
    }
  }
  const usPlain = Number(plain) / plainCount / 1000;
  const usBoundary = Number(boundary) / boundaryCount / 1000;
  console.log(`${codec} segmenter: ${n} chunks a segment, ${SEGMENTS} segments`);
  console.log(`  per ordinary chunk (copy + frame count): ${usPlain.toFixed(2)} µs`);
  console.log(
    `  per segment-ending chunk (+ ID3 tag or moof, one Buffer, copy): ${usBoundary.toFixed(2)} µs`,
  );
  console.log(
    `  per segment in all: ${((usPlain * (n - 1) + usBoundary) / 1000).toFixed(3)} ms of main thread per ${n * 100} ms of audio`,
  );

  // Heap allocated by the ordinary chunks of one segment (neither its first, which takes the
  // now-playing title, nor its last): heap used before and after them, minus what the measurement
  // itself allocates (the same two calls with nothing between).
  const base = (codec === 'mp3' ? 10 : 20) * SEGMENTS * n;
  const deltas: number[] = [];
  const empty: number[] = [];
  for (let s = 0; s < 200; s++) {
    const first = base + s * n;
    for (let seq = first; seq < first + n; seq++) publish(seq);
    let h0 = getHeapStatistics().used_heap_size;
    let h1 = getHeapStatistics().used_heap_size;
    empty.push(h1 - h0);
    seg.chunk(first);
    h0 = getHeapStatistics().used_heap_size;
    for (let seq = first + 1; seq < first + n - 1; seq++) seg.chunk(seq);
    h1 = getHeapStatistics().used_heap_size;
    deltas.push(h1 - h0);
    seg.chunk(first + n - 1);
  }
  const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;
  console.log(
    `  heap allocated by ${n - 2} ordinary chunks: median ${median(deltas) - median(empty)} bytes (measurement overhead ${median(empty)} bytes subtracted)`,
  );
  const perSegment = seg.segments.at(-1)!.bytes.length;
  console.log(
    `memory per HLS station and rendition (${codec}): ${KEPT_SEGMENTS} kept segments × ${perSegment} bytes = ${seg.bytesKept} bytes, ` +
      `+ ${seg.workBytes} bytes of segment buffer = ${((seg.bytesKept + seg.workBytes) / 1024).toFixed(0)} KiB ` +
      `(bound: ${KEPT_SEGMENTS} × ${seg.maxSegmentBytes} + ${seg.workBytes} bytes)`,
  );
  seg.close();
}
measure('mp3');
measure('opus');

// First request to a playable playlist, on fresh stations of a real server.
const server = await startServer({ port: 0, logLevel: 'silent' });
try {
  const times: number[] = [];
  const opusTimes: number[] = [];
  for (let i = 0; i < STATIONS; i++) {
    const st = await server.registry.create({ id: `hls-bench-${i}` });
    // The station runs (MP3 off); the request falls at a different point of the 3 s segment grid
    // each time, since the first segment ends at the grid's next line.
    await new Promise((r) => setTimeout(r, 1500 + (((i * 3000) / STATIONS) % 3000)));
    void st;
    const o0 = performance.now();
    const opus = await fetch(`${server.url}/hls/hls-bench-${i}/opus.m3u8`);
    if (opus.status !== 200 || !(await opus.text()).includes('#EXTINF')) throw new Error('no Opus playlist');
    opusTimes.push(performance.now() - o0);
    const t0 = performance.now();
    await (await fetch(`${server.url}/hls/hls-bench-${i}.m3u8`)).text();
    const res = await fetch(`${server.url}/hls/hls-bench-${i}/mp3.m3u8`);
    const text = await res.text();
    const ms = performance.now() - t0;
    if (res.status !== 200 || !text.includes('#EXTINF'))
      throw new Error(`no playlist: ${res.status} ${text}`);
    times.push(ms);
    server.registry.remove(`hls-bench-${i}`);
  }
  console.log(
    `first HLS request to a playable media playlist (${STATIONS} fresh stations, requests spread over the segment grid): ` +
      `MP3 ${times.map((t) => t.toFixed(0)).join(', ')} ms; Opus ${opusTimes.map((t) => t.toFixed(0)).join(', ')} ms`,
  );
} finally {
  await server.close();
}
