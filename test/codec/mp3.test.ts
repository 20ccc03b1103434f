import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import {
  lameHeapBytes,
  maxMp3BytesForFrames,
  mp3FrameLength,
  Mp3ChunkEncoder,
  MP3_FRAME_SAMPLES,
} from '../../src/codec/mp3-encoder.ts';
import { peakFrequency, rms, sinePlusNoise } from './signals.ts';
import { requireTool } from './tools.ts';

const CHUNK = 4800; // 100 ms

/** Encodes `seconds` of a 440 Hz tone (L) / 660 Hz (R) chunk by chunk; returns each chunk's bytes. */
function encodeChunks(seconds: number, bitrate = 128_000): Uint8Array[] {
  const frames = seconds * 48_000;
  const l = sinePlusNoise(frames, 440, 0.5, 0.02, 1);
  const r = sinePlusNoise(frames, 660, 0.25, 0.02, 2);
  const enc = new Mp3ChunkEncoder({ bitrate });
  const max = maxMp3BytesForFrames(CHUNK, bitrate);
  const out = new Uint8Array(max + 14);
  const chunks: Uint8Array[] = [];
  try {
    for (let at = 0; at < frames; at += CHUNK) {
      out.fill(0xee);
      const n = enc.encode(l.subarray(at, at + CHUNK), r.subarray(at, at + CHUNK), CHUNK, out, 7);
      assert.ok(n <= max, `chunk of ${n} bytes over the ring region's ${max}`);
      // Nothing written outside [offset, offset + n).
      assert.ok(out.subarray(0, 7).every((b) => b === 0xee));
      assert.ok(out.subarray(7 + n).every((b) => b === 0xee));
      chunks.push(out.slice(7, 7 + n));
    }
  } finally {
    enc.close();
  }
  return chunks;
}

/** The frame lengths of `b`, which must consist of whole MPEG-1 Layer III frames. */
function frameLengths(b: Uint8Array): number[] {
  const lengths: number[] = [];
  for (let at = 0; at < b.length;) {
    const len = mp3FrameLength(b, at, b.length);
    assert.ok(len > 0, `no frame header at byte ${at} of ${b.length}`);
    assert.ok(at + len <= b.length, `frame at ${at} cut short`);
    lengths.push(len);
    at += len;
  }
  return lengths;
}

function decode(bytes: Uint8Array): { stderr: string; l: Float32Array; r: Float32Array } {
  const dec = spawnSync('ffmpeg', ['-v', 'error', '-f', 'mp3', '-i', 'pipe:0', '-f', 'f32le', '-'], {
    input: bytes,
    maxBuffer: 1 << 27,
  });
  assert.equal(dec.status, 0, String(dec.stderr));
  const x = new Float32Array(dec.stdout.buffer, dec.stdout.byteOffset, dec.stdout.byteLength >> 2);
  const l = new Float32Array(x.length >> 1);
  const r = new Float32Array(x.length >> 1);
  for (let i = 0; i < l.length; i++) {
    l[i] = x[2 * i]!;
    r[i] = x[2 * i + 1]!;
  }
  return { stderr: String(dec.stderr), l, r };
}

test('every chunk is whole 128 kb/s frames starting at a frame sync: 4 or 5 frames a 100 ms chunk, as many frames as samples', () => {
  const chunks = encodeChunks(10);
  let frames = 0;
  for (const [i, c] of chunks.entries()) {
    const lengths = frameLengths(c);
    // 384 bytes a frame at 128 kb/s, 48 kHz (no padding at 48 kHz).
    assert.ok(
      lengths.every((n) => n === 384),
      `chunk ${i}: ${lengths.join(',')}`,
    );
    if (i >= 4)
      assert.ok(lengths.length === 4 || lengths.length === 5, `chunk ${i}: ${lengths.length} frames`);
    frames += lengths.length;
  }
  // The encoder holds back at most its delay + one unfinished frame (a few frames), never more.
  const expected = (10 * 48_000) / MP3_FRAME_SAMPLES;
  assert.ok(frames <= expected && frames >= expected - 4, `${frames} frames for ${expected.toFixed(1)}`);
});

