// The paced fan-out: a chunk whose writes to all listeners take tens of milliseconds starts that much
// before its due time, so the listener written last is not late; each listener is written at its
// planned time in the walk, so walks of different lengths leave every listener's spacing at one
// chunk (jitter); the head start is bounded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EngineStation } from '../../src/engine/engine-host.ts';
import { monoNowMs } from '../../src/engine/clock.ts';
import { ChunkRing, WS_PREFIX_BYTES, writeWsBinaryHeader } from '../../src/engine/ring.ts';
import type { Listener } from '../../src/server/broadcast/listener.ts';
import { fakeListener } from './fake-listener.ts';
import { MAX_SEND_AHEAD_CHUNK_SHARE, Pacer, type PacerObserver } from '../../src/server/broadcast/pacer.ts';
import { Station } from '../../src/server/station.ts';
import { DEFAULT_PARAMS } from '../../src/music/params.ts';

const CHUNK_MS = 100;
const LEAD_MS = 150;
const CHUNKS = 24;

/** A ring with chunks 0 … CHUNKS − 1 published (a small Opus frame each). */
function publishedRing(): ChunkRing {
  const ring = ChunkRing.create(40, 4800, 128_000, { kbps: [96], defaultKbps: 96 });
  for (let seq = 0; seq < CHUNKS; seq++) {
    const headerAt = ring.opusRegion(seq, 0) + WS_PREFIX_BYTES;
    const start = writeWsBinaryHeader(ring.bytes, headerAt, 32 + 10);
    ring.publish(seq, start, headerAt + 42 - start, 0, 0, 0, 0);
  }
  return ring;
}

function station(ring: ChunkRing, startMonoMs: number): Station {
  const engine = {
    id: 'x',
    ring,
    chunkMs: CHUNK_MS,
    chunkFrames: 4800,
    startMonoMs,
  } as unknown as EngineStation;
  return new Station({ id: 'x', personal: false, seed: 1, params: { ...DEFAULT_PARAMS }, engine });
}

/**
 * A listener whose k-th write (chunk k) busy-waits `writeMs(k)` (a slow send syscall) and records
 * when it began (and, given `busy`, how long it took).
 */
function slowListener(writeMs: (chunk: number) => number, starts: number[], busy?: number[]): Listener {
  const socket = {
    destroyed: false,
    writable: true,
    writableLength: 0,
    write(_b: Buffer, cb?: () => void) {
      const t = monoNowMs();
      const ms = writeMs(starts.length);
      starts.push(t);
      while (monoNowMs() - t < ms);
      busy?.push(monoNowMs() - t);
      cb?.();
      return true;
    },
  };
  return fakeListener(socket);
}

/**
 * Runs a pacer over the station until it has published CHUNKS chunks (or 30 s passed), telling
 * `onChunk` each chunk and its fan-out time; returns the stopped pacer and the chunks published.
 * Any skip or drop fails the test.
 */
async function pace(
  st: Station,
  onChunk: (seq: number, fanoutMs: number) => void = () => {},
): Promise<{ pacer: Pacer; published: number }> {
  let published = 0;
  let done: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const observer = {
    chunkPublished: (_st: Station, seq: number, _late: number, _sends: Int32Array, fanoutS?: number) => {
      onChunk(seq, fanoutS! * 1000);
      if (++published === CHUNKS) done();
    },
    now: () => {},
    listenerSent: () => {},
    listenerSkipped: () => assert.fail('not skipped'),
    listenerDropped: () => assert.fail('not dropped'),
  } as unknown as PacerObserver;
  const pacer = new Pacer({ leadMs: LEAD_MS, listenerQueueBytes: 1 << 20, stallTimeoutMs: 5000, observer });
  pacer.add(st);
  pacer.start();
  const timeout = setTimeout(() => done(), 30_000);
  await finished;
  clearTimeout(timeout);
  pacer.stop();
  return { pacer, published };
}

/**
 * Runs a pacer over CHUNKS chunks of one station with `n` listeners whose writes take `writeMs`
 * each; returns, per chunk, when its first and last write began relative to its due time, and the
 * pacer's head start after the run.
 */
