import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FLAG_DISCONTINUITY, tierOfFlags } from '../../src/codec/frame-header.ts';
import { parseOggPages } from '../../src/codec/ogg.ts';
import { OpusPacketDecoder } from '../../src/codec/opus-decoder.ts';
import { splitOpusPackets } from '../../src/codec/opus-wire.ts';
import { detectClicks } from '../../src/dsp/analysis/clicks.ts';
import { startServer, type AuralisServer } from '../../src/server/server.ts';
import { connect, sleep, type Client } from './helpers.ts';

const TIERS = [24, 48, 96, 128];
const CHUNK_FRAMES = 4800;

/** The messages and chunks of a connection in arrival order (texts as objects, chunks as their seq). */
function arrivals(c: Client): (Record<string, unknown> | number)[] {
  const log: (Record<string, unknown> | number)[] = [];
  c.ws.on('message', (data: Buffer, isBinary) => {
    log.push(isBinary ? data.readUInt32LE(8) : (JSON.parse(data.toString()) as Record<string, unknown>));
  });
  return log;
}

async function metricValue(server: AuralisServer, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? NaN : Number(line.split(' ').pop());
}

async function waitMetric(server: AuralisServer, name: string, labels: string, want: number): Promise<void> {
  const until = Date.now() + 8000;
  let v = NaN;
  while (Date.now() < until) {
    v = await metricValue(server, name, labels);
    if (v === want) return;
    await sleep(200);
  }
  assert.fail(`${name}{${labels}} is ${v}, expected ${want}`);
}

/** Reads an endless HTTP stream for `ms`. */
async function record(url: string, ms: number): Promise<Buffer> {
  const ctrl = new AbortController();
  const res = await fetch(url, { signal: ctrl.signal });
  assert.equal(res.status, 200);
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
  return Buffer.concat(parts);
}