test('other bitrates: whole frames of the right size; an unsupported bitrate is refused', () => {
  for (const bitrate of [64_000, 320_000]) {
    for (const c of encodeChunks(2, bitrate).slice(1)) {
      assert.ok(frameLengths(c).every((n) => n === (144 * bitrate) / 48_000));
    }
  }
  assert.throws(() => new Mp3ChunkEncoder({ bitrate: 100_000 }), /100000 is not one of/);
  const enc = new Mp3ChunkEncoder();
  enc.close();
  const z = new Float32Array(CHUNK);
  assert.throws(() => enc.encode(z, z, CHUNK, new Uint8Array(4096), 0), /closed/);
});

test('ffmpeg decodes the stream without errors, from the start and from any chunk: same tones, same level', (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  const chunks = encodeChunks(4);
  const whole = decode(Buffer.concat(chunks));
  assert.equal(whole.stderr, '');
  assert.ok(Math.abs(whole.l.length - 4 * 48_000) <= 3 * MP3_FRAME_SAMPLES, `${whole.l.length} samples`);
  const mid = 48_000;
  assert.equal(peakFrequency(whole.l, mid, 8192), 440);
  assert.equal(peakFrequency(whole.r, mid, 8192), 660);
  // RMS of a sine of amplitude A is A/√2; 128 kb/s keeps it within 0.5 dB.
  const lDb = 20 * Math.log10(rms(whole.l, mid, mid + 48_000) / (0.5 / Math.SQRT2));
  const rDb = 20 * Math.log10(rms(whole.r, mid, mid + 48_000) / (0.25 / Math.SQRT2));
  assert.ok(
    Math.abs(lDb) < 0.5 && Math.abs(rDb) < 0.5,
    `level off by ${lDb.toFixed(2)} / ${rDb.toFixed(2)} dB`,
  );
  for (const from of [1, 7, 23]) {
    const joined = decode(Buffer.concat(chunks.slice(from)));
    assert.equal(joined.stderr, '', `joined at chunk ${from}`);
    assert.equal(peakFrequency(joined.l, 4800, 8192), 440);
  }
});

test('encoders share one LAME instance without sharing state; closing them returns their memory', () => {
  const alone = encodeChunks(2);
  // Two encoders interleaved chunk by chunk (two stations of one worker) give the same bytes as one alone.
  const frames = 2 * 48_000;
  const l = sinePlusNoise(frames, 440, 0.5, 0.02, 1);
  const r = sinePlusNoise(frames, 660, 0.25, 0.02, 2);
  const other = sinePlusNoise(frames, 1000, 0.7, 0.1, 9);
  const a = new Mp3ChunkEncoder();
  const b = new Mp3ChunkEncoder();
  const out = new Uint8Array(8192);
  try {
    for (let at = 0, i = 0; at < frames; at += CHUNK, i++) {
      b.encode(other.subarray(at, at + CHUNK), other.subarray(at, at + CHUNK), CHUNK, out, 0);
      const n = a.encode(l.subarray(at, at + CHUNK), r.subarray(at, at + CHUNK), CHUNK, out, 0);
      assert.ok(Buffer.from(out.subarray(0, n)).equals(Buffer.from(alone[i]!)), `chunk ${i}`);
    }
  } finally {
    a.close();
    b.close();
  }
  // Station churn: encoders made and closed again and again do not grow the instance's memory.
  const z = new Float32Array(CHUNK);
  const warm = new Mp3ChunkEncoder();
  warm.encode(z, z, CHUNK, out, 0);
  warm.close();
  const heap = lameHeapBytes();
  assert.ok(heap > 0);
  for (let i = 0; i < 100; i++) {
    const e = new Mp3ChunkEncoder();
    e.encode(z, z, CHUNK, out, 0);
    e.close();
    e.close(); // idempotent
  }
  assert.equal(lameHeapBytes(), heap);
});
