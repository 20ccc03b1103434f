import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** What ffprobe says of an audio file given as bytes: codec, sample rate, channels, container. */
export function probeAudio(bytes: Buffer): { codec: string; rate: string; channels: number; format: string } {
  const p = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-show_entries',
      'stream=codec_name,sample_rate,channels:format=format_name',
      '-of',
      'json',
      '-i',
      'pipe:0',
    ],
    { input: bytes, encoding: 'buffer', maxBuffer: 1 << 26 },
  );
  assert.equal(p.status, 0, String(p.stderr));
  const j = JSON.parse(String(p.stdout)) as {
    streams: { codec_name: string; sample_rate: string; channels: number }[];
    format: { format_name: string };
  };
  const s = j.streams[0]!;
  return { codec: s.codec_name, rate: s.sample_rate, channels: s.channels, format: j.format.format_name };
}

/** Decodes MP3 bytes with ffmpeg (`-v error`): its stderr, seconds of audio and RMS in dBFS. */
export function decodeMp3(bytes: Buffer): { stderr: string; seconds: number; rmsDb: number } {
  const d = spawnSync(
    'ffmpeg',
    ['-v', 'error', '-f', 'mp3', '-i', 'pipe:0', '-f', 's16le', '-ac', '2', '-'],
    {
      input: bytes,
      maxBuffer: 1 << 28,
    },
  );
  assert.equal(d.status, 0, String(d.stderr));
  const pcm = d.stdout;
  let sum = 0;
  const n = pcm.length >> 1;
  for (let i = 0; i < n; i++) {
    const v = pcm.readInt16LE(i * 2) / 32768;
    sum += v * v;
  }
  return {
    stderr: String(d.stderr),
    seconds: pcm.length / 4 / 48_000,
    rmsDb: 10 * Math.log10(sum / Math.max(1, n) + 1e-20),
  };
}
