// Fan-out compensation: a chunk whose writes to all listeners take tens of milliseconds starts that
// much before its due time, so the listener written last is not that much late; the head start is
// bounded, and each listener keeps its place in the walk (one chunk between its writes).
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
 * when it began.
 */
function slowListener(writeMs: (chunk: number) => number, starts: number[]): Listener {
  const socket = {
    destroyed: false,
    writable: true,
    writableLength: 0,
    write(_b: Buffer, cb?: () => void) {
      const t = monoNowMs();
      const ms = writeMs(starts.length);
      starts.push(t);
      while (monoNowMs() - t < ms);
      cb?.();
      return true;
    },
  };
  return fakeListener(socket);
}

/**
 * Runs a pacer over CHUNKS chunks of one station with `n` listeners whose writes take `writeMs`
 * each; returns, per chunk, when its first and last write began relative to its due time, and the
 * pacer's head start after the run.
 */
async function run(
  n: number,
  writeMs: number | ((chunk: number) => number),
): Promise<{ first: number[]; last: number[]; aheadMs: number; fanoutMs: number[] }> {
  const ring = publishedRing();
  // Chunk 0 is due 100 ms from now.
  const st = station(ring, monoNowMs() + LEAD_MS + 100);
  const perListener: number[][] = [];
  for (let i = 0; i < n; i++) {
    const starts: number[] = [];
    perListener.push(starts);
    st.listeners.add(slowListener(typeof writeMs === 'number' ? () => writeMs : writeMs, starts));
  }
  let published = 0;
  const fanoutMs: number[] = [];
  let done: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const observer = {
    chunkPublished: (_st: Station, _seq: number, _late: number, _sends: Int32Array, fanoutS?: number) => {
      fanoutMs.push(fanoutS! * 1000);
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
  return { first, last, aheadMs, fanoutMs };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('pacer fan-out compensation', { timeout: 60_000 }, () => {
  it('starts a slow fan-out early by its measured length, so the last listener is not that late', async () => {
    // 40 listeners × 0.75 ms: a 30 ms fan-out, as 5,000 loopback sockets take.
    const { first, last, aheadMs, fanoutMs: reported } = await run(40, 0.75);
    const fanoutMs = 40 * 0.75;
    // Each fan-out's own length reaches the observer (auralis_fanout_seconds): at least the writes' sum.
    assert.equal(reported.length, CHUNKS);
    for (const f of reported) assert.ok(f >= fanoutMs && f < 10_000, `fan-out reported as ${f} ms`);
    // The head start converged to the fan-out time (at least; a loaded machine only lengthens it).
    assert.ok(aheadMs >= fanoutMs * 0.8, `head start ${aheadMs.toFixed(1)} ms for a ${fanoutMs} ms fan-out`);
    assert.ok(aheadMs <= CHUNK_MS * MAX_SEND_AHEAD_CHUNK_SHARE);
    // The precondition: the first chunk had no measure yet, so it started at its due time.
    assert.ok(first[0]! >= 0, `chunk 0 started ${first[0]!.toFixed(1)} ms from due`);
    assert.ok(last[0]! >= fanoutMs * 0.9, `chunk 0's last write ${last[0]!.toFixed(1)} ms after due`);
    // Once measured (after 12 chunks the mean holds 80 % of it), chunks start before their due time,
    // and the last write begins sooner after due than a fan-out started at its due time can (every
    // write takes its 0.75 ms, so that would be ≥ 29 ms).
    const steady = (xs: number[]): number[] => xs.slice(12);
    assert.ok(
      median(steady(first)) < -fanoutMs / 2,
      `first writes ${steady(first).map((x) => x.toFixed(1))}`,
    );
    assert.ok(median(steady(last)) < fanoutMs * 0.9, `last writes ${steady(last).map((x) => x.toFixed(1))}`);
  });

  it('starts early enough for the longer fan-outs too, not only the mean one', async () => {
    // Fan-outs of 16 and 32 ms in turn (40 listeners × 0.4 or 0.8 ms): a head start of the mean
    // (24 ms) would end every long one about 8 ms late; mean + 2 deviations covers it.
    const long = (chunk: number): boolean => chunk % 2 === 1;
    const { first, last, aheadMs } = await run(40, (chunk) => (long(chunk) ? 0.8 : 0.4));
    assert.ok(aheadMs >= 32 * 0.9, `head start ${aheadMs.toFixed(1)} ms`);
    // The precondition: the fan-outs did differ (the long ones' last write starts later).
    const steady = last.map((x, seq) => ({ x, seq })).slice(12);
    const lastOf = (wantLong: boolean): number[] =>
      steady.filter((c) => long(c.seq) === wantLong).map((c) => c.x);
    assert.ok(
      median(lastOf(true)) > median(lastOf(false)) + 8,
      `last writes ${last.map((x) => x.toFixed(1))}`,
    );
    // The long fan-outs start early by about their own length (32 ms), not by the mean's 24 ms: on a
    // quiet machine their last write then begins before the chunk is due. Asserted on the start,
    // which a busy machine's preemption in the middle of a fan-out cannot move, with a margin for
    // timer lateness.
    const firstOf = steady.filter((c) => long(c.seq)).map((c) => first[c.seq]!);
    assert.ok(median(firstOf) < -24, `long fan-outs' first writes ${firstOf.map((x) => x.toFixed(1))}`);
  });

  it('never starts more than half a chunk early, whatever the fan-out takes', async () => {
    // 40 listeners × 1.5 ms: 60 ms, over the 50 ms bound.
    const { first, aheadMs } = await run(40, 1.5);
    assert.ok(aheadMs > 50 * 0.9, `head start ${aheadMs.toFixed(1)} ms`);
    assert.equal(aheadMs, CHUNK_MS * MAX_SEND_AHEAD_CHUNK_SHARE);
    for (const f of first)
      assert.ok(f >= -CHUNK_MS * MAX_SEND_AHEAD_CHUNK_SHARE - 1, `started ${f} ms from due`);
  });
});
