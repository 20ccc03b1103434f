import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFrameHeader, tierOfFlags } from '../../src/codec/frame-header.ts';
import { splitOpusPackets } from '../../src/codec/opus-wire.ts';
import { ChunkRing, HOLD_NONE, WS_PREFIX_BYTES, type RingTierOptions } from '../../src/engine/ring.ts';
import { OpusEncoderPool } from '../../src/engine/encoder-pool.ts';
import { ChunkEncodeError, TIER_WARMUP_CHUNKS, WorkerStation } from '../../src/engine/worker-station.ts';
import { DEFAULT_PARAMS } from '../../src/music/params.ts';

const CHUNK_FRAMES = 4800;
const CHUNK_MS = 100;
const LEAD_MS = 150;

function station(
  startSeq = 0,
  mp3 = false,
  tiers?: RingTierOptions,
  tierWish = 0,
): { st: WorkerStation; ring: ChunkRing } {
  const ring = ChunkRing.create(40, CHUNK_FRAMES, 128_000, tiers);
  const st = new WorkerStation({
    type: 'add',
    id: 'test',
    seed: 3,
    params: { ...DEFAULT_PARAMS },
    chunkFrames: CHUNK_FRAMES,
    startSeq,
    startMonoMs: 1_000_000,
    wallOffsetMs: 1_790_000_000_000,
    ring: ring.sab,
    layout: ring.layout,
    discontinuity: startSeq > 0,
    opusBitrate: 96_000,
    opusComplexity: 5,
    mp3Bitrate: 128_000,
    wish: { mp3, tiers: tierWish },
  });
  return { st, ring };
}

/** The Opus chunk header of `seq` and its Ogg page sequence number. */
function published(ring: ChunkRing, seq: number): { flags: number; position: number; pageSeq: number } {
  assert.ok(ring.has(seq), `chunk ${seq} is published`);
  // The 32-byte header follows the WebSocket frame prefix, inside the published frame.
  const headerAt = ring.opusRegion(seq) + WS_PREFIX_BYTES;
  assert.ok(ring.opusFrameStart(seq) < headerAt);
  assert.ok(ring.opusFrameStart(seq) + ring.opusFrameLength(seq) > headerAt + 32);
  const h = readFrameHeader(ring.bytes.subarray(headerAt));
  const page = Buffer.from(ring.sab, ring.oggPageStart(seq), ring.oggPageLength(seq));
  assert.equal(page.toString('latin1', 0, 4), 'OggS');
  return { flags: h.flags, position: h.positionFrames, pageSeq: page.readUInt32LE(18) };
}

