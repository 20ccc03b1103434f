// Moments: GET /api/stations/:id/moment gives a signed token; `auralis render --moment` reproduces
// the station from there, sample for sample what a WebSocket listener received.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeMoment } from '../../src/engine/moment.ts';
import { runCli } from '../cli/run-cli.ts';
import { connect, json, sleep, withServer } from './helpers.ts';

const SECRET = 'moments-test-secret-0123456789';
const CHUNK_FRAMES = 4800;

/** The data chunk of a 16-bit stereo WAV file. */
function wavData(file: Buffer): Buffer {
  let at = 12;
  while (at + 8 <= file.length) {
    const id = file.toString('ascii', at, at + 4);
    const size = file.readUInt32LE(at + 4);
    if (id === 'data') return file.subarray(at + 8, at + 8 + size);
    at += 8 + size + (size & 1);
  }
  throw new Error('no data chunk');
}

describe('moments', () => {
  it('a moment rendered by the CLI is bit-identical to what a PCM WebSocket listener heard', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'auralis-moment-'));
    const logLines: string[] = [];
    try {
      await withServer(
        { momentSecret: SECRET, logLevel: 'debug' },
        async (server) => {
          // The first listener wakes the (idle) default station: the moment replays that wake-up.
          const ws = await connect(server, 'codec=pcm');
          await ws.waitChunks(10);
          // A change before the moment: the token must carry it (tempo at the next beat, key at the bar).
          const ch = await json(server, 'PATCH', '/api/stations/default', {
            key: 'E',
            bpm: 84,
            intensity: 0.7,
          });
          assert.equal(ch.status, 200, JSON.stringify(ch.body));
          await sleep(1500);
          const m = await json(server, 'GET', '/api/stations/default/moment');
          assert.equal(m.status, 200, JSON.stringify(m.body));
          const { token, url, position } = m.body as { token: string; url: string; position: number };
          assert.ok(url.endsWith(`/?moment=${token}`), url);
          assert.equal(position % CHUNK_FRAMES, 0);
          const moment = decodeMoment(token, SECRET);
          assert.equal(moment.position, position);
          assert.equal(moment.history.changes.length, 1, 'the change is in the token');
          assert.equal(moment.history.changes[0]!.params.key, 'E');
          assert.ok(moment.history.wake, 'the wake-up is in the token');
          const seconds = 2;
          const want = position + seconds * 48_000;
          // Keep listening until the capture covers the moment plus what the CLI renders.
          for (let i = 0; i < 100; i++) {
            const last = ws.chunks[ws.chunks.length - 1]!.header;
            if (last.positionFrames + last.frames >= want) break;
            await sleep(100);
          }
          ws.close();
          const byPos = new Map(ws.chunks.map((c) => [c.header.positionFrames, c]));
          assert.ok(byPos.has(position), `the capture holds the moment's chunk (position ${position})`);

          const out = join(dir, 'moment.wav');
          const r = await runCli(['render', '--moment', token, '--seconds', String(seconds), '--out', out], {
            env: { ...process.env, AURALIS_MOMENT_SECRET: SECRET },
          });
          assert.equal(r.code, 0, r.stderr);
          assert.doesNotMatch(r.stderr, /not verified/);
          const pcm = wavData(await readFile(out));
          assert.equal(pcm.length, seconds * 48_000 * 4);
          let nonZero = 0;
          for (let k = 0; k < seconds * 10; k++) {
            const c = byPos.get(position + k * CHUNK_FRAMES);
            assert.ok(c, `chunk ${k} after the moment was received`);
            assert.equal(c.header.flags & 1, 0, 'no discontinuity in the compared audio');
            const live = c.payload;
            const mine = pcm.subarray(k * CHUNK_FRAMES * 4, (k + 1) * CHUNK_FRAMES * 4);
            if (!live.equals(mine)) {
              let i = 0;
              while (live[i] === mine[i]) i++;
              assert.fail(`chunk ${k} after the moment differs from byte ${i}`);
            }
            for (let i = 0; i < live.length; i += 2) if (live.readInt16LE(i) !== 0) nonZero++;
          }
          assert.ok(nonZero > 48_000, 'the compared audio is not silence');

          // Signed by another key: refused, exit 2, naming --moment.
          const bad = await runCli(
            ['render', '--moment', token, '--seconds', '1', '--out', join(dir, 'x.wav')],
            {
              env: { ...process.env, AURALIS_MOMENT_SECRET: 'another-secret-0123456789' },
            },
          );
          assert.equal(bad.code, 2);
          assert.match(bad.stderr, /--moment/);
          assert.doesNotMatch(bad.stderr, new RegExp(SECRET));
          // Without the secret the format is still checked: a malformed token is refused the same way.
          const env = { ...process.env };
          delete env.AURALIS_MOMENT_SECRET;
          const malformed = await runCli(
            ['render', '--moment', token.slice(0, 40), '--seconds', '1', '--out', join(dir, 'y.wav')],
            { env },
          );
          assert.equal(malformed.code, 2);
          assert.match(malformed.stderr, /--moment/);
        },
        { logStream: { write: (line: string) => void logLines.push(line) } },
      );
      // The moment request was logged; the secret never was.
      assert.ok(
        logLines.some((l) => l.includes('/moment')),
        'the moment request is in the log',
      );
      assert.ok(
        logLines.every((l) => !l.includes(SECRET)),
        'the secret is not in the log',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a personal session at a moment continues its score from its position', async (t) => {
    await withServer({ momentSecret: SECRET }, async (server) => {
      const ws = await connect(server, 'codec=pcm');
      await ws.waitChunks(5);
      const ch = await json(server, 'PATCH', '/api/stations/default', { preset: 'bright', key: 'D' });
      assert.equal(ch.status, 200, JSON.stringify(ch.body));
      await sleep(2500);
      const m = await json(server, 'GET', '/api/stations/default/moment');
      assert.equal(m.status, 200, JSON.stringify(m.body));
      const { token, position } = m.body as { token: string; position: number };

      const session = await connect(server, `personal=1&codec=pcm&moment=${token}`);
      const welcome = await session.next('welcome');
      assert.equal(welcome.personal, true);
      assert.equal((welcome.params as Record<string, unknown>).preset, 'bright');
      assert.equal((welcome.params as Record<string, unknown>).key, 'D');
      await session.waitChunks(10);
      assert.equal(session.chunks[0]!.header.positionFrames, position, 'the session starts on the moment');
      const sessionNow = await session.next('now');
      // The same score: what the station sounded at that position is what the session sounds.
      const at = sessionNow.position as number;
      for (let i = 0; i < 100; i++) {
        const last = ws.chunks[ws.chunks.length - 1]!.header;
        if (last.positionFrames > at + 48_000) break;
        await sleep(100);
      }
      let live: Record<string, unknown> | undefined;
      for (const t of ws.texts) if (t.type === 'now' && (t.position as number) <= at) live = t;
      assert.ok(live, 'the station announced what sounded there');
      for (const f of ['chord', 'key', 'mode', 'section'])
        assert.equal(sessionNow[f], live[f], `${f} at position ${at}`);
      // Warmed up: the first second is not a cold start (pads attack over seconds).
      const rms = (chunks: typeof ws.chunks): number => {
        let sum = 0;
        let n = 0;
        for (const c of chunks)
          for (let i = 0; i < c.payload.length; i += 2) {
            const v = c.payload.readInt16LE(i) / 32768;
            sum += v * v;
            n++;
          }
        return Math.sqrt(sum / n);
      };
      const first = session.chunks.slice(0, 10);
      const same = first.map((c) =>
        ws.chunks.find((x) => x.header.positionFrames === c.header.positionFrames)!,
      );
      assert.ok(same.every(Boolean), 'the station was captured over the same positions');
      const ratio = rms(first) / rms(same);
      t.diagnostic(
        `loudness of the session's first second / the station's over the same positions: ${ratio.toFixed(3)}`,
      );
      assert.ok(
        ratio > 0.3 && ratio < 3,
        `loudness of the session's first second against the station's: ${ratio}`,
      );
      session.close();
      ws.close();

      // A token signed by another server is refused, naming the field; nothing is created.
      const [payload] = token.split('.');
      const forged = `${payload}.${'A'.repeat(43)}`;
      const bad = await connect(server, `personal=1&moment=${forged}`);
      const err = await bad.next('error');
      assert.equal(err.code, 'INVALID_PARAM');
      assert.equal(err.field, 'moment');
      assert.equal((await bad.closed).code, 1008);
    });
  });
});
