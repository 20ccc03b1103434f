// HLS over a real server: ffmpeg plays the master playlist for 30 s, segments are immutable and
// cacheable, titles come from nowPlaying() (ICY and ID3 alike), the lease switches MP3 off again,
// and bad URLs get documented errors.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ICY_METAINT } from '../../src/server/broadcast/icy.ts';
import type { AuralisServer } from '../../src/server/server.ts';
import { requireTool } from '../codec/tools.ts';
import { metricValue } from './bundle.ts';
import { sleep, withServer } from './helpers.ts';
import { parseId3, privTimestamp } from './id3-parse.ts';

type Obj = Record<string, unknown>;

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

/**
 * ffmpeg plays stream `map` of `url` for `seconds` of audio: the PCM (s16le stereo 48 kHz) and its
 * stderr. Given the master playlist, ffmpeg opens every rendition (`0:a:0` MP3, `0:a:1` Opus) and
 * fetches segments for the one mapped.
 */
function play(
  url: string,
  seconds: number,
  map: string,
): Promise<{ pcm: Buffer; stderr: string; code: number | null }> {
  const ff = spawn(
    'ffmpeg',
    [
      ...['-nostdin', '-v', 'error', '-i', url, '-map', map, '-t', String(seconds)],
      ...['-f', 's16le', '-ac', '2', '-ar', '48000', '-'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out: Buffer[] = [];
  let stderr = '';
  ff.stdout.on('data', (d: Buffer) => out.push(d));
  ff.stderr.on('data', (d: Buffer) => (stderr += String(d)));
  const kill = setTimeout(() => ff.kill('SIGKILL'), (seconds + 60) * 1000);
  return new Promise((resolve) =>
    ff.on('close', (code) => {
      clearTimeout(kill);
      resolve({ pcm: Buffer.concat(out), stderr, code });
    }),
  );
}

function rmsDb(pcm: Buffer): number {
  let sum = 0;
  const n = pcm.length >> 1;
  for (let i = 0; i < n; i++) {
    const v = pcm.readInt16LE(i * 2) / 32768;
    sum += v * v;
  }
  return 10 * Math.log10(sum / Math.max(1, n) + 1e-20);
}

/** The first non-empty ICY StreamTitle of the MP3 stream. */
async function icyTitle(server: AuralisServer): Promise<string> {
  const ctrl = new AbortController();
  const res = await fetch(`${server.url}/stream/default.mp3`, {
    headers: { 'Icy-MetaData': '1' },
    signal: ctrl.signal,
  });
  assert.equal(res.headers.get('icy-metaint'), String(ICY_METAINT));
  const reader = res.body!.getReader();
  let buf = Buffer.alloc(0);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      assert.ok(!done, 'the stream goes on');
      buf = Buffer.concat([buf, Buffer.from(value)]);
      if (buf.length > ICY_METAINT) {
        const len = buf[ICY_METAINT]! * 16;
        if (buf.length >= ICY_METAINT + 1 + len) {
          const text = buf.subarray(ICY_METAINT + 1, ICY_METAINT + 1 + len).toString('latin1');
          return /^StreamTitle='([^']*)';/.exec(text)![1]!;
        }
      }
    }
  } finally {
    ctrl.abort();
    await reader.cancel().catch(() => {});
  }
}

async function now(server: AuralisServer): Promise<Obj> {
  return (await (await fetch(`${server.url}/api/stations/default/now`)).json()) as Obj;
}

async function newestSegmentUrl(server: AuralisServer): Promise<string> {
  const text = await (await fetch(`${server.url}/hls/default/mp3.m3u8`)).text();
  return `${server.url}/hls/default/${text.trim().split('\n').at(-1)}`;
}

