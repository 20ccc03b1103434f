// The sleep timer's musical ending through a real server, end to end: a personal session over the
// WebSocket (PCM and the notes feed) asks for the shortest timer and is captured until its close.
// It takes the ending's two minutes by design, so it lives in test/long/, a lane that runs beside
// the browser tests (scripts/run-tests.mjs). Only delivery timing varies under load: the audio and
// the score are deterministic, and every assertion is on them, by position, not on arrival times.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseWav } from '../../src/codec/wav.ts';
import { decodeMoment } from '../../src/engine/moment.ts';
import { MODE_INTERVALS } from '../../src/music/theory.ts';
import { ENDING_SECONDS, MODES, PITCH_CLASSES, SAMPLE_RATE } from '../../src/music/types.ts';
import { runCli } from '../cli/run-cli.ts';
import { connect, json, sleep, withServer, type Chunk, type Client } from '../server/helpers.ts';

const SECRET = 'long-sleep-test-secret-0123456789';
const S = SAMPLE_RATE;

interface Note {
  instrument: string;
  pitch: number;
  start: number;
  frames: number;
}
interface Release {
  instrument: string;
  start: number;
  keepPitchClasses: number;
}

/** Waits until the client's capture reaches station position `frame` (or fails after `ms`). */
async function until(c: Client, frame: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const last = c.chunks[c.chunks.length - 1]?.header;
    if (last && last.positionFrames + last.frames >= frame) return;
    if (Date.now() > deadline) throw new Error(`the capture did not reach position ${frame} in ${ms} ms`);
    await sleep(200);
  }
}

/** The chunks by position. */
const byPosition = (chunks: Chunk[]): Map<number, Chunk> =>
  new Map(chunks.map((c) => [c.header.positionFrames, c]));

/** RMS of both channels over the chunks that overlap [from, to) (frames on the station clock), and the share captured. */
function rms(chunks: Map<number, Chunk>, from: number, to: number, chunkFrames: number) {
  let sum = 0;
  let n = 0;
  for (let p = from - (from % chunkFrames); p < to; p += chunkFrames) {
    const c = chunks.get(p);
    if (!c) continue;
    for (let i = 0; i < c.payload.length; i += 2) {
      const v = c.payload.readInt16LE(i) / 32768;
      sum += v * v;
      n++;
    }
  }
  return { rms: Math.sqrt(sum / Math.max(1, n)), covered: n / ((to - from) * 2) };
}

/** Largest sample-to-sample step of either channel over the chunks that overlap [from, to), within contiguous runs. */
function maxStep(chunks: Map<number, Chunk>, from: number, to: number, chunkFrames: number): number {
  let step = 0;
  let prev: Chunk | undefined;
  for (let p = from - (from % chunkFrames); p < to; p += chunkFrames) {
    const c = chunks.get(p);
    if (!c) {
      prev = undefined;
      continue;
    }
    const b = c.payload;
    const contiguous = prev !== undefined && (c.header.flags & 1) === 0;
    for (let ch = 0; ch < 2; ch++) {
      let last = contiguous
        ? prev!.payload.readInt16LE(prev!.payload.length - 4 + ch * 2)
        : b.readInt16LE(ch * 2);
      for (let i = ch * 2; i < b.length; i += 4) {
        const v = b.readInt16LE(i);
        step = Math.max(step, Math.abs(v - last));
        last = v;
      }
    }
    prev = c;
  }
  return step / 32768;
}