describe('engine worker station faults', () => {
  it('re-encodes a chunk with a new encoder after one encoder error: published, flagged, nothing lost', () => {
    const { st, ring } = station();
    st.renderNext();
    st.failEncodes = 1;
    st.renderNext();
    assert.match(st.recoveredError ?? '', /chunk 1 failed \(injected encoder fault\); encoded again/);
    st.recoveredError = null;
    st.renderNext();
    assert.equal(ring.published(), 3);
    assert.deepEqual(
      [0, 1, 2].map((s) => published(ring, s)),
      [
        { flags: 0, position: 0, pageSeq: 2 },
        { flags: 1, position: CHUNK_FRAMES, pageSeq: 3 },
        { flags: 0, position: 2 * CHUNK_FRAMES, pageSeq: 4 },
      ],
    );
  });

  it('drops a chunk whose retry fails too: not published, the next flagged, a hole in the Ogg pages', () => {
    const { st, ring } = station();
    st.renderNext();
    st.failEncodes = 2;
    st.failPersistent = true;
    for (const seq of [1, 2]) {
      assert.throws(
        () => st.renderNext(),
        (e: unknown) => e instanceof ChunkEncodeError && e.seq === seq,
      );
    }
    st.renderNext();
    assert.ok(!ring.has(1) && !ring.has(2), 'the failed chunks are not published');
    assert.equal(ring.published(), 4);
    assert.deepEqual(published(ring, 3), { flags: 1, position: 3 * CHUNK_FRAMES, pageSeq: 5 });
    assert.equal(st.failEncodes, 0);
  });

  it('jumps to the chunk due now when overdue, keeping positions and parameter changes on the station clock', () => {
    const { st, ring } = station();
    st.renderNext();
    st.renderNext();
    // Not late: nothing skipped.
    assert.equal(st.skipLate(1_000_000 + 150, LEAD_MS, 10 * CHUNK_MS), 0);
    // The process was stopped 5 s: chunk 2 is 4.8 s overdue.
    const nowMs = 1_000_000 + 5000;
    const skipped = st.skipLate(nowMs, LEAD_MS, 10 * CHUNK_MS);
    const dueSeq = Math.floor((nowMs + LEAD_MS - 1_000_000) / CHUNK_MS);
    assert.equal(skipped, dueSeq - 2);
    assert.equal(st.nextSequence, dueSeq);
    st.renderNext();
    assert.deepEqual(published(ring, dueSeq), {
      flags: 1,
      position: dueSeq * CHUNK_FRAMES,
      pageSeq: 2 + dueSeq,
    });
    // A change asked for now is heard at or after the audio already rendered, never in the past.
    const { effectiveAt } = st.change({ bpm: 90 }, 0, 150);
    assert.ok(
      effectiveAt >= (dueSeq + 1) * CHUNK_FRAMES,
      `effective at ${effectiveAt}, already rendered up to ${(dueSeq + 1) * CHUNK_FRAMES}`,
    );
    assert.ok(effectiveAt < (dueSeq + 1) * CHUNK_FRAMES + 48_000 * 8, 'within a couple of bars');
  });

  it('continues the Ogg page numbering when a restarted worker resumes a station', () => {
    const { st, ring } = station(57);
    st.renderNext();
    assert.deepEqual(published(ring, 57), { flags: 1, position: 57 * CHUNK_FRAMES, pageSeq: 2 + 57 });
  });
});

describe('engine worker station MP3', () => {
  it('encodes MP3 only while switched on: whole frames at each chunk start, none while off', () => {
    const { st, ring } = station();
    try {
      for (let i = 0; i < 3; i++) st.renderNext();
      assert.deepEqual(
        [0, 1, 2].map((s) => ring.mp3Length(s)),
        [0, 0, 0],
      );
      assert.equal(st.mp3Encoding, false);
      assert.equal(st.takeStats(0, LEAD_MS).mp3, false);
      st.setMp3(true);
      for (let i = 0; i < 20; i++) st.renderNext();
      const stats = st.takeStats(0, LEAD_MS);
      assert.equal(stats.mp3, true);
      assert.equal(stats.encodeMp3Seconds.length, 20);
      let total = 0;
      for (let seq = 3; seq < 23; seq++) {
        const n = ring.mp3Length(seq);
        assert.ok(n <= ring.layout.mp3RegionBytes);
        total += n;
        if (n === 0) continue;
        const at = ring.mp3Region(seq);
        // Each chunk's bytes are whole 384-byte frames (128 kb/s, 48 kHz), the first at the region's start.
        assert.equal(n % 384, 0, `chunk ${seq}: ${n} bytes`);
        for (let f = at; f < at + n; f += 384) {
          assert.equal(ring.bytes[f], 0xff);
          assert.equal(ring.bytes[f + 1]! & 0xe0, 0xe0);
        }
      }
      // 2 s of audio: about 83 frames; the encoder holds back a few.
      assert.ok(total >= 75 * 384 && total <= 84 * 384, `${total} bytes`);
      st.setMp3(false);
      st.renderNext();
      assert.equal(ring.mp3Length(23), 0);
      assert.equal(st.takeStats(0, LEAD_MS).mp3, false);
    } finally {
      st.takeEncoder().close();
    }
  });

  it('a station added with MP3 on (after a worker restart) encodes from its first chunk', () => {
    const { st, ring } = station(0, true);
    try {
      for (let i = 0; i < 5; i++) st.renderNext();
      assert.equal(st.mp3Encoding, true);
      assert.ok([0, 1, 2, 3, 4].reduce((a, s) => a + ring.mp3Length(s), 0) > 0);
    } finally {
      st.takeEncoder().close();
      assert.equal(st.mp3Encoding, false);
    }
  });
});

