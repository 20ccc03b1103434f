// The live score as data: `/ws?events=1` sends each chunk's notes ahead of its audio, and
// GET /api/stations/:id/score.mid exports the last N seconds as a Standard MIDI File.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMoment } from '../../src/engine/moment.ts';
import { MomentSource } from '../../src/engine/moment-source.ts';
import { parseMidiFile } from '../../src/codec/midi-parse.ts';
import type { NoteEvent } from '../../src/music/types.ts';
import { connect, json, sleep, withServer } from './helpers.ts';

const SECRET = 'score-events-test-secret-0123';

interface Note {
  instrument: string;
  pitch: number;
  velocity: number;
  start: number;
  frames: number;
}

describe('the live score as data', () => {
  it('?events=1 sends the notes the audio is made of, per chunk, before the chunk', async () => {
    await withServer({ momentSecret: SECRET }, async (server) => {
      const sub = await connect(server, 'codec=pcm&events=1');
      const plain = await connect(server, 'codec=pcm');
      await sub.waitChunks(5);
      const m = await json(server, 'GET', '/api/stations/default/moment');
      assert.equal(m.status, 200);
      const moment = decodeMoment((m.body as { token: string }).token, SECRET);
      // The same notes as the score that renders the audio (the moment's replay, from its position),
      // over the next 20 s.
      const expected: Note[] = [];
      const src = new MomentSource(moment, (e: NoteEvent) => {
        if (e.kind !== 'release')
          expected.push({
            instrument: e.instrument,
            pitch: e.midi,
            velocity: Math.round(Math.fround(e.velocity) * 1000) / 1000,
            start: e.startFrame + moment.position,
            frames: e.durationFrames,
          });
      });
      const l = new Float32Array(4800);
      const r = new Float32Array(4800);
      for (let i = 0; i < 200; i++) src.render(l, r, 4800);
      // The window: 4 s, or up to the chunk after the first note that starts in it (a quiet passage
      // can hold no new note for several seconds).
      const firstStart = Math.min(...expected.map((n) => n.start).filter((s) => s >= moment.position));
      assert.ok(firstStart < moment.position + 16 * 48_000, 'the score has a note within 16 s');
      const until = Math.max(moment.position + 4 * 48_000, firstStart + 4800);
      for (let i = 0; i < 250; i++) {
        const last = sub.chunks[sub.chunks.length - 1]!.header;
        if (last.positionFrames > until + 48_000) break;
        await sleep(100);
      }
      const received: Note[] = [];
      const batches = sub.texts.filter((t) => t.type === 'notes');
      assert.ok(batches.length > 0, 'notes messages arrived');
      for (const b of batches) {
        assert.equal(typeof b.seq, 'number');
        assert.equal(b.position, (b.seq as number) * 4800);
        assert.ok(Array.isArray(b.events) && Array.isArray(b.releases));
        for (const e of b.events as Note[]) {
          assert.equal(typeof e.instrument, 'string');
          assert.ok(Number.isInteger(e.pitch) && e.pitch >= 0 && e.pitch <= 127);
          assert.ok(e.velocity >= 0 && e.velocity <= 1);
          assert.ok(e.frames > 0);
          received.push(e);
        }
      }
      assert.equal(plain.texts.filter((t) => t.type === 'notes').length, 0, 'not subscribed, no notes');

      const key = (n: Note): string => `${n.instrument}:${n.pitch}:${n.start}:${n.frames}:${n.velocity}`;
      const inWindow = (n: Note): boolean => n.start >= moment.position && n.start < until;
      const want = expected.filter(inWindow).map(key).sort();
      const got = received.filter(inWindow).map(key).sort();
      assert.ok(want.length > 0, 'the score has notes in the window');
      assert.deepEqual(got, want);
      sub.close();
      plain.close();
    });
  });

  it('orders a notes message before its audio chunk on the wire', async () => {
    await withServer({}, async (server) => {
      const sub = await connect(server, 'codec=pcm&events=1');
      const seen: string[] = [];
      sub.ws.on('message', (data: Buffer, isBinary) => {
        if (isBinary) seen.push(`c${data.readUInt32LE(8)}`);
        else {
          const t = JSON.parse(data.toString()) as Record<string, unknown>;
          if (t.type === 'notes') seen.push(`n${t.seq as number}`);
        }
      });
      // Until a few notes messages have come: the opening chord may have been rendered before the
      // subscription, and the next notes of a slow piece can be seconds away.
      await sub.waitChunks(10);
      const deadline = Date.now() + 30_000;
      while (seen.filter((s) => s.startsWith('n')).length < 3 && Date.now() < deadline) await sleep(100);
      const notes = seen.filter((s) => s.startsWith('n'));
      assert.ok(notes.length >= 3, `notes arrived (${notes.length} messages in ${seen.length} frames)`);
      for (const n of notes) {
        const c = seen.indexOf(`c${n.slice(1)}`);
        if (c >= 0) assert.ok(seen.indexOf(n) < c, `${n} before its chunk`);
      }
      sub.close();
    });
  });

  it('exports the last N seconds as a Standard MIDI File and refuses a bad seconds', async () => {
    await withServer({}, async (server) => {
      const ws = await connect(server, 'codec=pcm');
      await ws.waitChunks(40);
      const res = await fetch(`${server.url}/api/stations/default/score.mid?seconds=4`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'audio/midi');
      const bytes = new Uint8Array(await res.arrayBuffer());
      const midi = parseMidiFile(bytes);
      let notes = 0;
      for (const t of midi.tracks) for (const e of t.events) if (e.kind === 0x90 && e.data2 > 0) notes++;
      assert.ok(notes > 0, `the file holds notes (${notes})`);
      for (const bad of ['0', '601', 'abc', '-3', '']) {
        const r = await json(server, 'GET', `/api/stations/default/score.mid?seconds=${bad}`);
        assert.equal(r.status, 400, bad);
        const err = (r.body as { error: { code: string; field: string } }).error;
        assert.equal(err.code, 'INVALID_PARAM');
        assert.equal(err.field, 'seconds');
      }
      const unknown = await json(server, 'GET', '/api/stations/nope/score.mid?seconds=5');
      assert.equal(unknown.status, 404);
      ws.close();
      // A bad events value refuses the connection, naming the field.
      const bad = await connect(server, 'events=yes');
      const err = await bad.next('error');
      assert.equal(err.code, 'INVALID_PARAM');
      assert.equal(err.field, 'events');
    });
  });
});
