// The now-playing event streams' bounds (src/server/now-feed.ts) and the object they carry
// (src/server/now-playing.ts), on a real Station and real Node writable streams.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { EngineStation, NowEvent } from '../../src/engine/engine-host.ts';
import { PRESETS } from '../../src/music/presets.ts';
import { applyPatch } from '../../src/music/params.ts';
import type { MusicParams } from '../../src/music/types.ts';
import {
  NowFeed,
  SSE_FANOUT_SLICE,
  SSE_MAX_QUEUED_BYTES,
  type SseDropReason,
} from '../../src/server/now-feed.ts';
import { effectivePreset, nowMessage, nowPlaying } from '../../src/server/now-playing.ts';
import { Station } from '../../src/server/station.ts';
import { sleep } from './helpers.ts';

const PARAMS: MusicParams = { key: 'A', mode: 'aeolian', bpm: 70, intensity: 0.5, preset: null };
const CHUNK_FRAMES = 4800;

/** A station as the main thread sees it; only the clock fields of its engine handle (and its tier count) are read here. */
function station(params: MusicParams = PARAMS): Station {
  const engine = {
    id: 'test',
    seed: 1,
    startMonoMs: 1000,
    wallOffsetMs: 1_700_000_000_000,
    chunkFrames: CHUNK_FRAMES,
    chunkMs: 100,
    params,
    // The Station sizes its per-tier views from the ring's layout (one tier here).
    ring: { layout: { tiers: [{ kbps: 96 }], defaultTier: 0 } },
  } as unknown as EngineStation;
  return new Station({ id: 'test', personal: false, seed: 1, params, engine });
}

function event(position: number, chord: string, next: number | null): NowEvent {
  return { id: 'test', position, chord, key: 'A', mode: 'aeolian', section: 'drift', next };
}

/** One turn of the event loop (fan-outs are written from the next one on). */
function turn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** A writable that takes its first chunk and never finishes it: every later write queues. */
function stuckSink(): Writable {
  return new Writable({ highWaterMark: 1024, write: () => {} });
}

/** A writable that drains at once, recording what it got. */
function drainingSink(got: string[]): Writable {
  return new Writable({
    decodeStrings: false,
    write: (chunk: string, _enc, cb) => {
      got.push(chunk);
      cb();
    },
  });
}

describe('nowPlaying', () => {
  it('is the sounding chord, its play time, and the next change: scheduled before forecast', () => {
    const st = station();
    assert.equal(nowPlaying(st).chord, null, 'nothing announced yet');
    assert.equal(nowPlaying(st).key, 'A');
    st.queueNow(event(4800, 'Am9', 96_000));
    st.nextSeq = 2;
    assert.equal(st.takeDueNow(9600)?.chord, 'Am9');
    let n = nowPlaying(st);
    assert.equal(n.chord, 'Am9');
    assert.equal(n.position, 4800);
    assert.equal(n.at, 1_700_000_000_000 + 1000 + 100);
    // Only the composer's forecast is known.
    assert.deepEqual(n.next, {
      position: 96_000,
      at: 1_700_000_000_000 + 1000 + 2000,
      kind: 'forecast',
      chord: null,
    });
    // The engine rendered the next chord already (not yet announced): that is certain and wins.
    st.queueNow(event(91_200, 'Fmaj7', 200_000));
    n = nowPlaying(st);
    assert.deepEqual(n.next, {
      position: 91_200,
      at: 1_700_000_000_000 + 1000 + 1900,
      kind: 'scheduled',
      chord: 'Fmaj7',
    });
    // The WebSocket message is the same object with its type.
    assert.deepEqual(JSON.parse(nowMessage(st)), { type: 'now', ...n });
    // A forecast the station has passed (a tempo change moved it) is not shown.
    const late = station();
    late.queueNow(event(4800, 'Am9', 9600));
    late.takeDueNow(9600);
    late.nextSeq = 3;
    assert.equal(nowPlaying(late).next, null);
  });

  it('names the preset only while its parameters are unchanged (the key is free)', () => {
    for (const p of PRESETS) {
      const applied = applyPatch(PARAMS, { preset: p.name });
      assert.equal(effectivePreset(applied), p.name);
      assert.equal(effectivePreset({ ...applied, key: 'D' }), p.name);
      assert.equal(effectivePreset(applyPatch(applied, { bpm: applied.bpm === 100 ? 101 : 100 })), null);
      assert.equal(
        effectivePreset(applyPatch(applied, { intensity: applied.intensity === 1 ? 0 : 1 })),
        null,
      );
    }
    assert.equal(effectivePreset(PARAMS), null);
  });
});