describe('Opus bitrate tiers over a real server', () => {
  let server: AuralisServer;
  before(async () => {
    server = await startServer({ host: '127.0.0.1', port: 0, workers: 1 });
    await sleep(600);
  });
  after(async () => {
    await server.close();
  });

  it('a WebSocket listener at bitrate=24 gets tier 0 chunks of about 24 kb/s, then the tier stops when it leaves', async () => {
    assert.equal(await metricValue(server, 'auralis_opus_tier_stations', 'kbps="24"'), 0);
    const c = await connect(server, 'bitrate=24');
    const log = arrivals(c);
    try {
      const welcome = await c.next('welcome');
      assert.deepEqual(welcome.tiers, TIERS);
      // Nobody listened at 24 kb/s: it starts on the default tier and is switched once 24 is warm.
      assert.equal(welcome.bitrate, 96);
      const answer = await c.next('bitrate');
      assert.equal(answer.kbps, 24);
      const fromSeq = answer.fromSeq as number;
      const chunks = await c.waitChunks(30);
      const seqs = chunks.map((k) => k.header.sequence);
      for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1, 'no gap');
      assert.equal(nextChunkAfter(log, answer), fromSeq, 'the answer comes right before chunk fromSeq');
      let bytes = 0;
      let n = 0;
      for (const k of chunks) {
        const tier = tierOfFlags(k.header.flags);
        assert.equal(tier, k.header.sequence >= fromSeq ? 0 : 2, `seq ${k.header.sequence}`);
        assert.equal(k.header.flags & FLAG_DISCONTINUITY, 0);
        if (k.header.sequence >= fromSeq) {
          assert.equal(splitOpusPackets(k.payload).length, 5);
          bytes += k.payload.length;
          n++;
        }
      }
      assert.ok(n >= 10, `${n} chunks at 24 kb/s`);
      // Packets plus their 2-byte length prefixes: 24 kb/s is 300 bytes a chunk (+10), VBR varies.
      const kbps = (bytes * 8) / (n * 0.1) / 1000;
      assert.ok(kbps > 16 && kbps < 34, `${kbps.toFixed(1)} kb/s`);
      await waitMetric(server, 'auralis_opus_tier_stations', 'kbps="24"', 1);
    } finally {
      c.close();
      await c.closed;
    }
    // Its last listener left: the worker stops encoding it; only the default tier is left.
    await waitMetric(server, 'auralis_opus_tier_stations', 'kbps="24"', 0);
    assert.equal(await metricValue(server, 'auralis_opus_tier_stations', 'kbps="96"'), 1);
    assert.equal(await metricValue(server, 'auralis_opus_tier_stations', 'kbps="128"'), 0);
  });

  it('switches seamlessly on the bitrate message: answer before fromSeq, no gap, no flag, one decoder, no click', async () => {
    const c = await connect(server);
    const log = arrivals(c);
    try {
      const welcome = await c.next('welcome');
      assert.equal(welcome.bitrate, 96);
      await c.waitChunks(5);
      // A bad value: an error naming kbps, and nothing changes (the music goes on).
      c.send({ type: 'bitrate', kbps: 25 });
      const err = await c.next('error');
      assert.equal(err.code, 'INVALID_PARAM');
      assert.equal(err.field, 'kbps');
      assert.match(err.message as string, /24, 48, 96, 128/);
      c.send({ type: 'bitrate', kbps: 24 });
      const down = await c.next('bitrate');
      assert.equal(down.kbps, 24);
      const downAt = down.fromSeq as number;
      await c.waitChunks(c.chunks.length + 8);
      c.send({ type: 'bitrate', kbps: 128 });
      const up = await waitFor(c, (t) => t.type === 'bitrate' && t.kbps === 128);
      const upAt = up.fromSeq as number;
      // The tier already in use: answered at once with the next seq.
      c.send({ type: 'bitrate', kbps: 128 });
      const same = await waitFor(c, (t) => t.type === 'bitrate' && t.kbps === 128 && t !== up);
      assert.ok((same.fromSeq as number) > upAt);
      await c.waitChunks(c.chunks.length + 10);
      assert.equal(c.ws.readyState, 1, 'the connection stays open');

      for (const [msg, seq] of [
        [down, downAt],
        [up, upAt],
      ] as const) {
        assert.equal(nextChunkAfter(log, msg), seq, `answer right before chunk ${seq}`);
      }
      const seqs = c.chunks.map((k) => k.header.sequence);
      for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1, 'sequence continues');
      for (const k of c.chunks) {
        const s = k.header.sequence;
        assert.equal(k.header.flags & FLAG_DISCONTINUITY, 0, `no discontinuity at ${s}`);
        assert.equal(tierOfFlags(k.header.flags), s >= upAt ? 3 : s >= downAt ? 0 : 2, `tier of ${s}`);
      }
      // One decoder across both switches.
      const dec = new OpusPacketDecoder();
      const parts = c.chunks.map((k) => dec.decodePayload(k.payload).l);
      const audio = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      let o = 0;
      for (const p of parts) {
        audio.set(p, o);
        o += p.length;
      }
      let sum = 0;
      for (const v of audio) sum += v * v;
      assert.ok(Math.sqrt(sum / audio.length) > 0.003, 'the decoded audio is not silent');
      const first = seqs[0]!;
      const clicks = detectClicks(audio, { sampleRate: 48_000 });
      for (const seq of [downAt, upAt]) {
        const frame = (seq - first) * CHUNK_FRAMES;
        const near = clicks.filter((k) => Math.abs(k.frame - frame) < 960);
        assert.deepEqual(near, [], `no click within 20 ms of the switch at chunk ${seq}`);
      }
      assert.ok((await metricValue(server, 'auralis_tier_switches_total', 'direction="down"')) >= 1);
      assert.ok((await metricValue(server, 'auralis_tier_switches_total', 'direction="up"')) >= 1);
    } finally {
      c.close();
      await c.closed;
    }
    await waitMetric(server, 'auralis_opus_tier_stations', 'kbps="128"', 0);
  });

  it('serves /stream/default.ogg?bitrate=48 at about 48 kb/s, decodable by ffmpeg', async () => {
    const bytes = await record(`${server.url}/stream/default.ogg?bitrate=48`, 3500);
    const pages = parseOggPages(bytes.subarray(0, lastWholePage(bytes)));
    const audio = pages.slice(2);
    for (let i = 1; i < audio.length; i++) {
      assert.equal(audio[i]!.sequence, audio[i - 1]!.sequence + 1, 'one stream: pages follow one another');
      assert.equal(audio[i]!.granule - audio[i - 1]!.granule, CHUNK_FRAMES);
    }
    // The last 1.5 s are at 48 kb/s (the burst, before the tier was warm, is the default tier's).
    const tail = audio.slice(-15);
    const packetBytes = tail.reduce((a, p) => a + p.packets.reduce((b, k) => b + k.length, 0), 0);
    const kbps = (packetBytes * 8) / 1.5 / 1000;
    assert.ok(kbps > 36 && kbps < 62, `${kbps.toFixed(1)} kb/s`);
    const dir = mkdtempSync(join(tmpdir(), 'auralis-tiers-'));
    try {
      const file = join(dir, 'tier.ogg');
      writeFileSync(file, bytes.subarray(0, lastWholePage(bytes)));
      const decode = spawnSync(
        'ffmpeg',
        ['-v', 'error', '-i', file, '-f', 's16le', '-ac', '2', '-ar', '48000', '-'],
        {
          maxBuffer: 64 << 20,
        },
      );
      assert.equal(decode.status, 0, decode.stderr?.toString());
      assert.ok(decode.stdout.length / 4 / 48_000 > 3, 'ffmpeg decodes the whole recording');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await waitMetric(server, 'auralis_opus_tier_stations', 'kbps="48"', 0);
  });

  it('a restarted worker encodes the tiers its listeners take again', async () => {
    const c = await connect(server, 'bitrate=128');
    try {
      const answer = await c.next('bitrate');
      assert.equal(answer.kbps, 128);
      await c.waitChunks(c.chunks.length + 3);
      server.engine.crashWorker('default');
      // After the restart: the discontinuity flag, then (once the tier warmed up again) tier 3.
      const restartAt = await new Promise<number>((resolve, reject) => {
        const until = Date.now() + 10_000;
        const check = (): void => {
          const k = c.chunks.find((ch) => (ch.header.flags & FLAG_DISCONTINUITY) !== 0);
          if (k) resolve(k.header.sequence);
          else if (Date.now() > until) reject(new Error('no chunk after the restart'));
          else setTimeout(check, 50);
        };
        check();
      });
      await c.waitChunks(c.chunks.findIndex((k) => k.header.sequence === restartAt) + 8);
      const after = c.chunks.filter((k) => k.header.sequence >= restartAt + 4);
      assert.ok(after.length >= 3);
      for (const k of after)
        assert.equal(tierOfFlags(k.header.flags), 3, `seq ${k.header.sequence} at 128 kb/s`);
      await waitMetric(server, 'auralis_opus_tier_stations', 'kbps="128"', 1);
    } finally {
      c.close();
      await c.closed;
    }
  });

  it('refuses a bad bitrate with INVALID_PARAM naming bitrate on /ws, .ogg, .mp3 and .wav', async () => {
    for (const query of ['bitrate=25', 'bitrate=fast', 'codec=pcm&bitrate=48']) {
      const c = await connect(server, query);
      const err = await c.next('error');
      assert.equal(err.code, 'INVALID_PARAM', query);
      assert.equal(err.field, 'bitrate', query);
      assert.equal((await c.closed).code, 1008);
    }
    const pcm = await connect(server, 'codec=pcm&bitrate=auto');
    const welcome = await pcm.next('welcome');
    assert.deepEqual(welcome.tiers, []);
    assert.equal(welcome.bitrate, null);
    pcm.close();
    for (const [path, allowed] of [
      ['/stream/default.ogg?bitrate=25', /24, 48, 96, 128/],
      ['/stream/default.mp3?bitrate=96', /must be 128/],
      ['/stream/default.wav?bitrate=48', /one rate/],
    ] as const) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 400, path);
      const body = (await res.json()) as { error: { code: string; field: string; message: string } };
      assert.equal(body.error.code, 'INVALID_PARAM', path);
      assert.equal(body.error.field, 'bitrate', path);
      assert.match(body.error.message, allowed, path);
    }
  });
});

