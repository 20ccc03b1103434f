import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodePcm16 } from '../../src/codec/pcm16.ts';
import {
  parseWav,
  RF64_HEADER_BYTES,
  streamingWavHeader,
  wavFileHeader,
  wavHeader,
  WAV_HEADER_BYTES,
  WAV_MAX_DATA_BYTES,
} from '../../src/codec/wav.ts';
import { requireTool } from './tools.ts';

test('a sized header has the canonical 44-byte layout for 48 kHz stereo s16', () => {
  const h = wavHeader(48_000 * 4);
  assert.equal(h.length, WAV_HEADER_BYTES);
  const b = Buffer.from(h);
  assert.equal(b.toString('latin1', 0, 4), 'RIFF');
  assert.equal(b.readUInt32LE(4), 36 + 192_000);
  assert.equal(b.toString('latin1', 8, 16), 'WAVEfmt ');
  assert.equal(b.readUInt32LE(16), 16);
  assert.equal(b.readUInt16LE(20), 1);
  assert.equal(b.readUInt16LE(22), 2);
  assert.equal(b.readUInt32LE(24), 48_000);
  assert.equal(b.readUInt32LE(28), 192_000);
  assert.equal(b.readUInt16LE(32), 4);
  assert.equal(b.readUInt16LE(34), 16);
  assert.equal(b.toString('latin1', 36, 40), 'data');
  assert.equal(b.readUInt32LE(40), 192_000);
});

test('parses its own files and streams, with the samples where the header says', () => {
  const frames = 480;
  const l = new Float32Array(frames).fill(0.25);
  const r = new Float32Array(frames).fill(-0.5);
  const file = new Uint8Array(WAV_HEADER_BYTES + frames * 4);
  file.set(wavHeader(frames * 4));
  encodePcm16(l, r, frames, file, WAV_HEADER_BYTES);
  const p = parseWav(file);
  assert.equal(p.sampleRate, 48_000);
  assert.equal(p.channels, 2);
  assert.equal(p.bitsPerSample, 16);
  assert.equal(p.frames, frames);
  assert.equal(p.streaming, false);
  assert.equal(Buffer.from(p.data).readInt16LE(0), 8192);
  assert.equal(Buffer.from(p.data).readInt16LE(2), -16384);

  const stream = new Uint8Array(WAV_HEADER_BYTES + 100 * 4);
  stream.set(streamingWavHeader());
  const s = parseWav(stream);
  assert.equal(s.streaming, true);
  assert.equal(s.declaredDataBytes, 0xffffffff);
  assert.equal(Buffer.from(stream).readUInt32LE(4), 0xffffffff);
  assert.equal(s.frames, 100);
  assert.throws(() => parseWav(new Uint8Array(44)), /RIFF/);
});

test('ffprobe/ffmpeg read the streaming header followed by PCM as 48 kHz stereo s16', (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  const dir = mkdtempSync(join(tmpdir(), 'auralis-wav-'));
  try {
    const frames = 48_000;
    const l = new Float32Array(frames);
    for (let i = 0; i < frames; i++) l[i] = 0.5 * Math.sin((2 * Math.PI * 440 * i) / 48_000);
    const bytes = new Uint8Array(WAV_HEADER_BYTES + frames * 4);
    bytes.set(streamingWavHeader());
    encodePcm16(l, l, frames, bytes, WAV_HEADER_BYTES);
    const path = join(dir, 'stream.wav');
    writeFileSync(path, bytes);
    const probe = spawnSync(
      'ffprobe',
      ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate,channels', '-of', 'json', path],
      { encoding: 'utf8' },
    );
    assert.equal(probe.status, 0, probe.stderr);
    const st = JSON.parse(probe.stdout).streams[0];
    assert.deepEqual([st.codec_name, st.sample_rate, st.channels], ['pcm_s16le', '48000', 2]);
    const dec = spawnSync('ffmpeg', ['-v', 'error', '-i', path, '-f', 's16le', '-'], { maxBuffer: 1 << 26 });
    assert.equal(dec.status, 0, String(dec.stderr));
    assert.equal(dec.stdout.length, frames * 4);
    assert.ok(Buffer.from(bytes.subarray(WAV_HEADER_BYTES)).equals(dec.stdout));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('files over 4 GiB get an RF64 header with 64-bit sizes in ds64; smaller ones the canonical header', () => {
  assert.equal(wavFileHeader(WAV_MAX_DATA_BYTES).length, WAV_HEADER_BYTES);
  const big = 24 * 3600 * 48_000 * 4; // 24 h: 16.6 GB
  const h = wavFileHeader(big);
  assert.equal(h.length, RF64_HEADER_BYTES);
  const b = Buffer.from(h);
  assert.equal(b.toString('latin1', 0, 4), 'RF64');
  assert.equal(b.readUInt32LE(4), 0xffffffff);
  assert.equal(b.toString('latin1', 12, 16), 'ds64');
  assert.equal(Number(b.readBigUInt64LE(20)), big + 72);
  assert.equal(Number(b.readBigUInt64LE(28)), big);
  assert.equal(Number(b.readBigUInt64LE(36)), big / 4);
  assert.equal(b.readUInt32LE(76), 0xffffffff);
  const p = parseWav(new Uint8Array([...h, 1, 0, 2, 0]));
  assert.deepEqual(
    [p.rf64, p.declaredDataBytes, p.dataOffset, p.frames, p.sampleRate],
    [true, big, 80, 1, 48_000],
  );
});

test('ffprobe reads an RF64 header as 48 kHz stereo s16 with the ds64 duration', (t) => {
  if (!requireTool(t, 'ffprobe')) return;
  const dir = mkdtempSync(join(tmpdir(), 'auralis-rf64-'));
  try {
    // Header for 7 h of audio followed by 1 s of it: ffprobe reports the declared duration.
    const path = join(dir, 'big.wav');
    writeFileSync(path, Buffer.concat([wavFileHeader(7 * 3600 * 192_000), Buffer.alloc(192_000)]));
    const probe = spawnSync(
      'ffprobe',
      [
        '-v',
        'error',
        '-show_entries',
        'stream=codec_name,sample_rate,channels:format=format_name,duration',
        '-of',
        'json',
        path,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(probe.status, 0, probe.stderr);
    const j = JSON.parse(probe.stdout);
    assert.deepEqual(
      [j.streams[0].codec_name, j.streams[0].sample_rate, j.streams[0].channels],
      ['pcm_s16le', '48000', 2],
    );
    assert.ok(Math.abs(Number(j.format.duration) - 7 * 3600) < 1, j.format.duration);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