describe('HLS', () => {
  it('ffmpeg plays 30 s from the master playlist; immutable segments, short-lived playlists, titles from nowPlaying(); the lease ends MP3', async (t) => {
    if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
    await withServer({ hlsLeaseMs: 6000 }, async (server) => {
      let text = await metrics(server);
      assert.equal(metricValue(text, 'auralis_hls_active_stations'), 0);

      const master = await fetch(`${server.url}/hls/default.m3u8`);
      assert.equal(master.status, 200);
      assert.equal(master.headers.get('content-type'), 'application/vnd.apple.mpegurl');
      assert.equal(master.headers.get('access-control-allow-origin'), '*');
      assert.equal(master.headers.get('x-content-type-options'), 'nosniff');
      const masterText = await master.text();
      assert.match(masterText, /^#EXTM3U\n#EXT-X-VERSION:\d+\n#EXT-X-INDEPENDENT-SEGMENTS\n/);
      assert.match(
        masterText,
        /#EXT-X-STREAM-INF:BANDWIDTH=\d+,.*CODECS="mp4a\.40\.34"\ndefault\/mp3\.m3u8\n/,
      );
      assert.match(masterText, /#EXT-X-STREAM-INF:BANDWIDTH=\d+,.*CODECS="opus"\ndefault\/opus\.m3u8\n/);

      // The first media playlist waits for the first segment instead of answering an empty one.
      const media = await fetch(`${server.url}/hls/default/mp3.m3u8`);
      assert.equal(media.status, 200);
      assert.match(String(media.headers.get('cache-control')), /^max-age=[12]$/);
      assert.match(await media.text(), /#EXTINF:[0-9.]+,\n\d+\/\d+\.mp3\n$/);

      const playing = play(`${server.url}/hls/default.m3u8`, 30, '0:a:0');
      const playingOpus = play(`${server.url}/hls/default.m3u8`, 10, '0:a:1');
      await sleep(8000);

      // The Opus rendition: fragmented MP4, an immutable init segment with the Opus header.
      const opusText = await (await fetch(`${server.url}/hls/default/opus.m3u8`)).text();
      const initUri = /#EXT-X-MAP:URI="(\d+\/init\.mp4)"/.exec(opusText)![1]!;
      const init = await fetch(`${server.url}/hls/default/${initUri}`);
      assert.equal(init.headers.get('content-type'), 'audio/mp4');
      assert.match(String(init.headers.get('cache-control')), /immutable/);
      const opusSeg = await fetch(`${server.url}/hls/default/${opusText.trim().split('\n').at(-1)}`);
      assert.equal(opusSeg.headers.get('content-type'), 'audio/mp4');
      const mp4 = Buffer.concat([
        Buffer.from(await init.arrayBuffer()),
        Buffer.from(await opusSeg.arrayBuffer()),
      ]);
      assert.ok(mp4.includes('dOps'), 'the init segment holds the Opus header box');

      // A segment: immutable, the same bytes twice, MP3 48 kHz stereo after its ID3 tag.
      const url = await newestSegmentUrl(server);
      const [a, b] = await Promise.all([fetch(url), fetch(url)]);
      assert.equal(a.status, 200);
      assert.equal(a.headers.get('content-type'), 'audio/mpeg');
      assert.match(String(a.headers.get('cache-control')), /immutable/);
      assert.match(String(a.headers.get('cache-control')), /max-age=\d{6,}/);
      assert.equal(a.headers.get('access-control-allow-origin'), '*');
      const bytesA = Buffer.from(await a.arrayBuffer());
      const bytesB = Buffer.from(await b.arrayBuffer());
      assert.ok(bytesA.equals(bytesB), 'the same URL gives the same bytes');
      const id3 = parseId3(bytesA);
      assert.ok(privTimestamp(id3.frames.get('PRIV')!) >= 0);
      const probe = spawnSync(
        'ffprobe',
        [
          '-v',
          'error',
          '-show_entries',
          'stream=codec_name,sample_rate,channels',
          '-of',
          'json',
          '-i',
          'pipe:0',
        ],
        { input: bytesA, encoding: 'buffer' },
      );
      assert.equal(probe.status, 0, String(probe.stderr));
      const stream = (JSON.parse(String(probe.stdout)) as { streams: Obj[] }).streams[0]!;
      assert.deepEqual(stream, { codec_name: 'mp3', sample_rate: '48000', channels: 2 });

      // Titles: ICY and ID3 both name the chord the JSON route reports (read around them, since
      // the chord may change in between).
      const before = await now(server);
      const icy = await icyTitle(server);
      const after = await now(server);
      assert.match(icy, /^Auralis default: \S+, \S+ \S+, chord \S+$/);
      assert.ok(
        [before.chord, after.chord].some((c) => icy.endsWith(`, chord ${String(c)}`)),
        `ICY title ${icy} names ${String(before.chord)} or ${String(after.chord)}`,
      );
      // A segment's TXXX is nowPlaying() at its first sample: once the route still reports the
      // same position, the chord in TIT2 is the one the route names.
      let matched = false;
      for (let i = 0; i < 30 && !matched; i++) {
        const seg = parseId3(Buffer.from(await (await fetch(await newestSegmentUrl(server))).arrayBuffer()));
        const title = seg.frames.get('TIT2')!.subarray(1).toString('utf8');
        const txxx = seg.frames.get('TXXX')!.subarray(1).toString('utf8').split('\0');
        assert.equal(txxx[0], 'auralis-now');
        const json = JSON.parse(txxx[1]!) as Obj;
        const current = await now(server);
        assert.match(title, /^Auralis default: \S+, \S+ \S+, chord \S+$/);
        assert.ok(title.endsWith(`, chord ${String(json.chord)}`), `${title} names the TXXX chord`);
        if (json.position === current.position) {
          assert.ok(
            title.endsWith(`, chord ${String(current.chord)}`),
            `${title} vs ${String(current.chord)}`,
          );
          assert.equal(json.key, current.key);
          matched = true;
        } else await sleep(300);
      }
      assert.ok(matched, 'a segment began while the chord the route reports was sounding');

      const opusProbe = spawnSync(
        'ffprobe',
        [
          '-v',
          'error',
          '-show_entries',
          'stream=codec_name,sample_rate,channels',
          '-of',
          'json',
          '-i',
          'pipe:0',
        ],
        { input: mp4, encoding: 'buffer' },
      );
      assert.equal(opusProbe.status, 0, String(opusProbe.stderr));
      assert.deepEqual((JSON.parse(String(opusProbe.stdout)) as { streams: Obj[] }).streams[0], {
        codec_name: 'opus',
        sample_rate: '48000',
        channels: 2,
      });
      const opus = await playingOpus;
      assert.equal(opus.code, 0, opus.stderr);
      assert.equal(opus.stderr, '', 'ffmpeg reports no error for Opus');
      const opusSeconds = opus.pcm.length / 4 / 48_000;
      // 10 s less the decoder's pre-skip (312 samples).
      assert.ok(opusSeconds >= 9.9, `${opusSeconds.toFixed(3)} s of Opus`);
      assert.ok(rmsDb(opus.pcm) > -50, 'Opus: not silent');

      const { pcm, stderr, code } = await playing;
      assert.equal(code, 0, stderr);
      // ffmpeg stamps packed audio with a segment's ID3 timestamp when its reader reaches the tag,
      // while the frame parser may still hold the previous segment's last frames: at some segment
      // boundaries its muxer then sees a repeated DTS (and says so at error level). The audio is
      // complete (checked below); any other line is a real error.
      const errors = stderr
        .split('\n')
        .filter((l) => l !== '' && !/non monotonically increasing dts to muxer/.test(l));
      assert.deepEqual(errors, [], 'ffmpeg reports no error');
      const seconds = pcm.length / 4 / 48_000;
      assert.ok(seconds >= 29, `${seconds.toFixed(2)} s of audio`);
      const db = rmsDb(pcm);
      assert.ok(db > -50, `not silent: RMS ${db.toFixed(1)} dBFS`);

      text = await metrics(server);
      assert.equal(metricValue(text, 'auralis_hls_active_stations'), 1);
      assert.ok(metricValue(text, 'auralis_hls_segments_total') >= 10);
      assert.ok(metricValue(text, 'auralis_hls_requests_total{kind="master"}') >= 2);
      assert.ok(metricValue(text, 'auralis_hls_requests_total{kind="media"}') >= 5);
      assert.ok(metricValue(text, 'auralis_hls_requests_total{kind="segment"}') >= 10);
      assert.equal(metricValue(text, 'auralis_mp3_encoding_stations'), 1);

      // No request for the lease (6 s): the segmenter goes, and MP3 encoding with it.
      await until('the HLS lease to end', 20_000, async () => {
        text = await metrics(server);
        return (
          metricValue(text, 'auralis_hls_active_stations') === 0 &&
          metricValue(text, 'auralis_mp3_encoding_stations') === 0
        );
      });
      assert.equal(server.registry.get('default')!.mp3Listeners, 0);
    });
  });

  it('errors: unknown station, unknown rendition, a segment outside the window, a personal session', async () => {
    await withServer({}, async (server) => {
      const body = async (path: string): Promise<[number, Obj]> => {
        const r = await fetch(`${server.url}${path}`);
        return [r.status, ((await r.json()) as { error: Obj }).error];
      };
      let [status, error] = await body('/hls/nope.m3u8');
      assert.deepEqual([status, error.code, error.field], [404, 'UNKNOWN_STATION', 'id']);
      [status, error] = await body('/hls/nope/mp3.m3u8');
      assert.deepEqual([status, error.code], [404, 'UNKNOWN_STATION']);
      [status, error] = await body('/hls/default.mp4');
      assert.deepEqual([status, error.code], [404, 'NOT_FOUND']);
      [status, error] = await body('/hls/default/aac.m3u8');
      assert.deepEqual([status, error.code], [404, 'NOT_FOUND']);
      assert.match(String(error.message), /mp3\.m3u8 and opus\.m3u8/);
      // A real segment URL, then ones outside the window or of another timeline.
      const playlist = await (await fetch(`${server.url}/hls/default/mp3.m3u8`)).text();
      const uri = playlist.trim().split('\n').at(-1)!;
      const [epoch, file] = uri.split('/');
      assert.equal((await fetch(`${server.url}/hls/default/${uri}`)).status, 200);
      const bad = [`${epoch}/999999999.mp3`, `${Number(epoch) - 1}/${file}`, `${epoch}/x.mp3`];
      bad.push(`${Number(epoch) + 1}/init.mp4`, `${epoch}/${file!.replace('.mp3', '.m4s')}x`);
      for (const b of bad) {
        [status, error] = await body(`/hls/default/${b}`);
        assert.deepEqual([status, error.code], [404, 'NOT_FOUND'], b);
      }
      const personal = await server.registry.create({ personal: true });
      [status, error] = await body(`/hls/${personal.id}.m3u8`);
      assert.deepEqual([status, error.code], [403, 'FORBIDDEN']);
      assert.ok(!String(error.message).includes(personal.id), 'the message does not repeat the id');
      assert.equal(personal.mp3Listeners, 0, 'nothing started for it');
    });
  });
});