describe('the sleep timer, end to end through a real server', () => {
  it('thins, resolves to the tonic, fades to silence, ends the session with 1000; a moment in the ending replays it', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'auralis-sleep-'));
    try {
      await withServer({ momentSecret: SECRET }, async (server) => {
        // A fixed seed: the same piece every run (only the ending's start, the beat after the
        // request arrives, moves with delivery).
        const owner = await connect(server, 'personal=1&preset=focus&seed=7&codec=pcm&events=1');
        const notes: Note[] = [];
        const releases: Release[] = [];
        let endedBeforeClose = false;
        owner.ws.on('message', (data: Buffer, isBinary) => {
          if (isBinary) return;
          const m = JSON.parse(data.toString()) as { type: string; events?: Note[]; releases?: Release[] };
          if (m.type !== 'notes') return;
          notes.push(...m.events!);
          releases.push(...m.releases!);
        });
        owner.ws.on('close', () => {
          endedBeforeClose = owner.texts.some((m) => m.type === 'sleep' && m.ended === true);
        });
        const welcome = await owner.next('welcome', 20_000);
        const id = welcome.station as string;
        const params = welcome.params as { key: string; mode: string };
        const root = PITCH_CLASSES.indexOf(params.key as (typeof PITCH_CLASSES)[number]);
        const scale = MODE_INTERVALS[params.mode as (typeof MODES)[number]];
        assert.ok(root >= 0 && scale, `the session's key and mode: ${params.key} ${params.mode}`);
        const triad = new Set([root, (root + scale[2]!) % 12, (root + scale[4]!) % 12]);

        // Music before the ending: 12 s of it (its notes, its level, its largest sample step).
        const first = (await owner.waitChunks(1, 20_000))[0]!.header;
        const chunkFrames = first.frames;
        await until(owner, first.positionFrames + 12 * S, 60_000);

        // The shortest timer: shorter than the ending, so the ending starts now.
        owner.texts.length = 0;
        owner.send({ type: 'sleep', minutes: 1 });
        const set = await owner.next('sleep', 20_000);
        assert.equal(set.minutes, 1);
        const change = await owner.next('params', 20_000);
        assert.equal(change.source, 'listener');
        const E = change.effectiveAt as number;
        const end = E + ENDING_SECONDS * S;
        t.diagnostic(`ending from position ${E} (${(E / S).toFixed(2)} s) to ${end}`);

        // A moment 90 s into the ending (the fade well under way), and what it reproduces.
        await until(owner, E + 90 * S, 200_000);
        const m = await json(server, 'GET', `/api/stations/${id}/moment`);
        assert.equal(m.status, 200, JSON.stringify(m.body));
        const { token, position } = m.body as { token: string; position: number };
        assert.ok(
          position > E + 85 * S && position < end - 20 * S,
          `the moment is inside the ending: ${position}`,
        );
        const moment = decodeMoment(token, SECRET);
        assert.ok(
          moment.history.changes.some((c) => c.params.ending === true),
          'the token carries the ending',
        );

        // A listener opening the moment's link continues the piece without the ending.
        const other = await connect(server, `personal=1&codec=pcm&moment=${token}`);
        await other.next('welcome', 20_000);
        await other.waitChunks(20, 30_000);
        other.close();
        const otherFrom = other.chunks[0]!.header.positionFrames;
        assert.equal(otherFrom, position, 'the session starts on the moment');

        // The CLI renders the moment: byte for byte what the owner heard, fade included.
        const seconds = 3;
        const out = join(dir, 'moment.wav');
        const r = await runCli(['render', '--moment', token, '--seconds', String(seconds), '--out', out], {
          env: { ...process.env, AURALIS_MOMENT_SECRET: SECRET },
        });
        assert.equal(r.code, 0, r.stderr);
        const pcm = Buffer.from(parseWav(await readFile(out)).data);
        assert.equal(pcm.length, seconds * S * 4);

        // The end: {"type":"sleep","ended":true}, then the close with 1000.
        let timer: NodeJS.Timeout | undefined;
        const closed = await Promise.race([
          owner.closed,
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error('the session did not end within 200 s of the moment')),
              200_000,
            );
          }),
        ]).finally(() => clearTimeout(timer));
        assert.equal(closed.code, 1000, `close code ${closed.code} (${closed.reason})`);
        assert.ok(endedBeforeClose, '{"type":"sleep","ended":true} came before the close');

        const chunks = byPosition(owner.chunks);
        // The moment's render against the capture.
        let nonZero = 0;
        for (let k = 0; k < (seconds * S) / chunkFrames; k++) {
          const c = chunks.get(position + k * chunkFrames);
          assert.ok(c, `chunk ${k} after the moment was received`);
          assert.equal(c.header.flags & 1, 0, 'no discontinuity in the compared audio');
          const mine = pcm.subarray(k * chunkFrames * 4, (k + 1) * chunkFrames * 4);
          if (!c.payload.equals(mine)) {
            let i = 0;
            while (c.payload[i] === mine[i]) i++;
            assert.fail(`chunk ${k} after the moment differs from byte ${i}`);
          }
          for (let i = 0; i < mine.length; i += 2) if (mine.readInt16LE(i) !== 0) nonZero++;
        }
        assert.ok(nonZero > S, 'the compared audio is not silence');
        // The session at the moment plays at the piece's level, not the fade's.
        const otherChunks = byPosition(other.chunks);
        const span = [position + 5 * chunkFrames, position + 20 * chunkFrames] as const;
        const faded = rms(chunks, ...span, chunkFrames).rms;
        const fresh = rms(otherChunks, ...span, chunkFrames).rms;
        t.diagnostic(
          `RMS at the moment: the owner's ${faded.toExponential(2)}, the link's session ${fresh.toExponential(2)}`,
        );
        assert.ok(fresh > 3 * faded, `the link's session is not faded: ${fresh} vs ${faded}`);

        // The level falls in each 10 s window of the last minute, to silence.
        const before = rms(chunks, E - 10 * S, E, chunkFrames);
        assert.ok(before.covered > 0.9 && before.rms > 1e-2, `precondition: music before (${before.rms})`);
        const levels: number[] = [];
        for (let w = 0; w < 6; w++) {
          const from = E + (60 + w * 10) * S;
          const l = rms(chunks, from, from + 10 * S, chunkFrames);
          assert.ok(l.covered > 0.9, `window ${w} captured (${l.covered})`);
          levels.push(l.rms);
        }
        t.diagnostic(
          `RMS per 10 s over the last minute: ${levels.map((l) => l.toExponential(2)).join(', ')}`,
        );
        for (let i = 1; i < levels.length; i++)
          assert.ok(
            levels[i]! < levels[i - 1]!,
            `falls: ${levels.map((l) => l.toExponential(2)).join(', ')}`,
          );
        // To silence: the fade's last second (cos², so its last 10 s are still about −60 dB).
        const last = rms(chunks, end - S, end, chunkFrames);
        t.diagnostic(
          `RMS of the last second: ${last.rms.toExponential(2)}; before the ending ${before.rms.toExponential(2)}`,
        );
        assert.ok(last.covered > 0.9, `the last second captured (${last.covered})`);
        assert.ok(last.rms < 1e-4, `silence at the end: ${last.rms}`);
        // Silence, not a cut: no sample step in the fade larger than in the music before it.
        const stepBefore = maxStep(chunks, first.positionFrames, E, chunkFrames);
        const stepFade = maxStep(chunks, E + 60 * S, end + S, chunkFrames);
        t.diagnostic(
          `largest sample step: before ${stepBefore.toFixed(4)}, last minute ${stepFade.toFixed(4)}`,
        );
        assert.ok(stepFade <= stepBefore, `largest step before ${stepBefore}, in the fade ${stepFade}`);

        // The notes: playing before, not only the tonic triad then; only the tonic triad in the
        // last 30 s before silence (what sounds there, releases applied).
        const pitched = notes.filter((n) => n.instrument !== 'perc');
        const ends = (n: Note): number => {
          let e = n.start + n.frames;
          for (const r of releases)
            if (
              r.instrument === n.instrument &&
              r.start > n.start &&
              r.start < e &&
              !(r.keepPitchClasses & (1 << (n.pitch % 12)))
            )
              e = r.start;
          return e;
        };
        const pre = pitched.filter((n) => n.start < E);
        assert.ok(pre.length >= 5, `precondition: notes before the ending (${pre.length})`);
        assert.ok(
          pre.some((n) => !triad.has(n.pitch % 12)),
          'precondition: the harmony before the ending was not only the tonic triad',
        );
        const last30 = pitched.filter((n) => n.start < end && ends(n) > end - 30 * S);
        assert.ok(last30.length > 0, 'precondition: something sounds in the last 30 s');
        const off = last30.filter((n) => !triad.has(n.pitch % 12));
        assert.deepEqual(
          off.map((n) => `${n.instrument} ${n.pitch} at ${((n.start - E) / S).toFixed(1)} s`),
          [],
          `only ${params.key} ${params.mode}'s tonic triad (${[...triad].join(', ')}) in the last 30 s`,
        );

        // The server is fine: the session is gone, another one plays, /readyz is 200.
        const gone = await json(server, 'GET', `/api/stations/${id}`);
        assert.equal(gone.status, 404);
        const next = await connect(server, 'personal=1&codec=pcm');
        await next.next('welcome', 20_000);
        await next.waitChunks(5, 20_000);
        next.close();
        const ready = await fetch(`${server.url}/readyz`);
        assert.equal(ready.status, 200, await ready.text());
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