describe('engine worker station Opus tiers', () => {
  const TIERS: RingTierOptions = { kbps: [24, 48, 96, 160], defaultKbps: 96 };

  /** Tier `tier`'s frame of `seq`: its header and payload, or null when the ring has none. */
  function tierChunk(
    ring: ChunkRing,
    seq: number,
    tier: number,
  ): { flags: number; payload: Buffer; pageSeq: number } | null {
    assert.ok(ring.has(seq));
    const len = ring.opusFrameLength(seq, tier);
    if (len === 0) {
      assert.equal(ring.oggPageLength(seq, tier), 0, 'no Ogg page without the frame');
      return null;
    }
    const headerAt = ring.opusRegion(seq, tier) + WS_PREFIX_BYTES;
    const end = ring.opusFrameStart(seq, tier) + len;
    const h = readFrameHeader(ring.bytes.subarray(headerAt));
    const page = Buffer.from(ring.sab, ring.oggPageStart(seq, tier), ring.oggPageLength(seq, tier));
    assert.equal(page.toString('latin1', 0, 4), 'OggS');
    return {
      flags: h.flags,
      payload: Buffer.from(ring.bytes.subarray(headerAt + 32, end)),
      pageSeq: page.readUInt32LE(18),
    };
  }

  it('encodes a tier only while wished: nothing before, after a warm-up of 2 chunks its bytes, nothing after', () => {
    const { st, ring } = station(0, false, TIERS);
    try {
      for (let i = 0; i < 3; i++) st.renderNext();
      for (let seq = 0; seq < 3; seq++) {
        assert.equal(tierChunk(ring, seq, 0), null, `seq ${seq}: 24 kb/s not wished`);
        // The default tier is there, and its header names it (index 2).
        assert.equal(tierOfFlags(tierChunk(ring, seq, 2)!.flags), 2);
      }
      assert.equal(st.takeStats(0, LEAD_MS).opusTiers, 0b0100, 'only the default tier');
      st.setTiers(0b0001);
      assert.equal(TIER_WARMUP_CHUNKS, 2);
      for (let i = 0; i < 12; i++) st.renderNext();
      assert.equal(tierChunk(ring, 3, 0), null, 'warm-up chunk 1 not published');
      assert.equal(tierChunk(ring, 4, 0), null, 'warm-up chunk 2 not published');
      let bytes = 0;
      for (let seq = 5; seq < 15; seq++) {
        const c = tierChunk(ring, seq, 0)!;
        assert.ok(c, `seq ${seq} has 24 kb/s bytes`);
        assert.equal(c.flags, 0, 'tier index 0, no discontinuity');
        // Same Ogg page numbering as the default tier: one stream can switch between them.
        assert.equal(c.pageSeq, tierChunk(ring, seq, 2)!.pageSeq);
        assert.equal(splitOpusPackets(c.payload).length, 5);
        bytes += c.payload.length;
        assert.equal(tierChunk(ring, seq, 1), null, '48 kb/s still off');
      }
      // 1 s at 24 kb/s is 3000 bytes of packets (+ 2-byte length prefixes); VBR varies a little.
      assert.ok(bytes > 2000 && bytes < 4500, `${bytes} bytes in 1 s at 24 kb/s`);
      const stats = st.takeStats(0, LEAD_MS);
      assert.equal(stats.opusTiers, 0b0101);
      assert.equal(stats.encodeOpusSeconds.length, 12, 'one encode time a chunk, all tiers together');
      st.setTiers(0);
      st.renderNext();
      assert.equal(tierChunk(ring, 15, 0), null, 'withdrawn: no more bytes');
      assert.equal(st.takeStats(0, LEAD_MS).opusTiers, 0b0100);
    } finally {
      st.takeEncoder().close();
    }
  });

  it('a station added with a tier wished (a restarted worker) warms it up and publishes it', () => {
    const { st, ring } = station(30, false, TIERS, 0b1000);
    try {
      for (let i = 0; i < 4; i++) st.renderNext();
      assert.equal(tierChunk(ring, 31, 3), null);
      const c = tierChunk(ring, 32, 3)!;
      assert.equal(tierOfFlags(c.flags), 3);
      assert.equal(c.pageSeq, 2 + 32);
    } finally {
      st.takeEncoder().close();
    }
  });
});

