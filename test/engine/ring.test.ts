import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OpusChunkEncoder } from '../../src/codec/opus-encoder.ts';
import {
  ChunkRing,
  HOLD_NONE,
  maxOpusPacketBytesFor,
  ringLayout,
  SINGLE_TIER,
} from '../../src/engine/ring.ts';

const TIERS = { kbps: [24, 48, 96, 160], defaultKbps: 96 };

describe('chunk ring layout with Opus tiers', () => {
  it('gives each tier its own Opus and Ogg regions, sized from its bitrate, none overlapping', () => {
    const layout = ringLayout(80, 4800, 2, 128_000, TIERS);
    assert.equal(layout.defaultTier, 2);
    assert.deepEqual(
      layout.tiers.map((t) => t.kbps),
      [24, 48, 96, 160],
    );
    // Regions grow with the bitrate, and the default tier's are the ones readers without tiers get.
    for (let i = 1; i < layout.tiers.length; i++) {
      assert.ok(layout.tiers[i]!.opusRegionBytes > layout.tiers[i - 1]!.opusRegionBytes);
      assert.ok(layout.tiers[i]!.maxPacketBytes > layout.tiers[i - 1]!.maxPacketBytes);
    }
    assert.equal(layout.opusRegionBytes, layout.tiers[2]!.opusRegionBytes);
    assert.equal(layout.oggRegionBytes, layout.tiers[2]!.oggRegionBytes);
    // 24 kb/s: 60 bytes a 20 ms packet nominally; room for 2.5 × that plus 32.
    assert.equal(maxOpusPacketBytesFor(24), 182);
    assert.equal(maxOpusPacketBytesFor(510), 1276);
    // Every region lies inside the slot and no two overlap.
    const regions = [
      ...layout.tiers.flatMap((t): [number, number][] => [
        [t.opusOffset, t.opusRegionBytes],
        [t.oggOffset, t.oggRegionBytes],
      ]),
      [layout.pcmOffset, layout.pcmRegionBytes],
      [layout.mp3Offset, layout.mp3RegionBytes],
    ].sort((a, b) => a[0]! - b[0]!);
    for (let i = 0; i < regions.length; i++) {
      const [at, len] = regions[i]!;
      assert.ok(len > 0 && at + len <= layout.slotBytes);
      if (i > 0) assert.ok(regions[i - 1]![0] + regions[i - 1]![1] <= at, `region ${i} overlaps`);
    }
    // An encoder bounded to the tier's packet size fits the tier's region (header + prefix included).
    for (const t of layout.tiers) {
      assert.ok(42 + OpusChunkEncoder.maxBytes(4800, t.maxPacketBytes) <= t.opusRegionBytes);
    }
    assert.throws(() => ringLayout(8, 4800, 2, 128_000, { kbps: [24, 48], defaultKbps: 96 }), /not a tier/);
  });

  it('stores the lengths of each tier per slot; the default tier answers the tier-less readers', () => {
    const ring = ChunkRing.create(4, 4800, 128_000, TIERS);
    ring.setTier(0, 0, ring.opusRegion(0, 0) + 6, 100, 130);
    ring.setTier(0, 1, 0, 0, 0);
    ring.setTier(0, 3, 0, 0, 0);
    ring.publish(0, ring.opusRegion(0) + 6, 300, ring.pcmRegion(0) + 6, 19_242, 340, 0);
    assert.ok(ring.has(0));
    assert.equal(ring.opusFrameLength(0), 300);
    assert.equal(ring.opusFrameLength(0, 2), 300);
    assert.equal(ring.opusFrameStart(0), ring.opusRegion(0, 2) + 6);
    assert.equal(ring.oggPageLength(0), 340);
    assert.equal(ring.opusFrameLength(0, 0), 100);
    assert.equal(ring.opusFrameStart(0, 0), ring.opusRegion(0, 0) + 6);
    assert.equal(ring.oggPageLength(0, 0), 130);
    assert.equal(ring.oggPageStart(0, 0), ring.oggRegion(0, 0));
    assert.equal(ring.opusFrameLength(0, 1), 0, 'a tier not encoded for the chunk has length 0');
    assert.equal(ring.oggPageLength(0, 3), 0);
  });

  it('costs what a single 96 kb/s stream cost before tiers, plus the other tiers sized by bitrate', () => {
    const single = ringLayout(80, 4800, 2, 128_000, SINGLE_TIER);
    const tiers = ringLayout(80, 4800, 2, 128_000, TIERS);
    // Printed for the record (docs/ARCHITECTURE.md "Bitrate tiers" quotes these).
    console.log(
      `ring bytes per station (80 slots of 100 ms): one tier ${single.totalBytes}, four ${tiers.totalBytes}`,
    );
    assert.ok(tiers.totalBytes > single.totalBytes);
    assert.ok(tiers.totalBytes < 2 * single.totalBytes, 'four tiers cost less than twice one');
  });
});

