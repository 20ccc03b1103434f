import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { FLAG_DISCONTINUITY, HEADER_OFFSET, setDiscontinuityFlag } from '../../src/codec/frame-header.ts';
import { ChunkWireError, decodeChunkInto, encodeChunk } from '../../src/cluster/chunk-wire.ts';
import {
  CHUNK_HEADER_BYTES,
  ChunkRing,
  WS_PREFIX_BYTES,
  writeWsBinaryHeader,
} from '../../src/engine/ring.ts';

const TIERS = { kbps: [24, 96, 128], defaultKbps: 96 };

/** Writes chunk `seq` as an engine worker would: random payloads; tier 0 (24 kb/s) left out. */
function writeChunk(ring: ChunkRing, seq: number, mp3Bytes: number): void {
  const b = ring.bytes;
  const frame = (region: number, payload: number): [number, number] => {
    const end = region + WS_PREFIX_BYTES;
    b.set(randomBytes(CHUNK_HEADER_BYTES + payload), end);
    const start = writeWsBinaryHeader(b, end, CHUNK_HEADER_BYTES + payload);
    return [start, end - start + CHUNK_HEADER_BYTES + payload];
  };
  const [t2s, t2l] = frame(ring.opusRegion(seq, 2), 700);
  b.set(randomBytes(760), ring.oggRegion(seq, 2));
  ring.setTier(seq, 2, t2s, t2l, 760);
  ring.setTier(seq, 0, 0, 0, 0);
  const [os, ol] = frame(ring.opusRegion(seq, 1), 500);
  b.set(randomBytes(560), ring.oggRegion(seq, 1));
  const [ps, pl] = frame(ring.pcmRegion(seq), 4800 * 4);
  b.set(randomBytes(mp3Bytes), ring.mp3Region(seq));
  ring.publish(seq, os, ol, ps, pl, 560, mp3Bytes);
}

const view = (ring: ChunkRing, start: number, len: number): Buffer => Buffer.from(ring.sab, start, len);

test('a chunk goes through the wire into another ring byte for byte, at the same offsets', () => {
  const origin = ChunkRing.create(16, 4800, 128_000, TIERS);
  const edge = ChunkRing.create(16, 4800, 128_000, TIERS);
  for (const seq of [0, 1, 2, 17]) {
    writeChunk(origin, seq, seq === 1 ? 0 : 1700);
    assert.equal(decodeChunkInto(edge, encodeChunk(origin, seq)), seq);
    assert.equal(edge.published(), seq + 1);
    assert.ok(edge.has(seq));
    for (let t = 0; t < 3; t++) {
      assert.equal(edge.opusFrameLength(seq, t), origin.opusFrameLength(seq, t), `tier ${t}`);
      const len = origin.opusFrameLength(seq, t);
      if (len > 0)
        assert.equal(
          edge.opusFrameStart(seq, t) - edge.opusRegion(seq, t),
          origin.opusFrameStart(seq, t) - origin.opusRegion(seq, t),
        );
      assert.ok(
        view(edge, edge.opusFrameStart(seq, t), len).equals(view(origin, origin.opusFrameStart(seq, t), len)),
      );
      const page = origin.oggPageLength(seq, t);
      assert.equal(edge.oggPageLength(seq, t), page);
      assert.ok(
        view(edge, edge.oggPageStart(seq, t), page).equals(view(origin, origin.oggPageStart(seq, t), page)),
      );
    }
    assert.equal(edge.opusFrameLength(seq, 0), 0, 'a tier not encoded stays empty');
    const pl = origin.pcmFrameLength(seq);
    assert.ok(view(edge, edge.pcmFrameStart(seq), pl).equals(view(origin, origin.pcmFrameStart(seq), pl)));
    const ml = origin.mp3Length(seq);
    assert.equal(edge.mp3Length(seq), ml);
    assert.ok(view(edge, edge.mp3Region(seq), ml).equals(view(origin, origin.mp3Region(seq), ml)));
  }
});

test('a chunk that does not fit the ring is refused and nothing is published', () => {
  const origin = ChunkRing.create(16, 4800, 128_000, TIERS);
  writeChunk(origin, 3, 1700);
  const wire = encodeChunk(origin, 3);
  const otherTiers = ChunkRing.create(16, 4800, 128_000, { kbps: [96], defaultKbps: 96 });
  assert.throws(() => decodeChunkInto(otherTiers, wire), ChunkWireError);
  assert.equal(otherTiers.published(), 0);
  const same = ChunkRing.create(16, 4800, 128_000, TIERS);
  assert.throws(() => decodeChunkInto(same, wire.subarray(0, wire.length - 1)), /header says/);
  assert.throws(() => decodeChunkInto(same, wire.subarray(0, 6)), ChunkWireError);
  const smallMp3 = ChunkRing.create(16, 4800, 32_000, TIERS);
  assert.throws(() => decodeChunkInto(smallMp3, wire), /does not fit/);
  assert.equal(same.published(), 0);
  assert.equal(smallMp3.published(), 0);
});

test('a chunk can be sent flagged as a discontinuity without touching the ring', () => {
  const origin = ChunkRing.create(16, 4800, 128_000, TIERS);
  const edge = ChunkRing.create(16, 4800, 128_000, TIERS);
  writeChunk(origin, 5, 0);
  // The header's flags byte (the writer's header bytes here are random: only the flag bit counts).
  const flagsAt = (ring: ChunkRing, region: number): number =>
    ring.bytes[region + WS_PREFIX_BYTES + HEADER_OFFSET.flags]!;
  // The writer's random header bytes: clear the flag in the ring first.
  for (const t of [1, 2])
    setDiscontinuityFlag(origin.bytes, origin.opusRegion(5, t) + WS_PREFIX_BYTES, false);
  setDiscontinuityFlag(origin.bytes, origin.pcmRegion(5) + WS_PREFIX_BYTES, false);
  decodeChunkInto(edge, encodeChunk(origin, 5, true));
  for (const t of [1, 2]) {
    assert.equal(flagsAt(edge, edge.opusRegion(5, t)) & FLAG_DISCONTINUITY, 1, `tier ${t}`);
    assert.equal(flagsAt(origin, origin.opusRegion(5, t)) & FLAG_DISCONTINUITY, 0);
  }
  assert.equal(flagsAt(edge, edge.pcmRegion(5)) & FLAG_DISCONTINUITY, 1);
  assert.equal(flagsAt(origin, origin.pcmRegion(5)) & FLAG_DISCONTINUITY, 0);
});
