import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mp3FrameLength } from '../../src/codec/mp3-encoder.ts';
import { ICY_METAINT } from '../../src/server/broadcast/icy.ts';
import type { AuralisServer } from '../../src/server/server.ts';
import { decodeMp3 as decode, probeAudio as probe } from '../codec/mp3-tools.ts';
import { requireTool } from '../codec/tools.ts';
import { metricValue } from './bundle.ts';
import { connect, json, sleep, withServer } from './helpers.ts';

const MODES = 'ionian|dorian|phrygian|lydian|mixolydian|aeolian';

interface Recording {
  status: number;
  headers: Headers;
  bytes: Buffer;
}

/** Reads `/stream/<file>` for `ms` (with `headers`), returning everything that arrived. */
async function record(url: string, ms: number, headers: Record<string, string> = {}): Promise<Recording> {
  const ctrl = new AbortController();
  const res = await fetch(url, { headers, signal: ctrl.signal });
  const parts: Buffer[] = [];
  const stop = setTimeout(() => ctrl.abort(), ms);
  try {
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(Buffer.from(value));
    }
  } catch {
    // aborted: the recording is complete
  } finally {
    clearTimeout(stop);
  }
  return { status: res.status, headers: res.headers, bytes: Buffer.concat(parts) };
}

/** Whole MPEG-1 Layer III frames from the first byte on: the frame count (a cut last frame is ignored). */
function countFrames(b: Buffer): number {
  let frames = 0;
  for (let at = 0; at < b.length;) {
    const len = mp3FrameLength(b, at, b.length);
    if (len === 0 && b.length - at < 4) break;
    assert.ok(len > 0, `no MP3 frame header at byte ${at} of ${b.length}`);
    if (at + len > b.length) break;
    frames++;
    at += len;
  }
  return frames;
}

/**
 * Splits an ICY stream into its audio and its metadata blocks: after every `metaint` audio bytes
 * exactly, a length byte L and L × 16 bytes of metadata. A block cut off by the end of the
 * recording is dropped.
 */
function stripIcy(b: Buffer, metaint: number): { audio: Buffer; blocks: Buffer[] } {
  const audio: Buffer[] = [];
  const blocks: Buffer[] = [];
  let at = 0;
  while (at < b.length) {
    audio.push(b.subarray(at, Math.min(b.length, at + metaint)));
    at += metaint;
    if (at >= b.length) break;
    const len = b[at]! * 16;
    if (at + 1 + len > b.length) break;
    blocks.push(b.subarray(at, at + 1 + len));
    at += 1 + len;
  }
  return { audio: Buffer.concat(audio), blocks };
}

/** The StreamTitle of a non-empty metadata block, after checking the block's format. */
function titleOf(block: Buffer): string {
  assert.equal(block.length, 1 + block[0]! * 16, 'length byte counts 16-byte blocks');
  const text = block.subarray(1).toString('latin1');
  const m = /^StreamTitle='([^']*)';(\0*)$/.exec(text);
  assert.ok(m, `metadata block ${JSON.stringify(text)}`);
  // Padded with zeros to the next 16 bytes, no further.
  assert.ok(m[2]!.length < 16, `${m[2]!.length} padding bytes`);
  return m[1]!;
}