/** The entry right after the `bitrate` answer `msg` in the arrival log (a chunk's seq). */
function nextChunkAfter(log: (Record<string, unknown> | number)[], msg: Record<string, unknown>): unknown {
  const at = log.findIndex(
    (e) => typeof e === 'object' && e.type === 'bitrate' && e.kbps === msg.kbps && e.fromSeq === msg.fromSeq,
  );
  assert.ok(at >= 0, 'the answer is in the log');
  return log[at + 1];
}

function waitFor(
  c: Client,
  match: (t: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  const until = Date.now() + 5000;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const t = c.texts.find(match);
      if (t) resolve(t);
      else if (Date.now() > until) reject(new Error('timed out waiting for a message'));
      else setTimeout(check, 20);
    };
    check();
  });
}

/** The length of the whole Ogg pages at the start of `bytes`. */
function lastWholePage(bytes: Buffer): number {
  let at = 0;
  while (at + 27 <= bytes.length && bytes.toString('latin1', at, at + 4) === 'OggS') {
    const segments = bytes[at + 26]!;
    if (at + 27 + segments > bytes.length) break;
    let len = 27 + segments;
    for (let i = 0; i < segments; i++) len += bytes[at + 27 + i]!;
    if (at + len > bytes.length) break;
    at += len;
  }
  return at;
}
