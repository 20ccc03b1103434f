import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CODEC_OPUS, readFrameHeader, tierFlags } from '../../src/codec/frame-header.ts';
import type { EngineStation } from '../../src/engine/engine-host.ts';
import {
  CHUNK_HEADER_BYTES,
  ChunkRing,
  WS_PREFIX_BYTES,
  writeWsBinaryHeader,
} from '../../src/engine/ring.ts';
import type { Listener } from '../../src/server/broadcast/listener.ts';
import { fakeListener } from './fake-listener.ts';
import { Pacer, type PacerObserver } from '../../src/server/broadcast/pacer.ts';
import { Station } from '../../src/server/station.ts';
import { DEFAULT_PARAMS } from '../../src/music/params.ts';

const TIERS = { kbps: [24, 48, 96, 160], defaultKbps: 96 };

/** A ring of 4 published chunks: the default tier (2) in each, tier 0 from chunk 2 on. */
function ringWithTiers(): ChunkRing {
  const ring = ChunkRing.create(40, 4800, 128_000, TIERS);
  const frame = (seq: number, tier: number): [number, number] => {
    const headerAt = ring.opusRegion(seq, tier) + WS_PREFIX_BYTES;
    // A header naming the tier, then 10 bytes of payload marked with it.
    const h = { version: 1, codec: CODEC_OPUS, channels: 2, sampleRate: 48_000, frames: 4800 };
    const b = Buffer.from(ring.sab);
    b.fill(0, headerAt, headerAt + CHUNK_HEADER_BYTES);
    b[headerAt] = h.version;
    b[headerAt + 1] = h.codec;
    b[headerAt + 2] = h.channels;
    b[headerAt + 3] = tierFlags(tier);
    b.writeUInt32LE(h.sampleRate, headerAt + 4);
    b.writeUInt32LE(seq, headerAt + 8);
    b.writeUInt32LE(h.frames, headerAt + 12);
    b.writeDoubleLE(seq * 4800, headerAt + 16);
    b.fill(0x10 + tier, headerAt + CHUNK_HEADER_BYTES, headerAt + CHUNK_HEADER_BYTES + 10);
    const start = writeWsBinaryHeader(ring.bytes, headerAt, CHUNK_HEADER_BYTES + 10);
    return [start, headerAt + CHUNK_HEADER_BYTES + 10 - start];
  };
  for (let seq = 0; seq < 4; seq++) {
    if (seq >= 2) {
      const [s, n] = frame(seq, 0);
      ring.setTier(seq, 0, s, n, 0);
    }
    const [s, n] = frame(seq, 2);
    ring.publish(seq, s, n, 0, 0, 0, 0);
  }
  return ring;
}

function station(ring: ChunkRing): Station {
  const engine = {
    id: 'x',
    ring,
    chunkMs: 100,
    chunkFrames: 4800,
    startMonoMs: 0,
  } as unknown as EngineStation;
  const st = new Station({ id: 'x', personal: false, seed: 1, params: { ...DEFAULT_PARAMS }, engine });
  st.nextSeq = 4;
  return st;
}

function listener(queued: { value: number }): Listener & { writes: Buffer[]; switches: number[][] } {
  const writes: Buffer[] = [];
  const socket = {
    destroyed: false,
    writable: true,
    get writableLength() {
      return queued.value;
    },
    write(b: Buffer, cb?: () => void) {
      writes.push(Buffer.from(b));
      cb?.();
      return true;
    },
  };
  const switches: number[][] = [];
  return fakeListener(socket, {
    discontinuity: true,
    tier: 2,
    wantTier: 0,
    tierSwitched: (fromSeq: number, fromTier: number) => void switches.push([fromSeq, fromTier]),
    writes,
    switches,
  });
}

const observer = {
  listenerSent: () => {},
  listenerSkipped: () => {},
  listenerDropped: () => assert.fail('not dropped'),
} as unknown as PacerObserver;

describe('pacer and Opus tiers', () => {
  it('sends the default tier until the asked tier has bytes, then switches once, keeping the tier bits under the discontinuity flag', () => {
    const ring = ringWithTiers();
    const pacer = new Pacer({ leadMs: 150, listenerQueueBytes: 1 << 20, stallTimeoutMs: 5000, observer });
    const l = listener({ value: 0 });
    pacer.burst(station(ring), l, 4);
    // Skip the WebSocket frame header (2 bytes for these small frames).
    const flags = l.writes.map((w) => readFrameHeader(w.subarray(2)).flags);
    const payload = l.writes.map((w) => w[2 + CHUNK_HEADER_BYTES]);
    assert.deepEqual(flags, [0x21, 0x20, 0x00, 0x00], 'default tier (2) with the flag, then tier 0');
    assert.deepEqual(payload, [0x12, 0x12, 0x10, 0x10]);
    assert.deepEqual(l.switches, [[2, 2]], 'told once, right before chunk 2');
    assert.equal(l.tier, 0);
    // The shared ring bytes were not touched by the flagged copy.
    assert.equal(ring.bytes[ring.opusRegion(0, 2) + WS_PREFIX_BYTES + 3], 0x20);
  });

  it('bounds the queue of a listener by the tier of the chunk it is sent', () => {
    const ring = ringWithTiers();
    const pacer = new Pacer({
      leadMs: 150,
      listenerQueueBytes: 1000,
      tierQueueBytes: [100, 200, 1000, 1000],
      stallTimeoutMs: 5000,
      observer,
    });
    const queued = { value: 150 };
    const l = listener(queued);
    l.discontinuity = false;
    pacer.burst(station(ring), l, 4);
    // 150 bytes queued: within the default tier's 1000, over tier 0's 100.
    assert.equal(l.writes.length, 2, 'chunks 0 and 1 (default tier) sent');
    assert.equal(l.skipped, 2, 'chunks 2 and 3 (tier 0) skipped');
    assert.deepEqual(l.switches, [], 'a skipped chunk does not switch the listener');
    assert.equal(l.tier, 2);
  });
});