describe('engine worker station tier encoders', () => {
  it('takes a tier encoder from the worker pool and gives it back when the tier stops', () => {
    const ring = ChunkRing.create(40, CHUNK_FRAMES, 128_000, { kbps: [24, 96], defaultKbps: 96 });
    const pool = new OpusEncoderPool(4);
    const st = new WorkerStation(
      {
        type: 'add',
        id: 'pool',
        seed: 3,
        params: { ...DEFAULT_PARAMS },
        chunkFrames: CHUNK_FRAMES,
        startSeq: 0,
        startMonoMs: 1_000_000,
        wallOffsetMs: 0,
        ring: ring.sab,
        layout: ring.layout,
        discontinuity: false,
        opusBitrate: 96_000,
        opusComplexity: 5,
        mp3Bitrate: 128_000,
        wish: { mp3: false, tiers: 0 },
      },
      undefined,
      pool,
    );
    try {
      st.setTiers(0b01);
      for (let i = 0; i < 4; i++) st.renderNext();
      assert.ok(ring.opusFrameLength(3, 0) > 0, 'the 24 kb/s tier is published after its warm-up');
      st.setTiers(0);
      assert.equal(pool.size, 1, 'its encoder went back to the pool');
      st.setTiers(0b01);
      assert.equal(pool.size, 0, 'and is taken again (reset) when the tier restarts');
      for (let i = 0; i < 3; i++) st.renderNext();
      assert.equal(ring.opusFrameLength(4, 0), 0, 'a restarted tier warms up again');
      assert.equal(ring.opusFrameLength(5, 0), 0);
      assert.ok(ring.opusFrameLength(6, 0) > 0);
    } finally {
      pool.give(st.takeEncoder());
      assert.equal(pool.size, 2, 'removing the station gives back every encoder');
    }
  });
});

describe('a station whose next slot is held by the main thread', () => {
  it('renders nothing into it, counts one wait and its length, and goes on once released', () => {
    const { st, ring } = station();
    for (let i = 0; i < 5; i++) st.renderNext();
    assert.ok(ring.pin(2));
    // 40 slots: chunks 5…41 go into free slots; chunk 42 would overwrite the held chunk 2.
    let rendered = 0;
    while (st.canWriteNext(1_000_000)) {
      st.renderNext();
      rendered++;
      assert.ok(rendered < 100, 'the writer never stopped');
    }
    assert.equal(st.nextSequence, 42);
    assert.equal(ring.published(), 42);
    assert.ok(ring.has(2), 'the held chunk is intact');
    assert.equal(st.waitingForRing, true);
    // Looking again while still held is the same wait, not a new one.
    assert.equal(st.canWriteNext(1_000_100), false);
    ring.release(HOLD_NONE);
    assert.equal(st.canWriteNext(1_000_250), true);
    assert.equal(st.waitingForRing, false);
    const stats = st.takeStats(1_000_300, LEAD_MS);
    assert.equal(stats.ringWaits, 1);
    assert.equal(stats.ringWaitSeconds, 0.25);
    const again = st.takeStats(1_001_300, LEAD_MS);
    assert.equal(again.ringWaits, 0, 'counted once');
    assert.equal(again.ringWaitSeconds, 0);
  });
});