async function metrics(server: AuralisServer): Promise<string> {
  return (await fetch(`${server.url}/metrics`)).text();
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('GET /stream/<station>.mp3', () => {
  it('25 s of plain MP3 (48 kHz stereo, frames from the first byte, no metadata) and an ICY stream beside it', async (t) => {
    if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
    await withServer({}, async (server) => {
      await sleep(1000);
      // Every `now` the station announces while we listen: the chords a title may name.
      const ws = await connect(server);
      try {
        const station = (await json(server, 'GET', '/api/stations/default')).body as {
          params: { key: string; mode: string; preset: string | null };
          now: { chord: string } | null;
        };
        const chords = new Set<string>();
        if (station.now) chords.add(station.now.chord);
        const [plain, icy] = await Promise.all([
          record(`${server.url}/stream/default.mp3`, 25_000),
          record(`${server.url}/stream/default.mp3`, 20_000, { 'Icy-MetaData': '1' }),
        ]);
        for (const m of ws.texts) if (m.type === 'now') chords.add(String(m.chord));

        // Plain: no ICY metadata header, and every byte belongs to a frame (no block interleaved).
        assert.equal(plain.status, 200);
        assert.equal(plain.headers.get('content-type'), 'audio/mpeg');
        assert.equal(plain.headers.get('icy-metaint'), null);
        assert.equal(plain.headers.get('icy-br'), '128');
        const frames = countFrames(plain.bytes);
        assert.ok(frames * 384 >= plain.bytes.length - 384, 'the stream is MP3 frames only');
        assert.deepEqual(probe(plain.bytes), { codec: 'mp3', rate: '48000', channels: 2, format: 'mp3' });
        const dec = decode(plain.bytes);
        assert.equal(dec.stderr, '', 'ffmpeg decodes it without an error');
        // 25 s of wall time are about 25 s of audio (the first ~0.6 s were rendered before the
        // encoder started; a loaded machine delays the reading, never the stream's pace).
        assert.ok(dec.seconds > 20 && dec.seconds < 27, `${dec.seconds.toFixed(1)} s decoded`);
        assert.ok(dec.rmsDb > -50, `not silent: RMS ${dec.rmsDb.toFixed(1)} dBFS`);

        // ICY: a block after exactly every icy-metaint audio bytes; the audio between them decodes.
        assert.equal(icy.headers.get('icy-metaint'), String(ICY_METAINT));
        const { audio, blocks } = stripIcy(icy.bytes, ICY_METAINT);
        assert.ok(blocks.length >= 15, `${blocks.length} metadata blocks in 20 s at 16 kB/s`);
        countFrames(audio); // throws if a metadata byte were left in (or audio taken out)
        const titles = blocks.filter((b) => b[0] !== 0).map(titleOf);
        assert.ok(titles.length >= 1, 'the first block carries the title');
        assert.ok(blocks[0]![0]! > 0, 'the first block is never "unchanged"');
        const want = new RegExp(
          `^Auralis default: ${station.params.preset ?? 'custom'}, ${station.params.key} ${station.params.mode}, chord (\\S+)$`,
        );
        assert.match(station.params.mode, new RegExp(`^(${MODES})$`));
        for (const title of titles) {
          const m = want.exec(title);
          assert.ok(m, `title ${JSON.stringify(title)}`);
          assert.ok(
            chords.has(m[1]!),
            `chord ${m[1]} is one the station announced (${[...chords].join(' ')})`,
          );
        }
        const icyDec = decode(audio);
        assert.equal(icyDec.stderr, '');
        assert.ok(icyDec.seconds > 15, `${icyDec.seconds.toFixed(1)} s decoded`);
      } finally {
        ws.close();
      }
    });
  });

  it('encodes MP3 only while someone listens to it; HEAD answers the headers and starts nothing', async () => {
    // The station renders Opus without any listener here (never idle), so MP3 alone goes on and off.
    await withServer({ idleAfterMs: 0 }, async (server) => {
      // The workers' stats have arrived (Opus is encoded and reported) and show no MP3 encoding.
      await until('Opus encode timings', 10_000, async () =>
        metricValue(await metrics(server), 'auralis_encode_seconds_count{codec="opus"}') > 0 ? true : false,
      );
      await sleep(1500);
      let text = await metrics(server);
      assert.equal(metricValue(text, 'auralis_mp3_encoding_stations'), 0);
      assert.equal(metricValue(text, 'auralis_encode_seconds_count{codec="mp3"}'), 0);

      const head = await fetch(`${server.url}/stream/default.mp3`, {
        method: 'HEAD',
        headers: { 'Icy-MetaData': '1' },
      });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-type'), 'audio/mpeg');
      assert.equal(head.headers.get('icy-metaint'), String(ICY_METAINT));
      assert.equal((await head.arrayBuffer()).byteLength, 0);

      // Two listeners: one encoder (the station's), on while either listens.
      const ctrl = new AbortController();
      const res1 = await fetch(`${server.url}/stream/default.mp3`, { signal: ctrl.signal });
      const res2 = await fetch(`${server.url}/stream/default.mp3`, { signal: ctrl.signal });
      const reader = res1.body!.getReader();
      const first = await reader.read();
      assert.ok(!first.done);
      await until('MP3 encoding on', 10_000, async () => {
        text = await metrics(server);
        return metricValue(text, 'auralis_mp3_encoding_stations') === 1;
      });
      await until('MP3 encode timings', 10_000, async () =>
        metricValue(await metrics(server), 'auralis_encode_seconds_count{codec="mp3"}') > 0 ? true : false,
      );
      assert.equal(metricValue(await metrics(server), 'auralis_listeners{transport="mp3"}'), 2);
      void res2;
      ctrl.abort();
      await reader.cancel().catch(() => {});
      await until('MP3 encoding off', 10_000, async () => {
        text = await metrics(server);
        return metricValue(text, 'auralis_mp3_encoding_stations') === 0;
      });
      assert.equal(metricValue(text, 'auralis_listeners{transport="mp3"}'), 0);
      // Off means off: no MP3 chunk is encoded any more (a stats report comes every second).
      const before = metricValue(text, 'auralis_encode_seconds_count{codec="mp3"}');
      const opusBefore = metricValue(text, 'auralis_encode_seconds_count{codec="opus"}');
      await sleep(2500);
      text = await metrics(server);
      assert.ok(
        metricValue(text, 'auralis_encode_seconds_count{codec="opus"}') > opusBefore,
        'stats still come',
      );
      assert.equal(metricValue(text, 'auralis_encode_seconds_count{codec="mp3"}'), before);
    });
  });

  it('a restarted engine worker encodes MP3 again for a station that has MP3 listeners', async () => {
    await withServer({}, async (server) => {
      const ctrl = new AbortController();
      const res = await fetch(`${server.url}/stream/default.mp3`, { signal: ctrl.signal });
      const parts: { atMs: number; bytes: Buffer }[] = [];
      const reading = (async () => {
        try {
          const reader = res.body!.getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            parts.push({ atMs: Date.now(), bytes: Buffer.from(value) });
          }
        } catch {
          // aborted
        }
      })();
      try {
        await until('MP3 encoding on', 10_000, async () =>
          metricValue(await metrics(server), 'auralis_mp3_encoding_stations') === 1 ? true : false,
        );
        server.engine.crashWorker('default');
        await until('the worker restart', 10_000, async () => server.engine.restarts === 1);
        const restartedMs = Date.now();
        await sleep(3000);
        // The new worker was told with the station: it encodes MP3 and says so.
        await until('MP3 encoding on after the restart', 10_000, async () =>
          metricValue(await metrics(server), 'auralis_mp3_encoding_stations') === 1 ? true : false,
        );
        const after = parts
          .filter((p) => p.atMs > restartedMs + 1000)
          .reduce((n, p) => n + p.bytes.length, 0);
        // About 2 s at 16 kB/s arrived after the restart settled (allowing for a loaded machine).
        assert.ok(after > 16_000, `${after} MP3 bytes in the 2 s after the restart`);
        // Whole frames across the restart too: the new encoder's first chunk starts at a frame.
        assert.ok(countFrames(Buffer.concat(parts.map((p) => p.bytes))) > 100);
      } finally {
        ctrl.abort();
        await reading;
      }
    });
  });

  it('an unknown station is 404 UNKNOWN_STATION; another extension is 404 NOT_FOUND', async () => {
    await withServer({}, async (server) => {
      const res = await fetch(`${server.url}/stream/nope.mp3`);
      assert.equal(res.status, 404);
      const body = (await res.json()) as { error: { code: string; field?: string; message: string } };
      assert.equal(body.error.code, 'UNKNOWN_STATION');
      assert.match(body.error.message, /"nope"/);
      const other = await fetch(`${server.url}/stream/default.mp4`);
      assert.equal(other.status, 404);
      const b2 = (await other.json()) as { error: { code: string; message: string } };
      assert.equal(b2.error.code, 'NOT_FOUND');
      assert.match(b2.error.message, /\.mp3/);
      const head = await fetch(`${server.url}/stream/nope.mp3`, { method: 'HEAD' });
      assert.equal(head.status, 404);
    });
  });
});
