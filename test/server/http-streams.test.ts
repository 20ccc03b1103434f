import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseOggPages } from '../../src/codec/ogg.ts';
import { OpusPacketDecoder } from '../../src/codec/opus-decoder.ts';
import { parseWav } from '../../src/codec/wav.ts';
import { withServer } from './helpers.ts';

/** Reads an endless HTTP stream for `ms`, returning the bytes and when the first body byte came. */
async function record(
  url: string,
  ms: number,
): Promise<{ bytes: Buffer; firstByteMs: number; status: number; type: string | null }> {
  const started = Date.now();
  const ctrl = new AbortController();
  const res = await fetch(url, { signal: ctrl.signal });
  const parts: Buffer[] = [];
  let firstByteMs = -1;
  const reader = res.body!.getReader();
  const stop = setTimeout(() => ctrl.abort(), ms);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (firstByteMs < 0) firstByteMs = Date.now() - started;
      parts.push(Buffer.from(value));
    }
  } catch {
    // aborted: the recording is complete
  } finally {
    clearTimeout(stop);
  }
  return {
    bytes: Buffer.concat(parts),
    firstByteMs,
    status: res.status,
    type: res.headers.get('content-type'),
  };
}

function hasFfprobe(): boolean {
  return spawnSync('ffprobe', ['-version']).status === 0;
}

describe('HTTP streams', () => {
  it('serves valid Ogg/Opus: CRCs, OpusHead/OpusTags, granules, live pages, decodable audio', async () => {
    // Never idle: the station renders from the start, so there is already-due audio to burst (an
    // idle station has none: a listener who wakes it gets live chunks from the one due now).
    await withServer({ idleAfterMs: 0 }, async (server) => {
      await new Promise((r) => setTimeout(r, 1200)); // let the station build up audio to burst
      const rec = await record(`${server.url}/stream/default.ogg`, 1500);
      assert.equal(rec.status, 200);
      assert.equal(rec.type, 'audio/ogg');
      assert.ok(rec.firstByteMs < 300, `first bytes after ${rec.firstByteMs} ms`);
      const pages = parseOggPages(rec.bytes.subarray(0, lastWholePage(rec.bytes))); // verifies capture pattern and CRC of every page
      assert.ok(pages.length >= 15, `${pages.length} pages`);
      assert.equal(pages[0]!.flags & 0x02, 0x02, 'first page is BOS');
      const head = Buffer.from(pages[0]!.packets[0]!);
      assert.equal(head.subarray(0, 8).toString(), 'OpusHead');
      assert.equal(head[9], 2, 'channels');
      assert.equal(head.readUInt32LE(12), 48000);
      const preSkip = head.readUInt16LE(10);
      assert.equal(Buffer.from(pages[1]!.packets[0]!).subarray(0, 8).toString(), 'OpusTags');
      const audio = pages.slice(2);
      const serial = pages[0]!.serial;
      for (let i = 0; i < audio.length; i++) {
        const p = audio[i]!;
        assert.equal(p.serial, serial);
        assert.equal(p.packets.length, 5, 'five 20 ms packets a 100 ms page');
        assert.equal((p.granule - preSkip) % 4800, 0, 'granule = end position + pre-skip');
        if (i > 0) {
          assert.equal(p.granule - audio[i - 1]!.granule, 4800, 'granules advance a chunk a page');
          assert.equal(p.sequence, audio[i - 1]!.sequence + 1, 'page sequence +1');
        }
      }
      assert.ok(audio.length >= 8 + 10, 'a burst of already-due audio, then live pages');
      const dec = new OpusPacketDecoder();
      let sum = 0;
      let n = 0;
      for (const p of audio.slice(5)) {
        for (const pkt of p.packets) {
          const pcm = dec.decodePacket(pkt);
          for (const s of pcm) {
            sum += (s / 32768) ** 2;
            n++;
          }
        }
      }
      assert.ok(Math.sqrt(sum / n) > 0.003, 'decoded audio is not silent');

      if (hasFfprobe() || process.env.CI) {
        const dir = mkdtempSync(join(tmpdir(), 'auralis-ogg-'));
        const file = join(dir, 'live.ogg');
        writeFileSync(file, rec.bytes.subarray(0, lastWholePage(rec.bytes)));
        const probe = spawnSync(
          'ffprobe',
          ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate,channels', '-of', 'json', file],
          { encoding: 'utf8' },
        );
        assert.equal(probe.status, 0, probe.stderr);
        const stream = (JSON.parse(probe.stdout) as { streams: Record<string, unknown>[] }).streams[0]!;
        assert.equal(stream.codec_name, 'opus');
        assert.equal(stream.channels, 2);
        const decode = spawnSync(
          'ffmpeg',
          ['-v', 'error', '-i', file, '-f', 's16le', '-ac', '2', '-ar', '48000', '-'],
          { maxBuffer: 64 << 20 },
        );
        assert.equal(decode.status, 0, decode.stderr?.toString());
        const seconds = decode.stdout.length / 4 / 48000;
        assert.ok(seconds > 1.5, `ffmpeg decoded ${seconds} s`);
      }
    });
  });

  it('serves an endless WAV stream of continuous PCM', async () => {
    await withServer({}, async (server) => {
      const rec = await record(`${server.url}/stream/default.wav`, 1200);
      assert.equal(rec.status, 200);
      assert.equal(rec.type, 'audio/wav');
      const wav = parseWav(rec.bytes);
      assert.equal(wav.streaming, true);
      assert.equal(wav.sampleRate, 48000);
      assert.equal(wav.channels, 2);
      assert.equal(wav.bitsPerSample, 16);
      assert.ok(wav.frames >= 48000, `${wav.frames} frames in 1.2 s`);
      let sum = 0;
      const view = Buffer.from(wav.data.buffer, wav.data.byteOffset, wav.data.byteLength);
      for (let i = 0; i + 1 < view.length; i += 2) sum += (view.readInt16LE(i) / 32768) ** 2;
      assert.ok(Math.sqrt(sum / (view.length / 2)) > 0.003, 'not silent');
      if (hasFfprobe() || process.env.CI) {
        const dir = mkdtempSync(join(tmpdir(), 'auralis-wav-'));
        const file = join(dir, 'live.wav');
        writeFileSync(file, rec.bytes);
        const probe = spawnSync(
          'ffprobe',
          ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate,channels', '-of', 'json', file],
          { encoding: 'utf8' },
        );
        assert.equal(probe.status, 0, probe.stderr);
        assert.equal(
          (JSON.parse(probe.stdout) as { streams: Record<string, unknown>[] }).streams[0]!.codec_name,
          'pcm_s16le',
        );
      }
    });
  });
});

/** Length of the prefix of `bytes` that holds whole Ogg pages (a recording stops mid-page). */
function lastWholePage(bytes: Buffer): number {
  let pos = 0;
  while (pos + 27 <= bytes.length) {
    const segs = bytes[pos + 26]!;
    if (pos + 27 + segs > bytes.length) break;
    let body = 0;
    for (let i = 0; i < segs; i++) body += bytes[pos + 27 + i]!;
    if (pos + 27 + segs + body > bytes.length) break;
    pos += 27 + segs + body;
  }
  return pos;
}