describe('ring slots held by the main thread (HOLD)', () => {
  /** Publishes `seq` with the lengths of an empty chunk (the bytes do not matter here). */
  function publish(ring: ChunkRing, seq: number): void {
    ring.publish(seq, ring.opusRegion(seq), 0, ring.pcmRegion(seq), 0, 0);
  }

  it('a fresh or reset ring holds nothing: every chunk may be written', () => {
    const ring = ChunkRing.create(4, 4800);
    assert.equal(ring.held(), HOLD_NONE);
    for (let seq = 0; seq < 12; seq++) {
      assert.ok(ring.mayWrite(seq), `chunk ${seq}`);
      publish(ring, seq);
    }
    ring.pin(10);
    ring.reset();
    assert.equal(ring.held(), HOLD_NONE);
  });

  it('a pinned chunk keeps its slot until released; the writer stops one ring later', () => {
    const ring = ChunkRing.create(4, 4800);
    for (let seq = 0; seq < 3; seq++) publish(ring, seq);
    assert.ok(ring.pin(1));
    assert.equal(ring.held(), 1);
    // Chunks 3 and 4 go into the slots of chunks −1 and 0; chunk 5 would overwrite chunk 1.
    assert.ok(ring.mayWrite(3));
    publish(ring, 3);
    assert.ok(ring.mayWrite(4));
    publish(ring, 4);
    assert.equal(ring.mayWrite(5), false);
    assert.ok(ring.has(1), 'the held chunk is still there');
    // A later pin never raises the hold; releasing does.
    assert.ok(ring.pin(3));
    assert.equal(ring.held(), 1);
    ring.release(3);
    assert.ok(ring.mayWrite(5) && ring.mayWrite(6) && !ring.mayWrite(7));
    ring.release(HOLD_NONE);
    assert.ok(ring.mayWrite(7) && ring.mayWrite(1000));
  });

  it('pin refuses a chunk not published, overwritten, or in the slot the writer may be filling', () => {
    const ring = ChunkRing.create(4, 4800);
    assert.equal(ring.pin(0), false, 'not published');
    for (let seq = 0; seq < 6; seq++) publish(ring, seq);
    ring.release(HOLD_NONE);
    // Published 0…5: slots hold 2…5. The writer's next chunk, 6, goes into chunk 2's slot.
    assert.equal(ring.pin(1), false, 'overwritten');
    assert.equal(ring.pin(2), false, 'the writer may be rewriting it now');
    assert.equal(ring.held(), HOLD_NONE, 'a refused chunk is not held');
    assert.equal(ring.pin(3), true);
    assert.equal(ring.mayWrite(6), true, "chunk 2's slot is free");
    assert.equal(ring.mayWrite(7), false, "chunk 3's slot is held");
    assert.equal(ring.pin(6), false, 'not published yet');
  });
});