describe('NowFeed', () => {
  it('closes a client whose queue would pass its byte bound, and keeps one that reads', async () => {
    const feed = new NowFeed({ heartbeatMs: 60_000, maxClients: 10 });
    const drops: SseDropReason[] = [];
    feed.onDropped = (_st, reason) => drops.push(reason);
    const st = station();
    st.queueNow(event(4800, 'Am9', 96_000));
    st.takeDueNow(4800);
    const slow = stuckSink();
    const got: string[] = [];
    const fast = drainingSink(got);
    assert.equal(feed.add(st, slow), true);
    assert.equal(feed.add(st, fast), true);
    assert.equal(feed.size, 2);
    let maxQueued = 0;
    for (let i = 0; i < 1000 && !slow.destroyed; i++) {
      feed.changed(st);
      await turn();
      maxQueued = Math.max(maxQueued, slow.writableLength);
    }
    assert.equal(slow.destroyed, true, 'the slow client was closed');
    assert.deepEqual(drops, ['queue']);
    assert.ok(maxQueued > SSE_MAX_QUEUED_BYTES / 2, `it queued ${maxQueued} bytes first (precondition)`);
    assert.ok(maxQueued <= SSE_MAX_QUEUED_BYTES, `never more than the bound: ${maxQueued}`);
    assert.equal(feed.size, 1);
    // The reading client got the initial event and every change, and stays.
    assert.match(got[0]!, /^retry: 3000\nevent: now\ndata: \{.*"chord":"Am9".*\}\n\n$/);
    assert.ok(got.length > 10);
    assert.equal(fast.destroyed, false);
    feed.close();
    assert.equal(fast.writableEnded, true, 'close() ends the rest');
    assert.equal(feed.size, 0);
    assert.equal(feed.add(st, drainingSink([])), false, 'no client joins a closed feed');
    await sleep(0);
  });

  it('closes a client that still queues bytes two heartbeats in a row; a reading one gets heartbeats', async () => {
    const feed = new NowFeed({ heartbeatMs: 100, maxClients: 10 });
    const drops: SseDropReason[] = [];
    feed.onDropped = (_st, reason) => drops.push(reason);
    const st = station();
    const stuck = stuckSink();
    const got: string[] = [];
    feed.add(st, stuck);
    feed.add(st, drainingSink(got));
    // A generous bound: two heartbeats on a loaded machine.
    for (let i = 0; i < 100 && !stuck.destroyed; i++) await sleep(50);
    assert.equal(stuck.destroyed, true);
    assert.deepEqual(drops, ['stalled']);
    assert.ok(got.filter((g) => g === ': keep-alive\n\n').length >= 2, 'heartbeats reached the reader');
    feed.close();
  });

  it('writes a change from the next turn on, a slice of streams a turn, never in the caller’s', async () => {
    const feed = new NowFeed({ heartbeatMs: 60_000, maxClients: 10_000 });
    const st = station();
    st.queueNow(event(4800, 'Am9', null));
    st.takeDueNow(4800);
    const got: string[][] = [];
    for (let i = 0; i < SSE_FANOUT_SLICE + 10; i++) {
      const g: string[] = [];
      got.push(g);
      feed.add(st, drainingSink(g));
    }
    const changes = (): number => got.filter((g) => g.length === 2).length;
    assert.equal(changes(), 0);
    assert.ok(
      got.every((g) => g.length === 1),
      'each got its initial event at once',
    );
    feed.changed(st);
    assert.equal(changes(), 0, 'nothing written in the announcing call');
    await turn();
    assert.equal(changes(), SSE_FANOUT_SLICE, 'one slice on the next turn');
    await turn();
    assert.equal(changes(), SSE_FANOUT_SLICE + 10, 'the rest on the one after');
    assert.match(got.at(-1)![1]!, /^event: now\ndata: \{.*"chord":"Am9".*\}\n\n$/);
    feed.close();
  });

  it('refuses past maxClients and ends a removed station’s streams', () => {
    const feed = new NowFeed({ heartbeatMs: 60_000, maxClients: 2 });
    const a = station();
    const b = station();
    const sa = drainingSink([]);
    const sb = drainingSink([]);
    feed.add(a, sa);
    assert.equal(feed.hasRoom(), true);
    feed.add(b, sb);
    assert.equal(feed.hasRoom(), false);
    const gone = drainingSink([]);
    gone.destroy();
    assert.equal(feed.add(a, gone), false, 'a client already gone is not added');
    assert.equal(feed.size, 2);
    feed.stationRemoved(a);
    assert.equal(sa.writableEnded, true);
    assert.equal(sb.writableEnded, false);
    assert.equal(feed.size, 1);
    assert.equal(feed.hasRoom(), true);
    feed.close();
  });
});