async function run(
  n: number,
  writeMs: number | ((chunk: number) => number),
): Promise<{ first: number[]; last: number[]; aheadMs: number; fanoutMs: number[]; writingMs: number[] }> {
  const ring = publishedRing();
  // Chunk 0 is due 100 ms from now.
  const st = station(ring, monoNowMs() + LEAD_MS + 100);
  const perListener: number[][] = [];
  const busy: number[][] = [];
  for (let i = 0; i < n; i++) {
    const starts: number[] = [];
    const took: number[] = [];
    perListener.push(starts);
    busy.push(took);
    st.listeners.add(slowListener(typeof writeMs === 'number' ? () => writeMs : writeMs, starts, took));
  }
  const fanoutMs: number[] = [];
  const { pacer, published } = await pace(st, (_seq, ms) => fanoutMs.push(ms));
  const aheadMs = pacer.sendAheadMs(st);
  const first: number[] = [];
  const last: number[] = [];
  for (let seq = 0; seq < published; seq++) {
    const due = st.dueMs(seq, LEAD_MS);
    first.push(perListener[0]![seq]! - due);
    last.push(perListener[n - 1]![seq]! - due);
  }
  // Every listener got every chunk, in the same place of the walk.
  for (const starts of perListener) assert.equal(starts.length, CHUNKS);
  // Per chunk, the time its writes took (pauses left out).
  const writingMs = first.map((_, seq) => busy.reduce((sum, took) => sum + took[seq]!, 0));
  return { first, last, aheadMs, fanoutMs, writingMs };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('pacer fan-out', { timeout: 60_000 }, () => {
  it('starts a slow fan-out early by its planned length, so the last listener is not late', async () => {
    // 40 listeners × 0.75 ms: a 30 ms fan-out, as 5,000 loopback sockets take.
    const { first, last, aheadMs, fanoutMs: reported } = await run(40, 0.75);
    const fanoutMs = 40 * 0.75;
    // Each fan-out's own length reaches the observer (auralis_fanout_seconds): at least the writes' sum.
    assert.equal(reported.length, CHUNKS);
    for (const f of reported) assert.ok(f >= fanoutMs && f < 10_000, `fan-out reported as ${f} ms`);
    // The head start covers the fan-out (at least; a loaded machine only lengthens it).
    assert.ok(aheadMs >= fanoutMs * 0.8, `head start ${aheadMs.toFixed(1)} ms for a ${fanoutMs} ms fan-out`);
    assert.ok(aheadMs <= CHUNK_MS * MAX_SEND_AHEAD_CHUNK_SHARE);
    // The precondition: the first chunk had no measure yet, so it started at its due time.
    assert.ok(first[0]! >= 0, `chunk 0 started ${first[0]!.toFixed(1)} ms from due`);
    assert.ok(last[0]! >= fanoutMs * 0.9, `chunk 0's last write ${last[0]!.toFixed(1)} ms after due`);
    // Once measured, chunks start before their due time, and the last write begins sooner after due
    // than a fan-out started at its due time can (every write takes its 0.75 ms, so that would be
    // ≥ 29 ms).
    const steady = (xs: number[]): number[] => xs.slice(4);
    assert.ok(
      median(steady(first)) < -fanoutMs / 2,
      `first writes ${steady(first).map((x) => x.toFixed(1))}`,
    );
    assert.ok(median(steady(last)) < fanoutMs * 0.5, `last writes ${steady(last).map((x) => x.toFixed(1))}`);
  });

  it('writes each listener at its planned time, however long the walk takes', async () => {
    // Walks of 16 and 32 ms in turn (40 listeners × 0.4 or 0.8 ms). Written as fast as they go,
    // the last listener's write would move by 16 ms from one chunk to the next; on the plan (spacing
    // a high estimate of one write), the short walks pause, and it stays in place.
    const long = (chunk: number): boolean => chunk % 2 === 1;
    const { first, last, aheadMs, writingMs } = await run(40, (chunk) => (long(chunk) ? 0.8 : 0.4));
    assert.ok(aheadMs >= 32 * 0.9, `head start ${aheadMs.toFixed(1)} ms`);
    const steady = last.map((x, seq) => ({ x, seq })).slice(8);
    // The precondition: the walks' writes did differ by about 16 ms.
    const writing = (wantLong: boolean): number[] =>
      steady.filter((c) => long(c.seq) === wantLong).map((c) => writingMs[c.seq]!);
    const differ = median(writing(true)) - median(writing(false));
    assert.ok(differ > 12, `writes took ${writingMs.map((x) => x.toFixed(1))} ms`);
    // The last listener's write moves by less than half that between consecutive chunks (a loaded
    // machine's preemption and late pause timers move single chunks, hence the median), and the
    // walks end by due time.
    const moves = steady.slice(1).map((c, k) => Math.abs(c.x - steady[k]!.x));
    assert.ok(median(moves) < differ / 2, `last writes ${last.map((x) => x.toFixed(1))}`);
    assert.ok(median(steady.map((c) => c.x)) < 3, `last writes ${last.map((x) => x.toFixed(1))}`);
    // The first listener's write too.
    const firstMoves = first.slice(9).map((x, k) => Math.abs(x - first[8 + k]!));
    assert.ok(median(firstMoves) < differ / 2, `first writes ${first.map((x) => x.toFixed(1))}`);
  });

  it(`never starts more than ${MAX_SEND_AHEAD_CHUNK_SHARE * 100} % of a chunk early, whatever the fan-out takes`, async () => {
    // 40 listeners × 2.5 ms: 100 ms, over the 80 ms bound.
    const { first, aheadMs } = await run(40, 2.5);
    assert.ok(aheadMs > 80 * 0.9, `head start ${aheadMs.toFixed(1)} ms`);
    assert.ok(aheadMs <= CHUNK_MS * MAX_SEND_AHEAD_CHUNK_SHARE + 1e-9);
    for (const f of first)
      assert.ok(f >= -CHUNK_MS * MAX_SEND_AHEAD_CHUNK_SHARE - 1, `started ${f} ms from due`);
  });
});

describe('pacer fan-out: listeners that come and go during a paused walk', { timeout: 60_000 }, () => {
  it('writes every chunk once to each listener there for it, and holds what a newcomer queued', async () => {
    const ring = publishedRing();
    const st = station(ring, monoNowMs() + LEAD_MS + 100);
    const starts: number[][] = [];
    const JOIN_CHUNK = 6;
    let newcomer: Listener | null = null;
    const newcomerStarts: number[] = [];
    for (let i = 0; i < 40; i++) {
      const mine: number[] = [];
      starts.push(mine);
      const l = slowListener(() => 0.4, mine);
      if (i === 10) {
        // During the walk of chunk JOIN_CHUNK (paced: it pauses), listener 30 leaves and a newcomer
        // joins as a burst leaves one: due from the next chunk, its burst's last chunk still queued.
        const sock = l.socket as unknown as { write: (b: Buffer, cb?: () => void) => boolean };
        const write = sock.write.bind(sock);
        sock.write = (b: Buffer, cb?: () => void): boolean => {
          if (mine.length === JOIN_CHUNK) {
            const leaving = [...st.listeners][30]!;
            (leaving.socket as unknown as { destroyed: boolean }).destroyed = true;
            st.listeners.delete(leaving);
            newcomer = slowListener(() => 0.4, newcomerStarts);
            (newcomer.socket as unknown as { writableLength: number }).writableLength = 1;
            newcomer.flow.wrote(JOIN_CHUNK - 1, 42);
            newcomer.nextSeq = st.nextSeq;
            st.listeners.add(newcomer);
          }
          return write(b, cb);
        };
      }
      st.listeners.add(l);
    }
    let heldAfterJoin = -2;
    await pace(st, (seq) => {
      if (seq === JOIN_CHUNK) heldAfterJoin = ring.held();
    });
    assert.ok(newcomer, 'the newcomer joined');
    // The precondition: the walk of JOIN_CHUNK paused (listener 39 was written well after listener 10).
    assert.ok(starts[39]![JOIN_CHUNK]! - starts[10]![JOIN_CHUNK]! > 29 * 0.4 + 2, 'the walk paused');
    // The leaver got the chunks before, the newcomer every chunk from the next, the others all, once.
    assert.equal(starts[30]!.length, JOIN_CHUNK);
    assert.equal(newcomerStarts.length, CHUNKS - JOIN_CHUNK - 1);
    for (let i = 0; i < 40; i++) if (i !== 30) assert.equal(starts[i]!.length, CHUNKS, `listener ${i}`);
    // The ring's hold after that walk covers the newcomer's queued chunk.
    assert.ok(heldAfterJoin >= 0 && heldAfterJoin <= JOIN_CHUNK - 1, `hold ${heldAfterJoin}`);
  });
});
