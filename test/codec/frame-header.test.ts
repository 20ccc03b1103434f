import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CodecError } from '../../src/codec/codec-error.ts';
import {
  CODEC_OPUS,
  CODEC_PCM_S16LE,
  FLAG_DISCONTINUITY,
  FRAME_HEADER_BYTES,
  FLAG_TIER_MASK,
  readFrameHeader,
  setDiscontinuityFlag,
  tierFlags,
  tierOfFlags,
  writeFrameHeader,
  type FrameHeader,
} from '../../src/codec/frame-header.ts';

const sample: FrameHeader = {
  version: 1,
  codec: CODEC_OPUS,
  channels: 2,
  flags: FLAG_DISCONTINUITY,
  sampleRate: 48_000,
  sequence: 0xdeadbeef,
  frames: 4800,
  positionFrames: 2 ** 40 + 4800,
  playTimeMs: 1_790_000_000_123.5,
};

test('writes every field at the offset and width PROTOCOL.md gives, little-endian', () => {
  const buf = new Uint8Array(FRAME_HEADER_BYTES + 8).fill(0xaa);
  writeFrameHeader(buf, 4, sample);
  assert.equal(FRAME_HEADER_BYTES, 32);
  // Bytes before and after the header are untouched.
  assert.deepEqual([...buf.subarray(0, 4)], [0xaa, 0xaa, 0xaa, 0xaa]);
  assert.deepEqual([...buf.subarray(36)], [0xaa, 0xaa, 0xaa, 0xaa]);
  const h = buf.subarray(4, 36);
  assert.deepEqual([...h.subarray(0, 4)], [1, 1, 2, 1]);
  assert.deepEqual([...h.subarray(4, 8)], [0x80, 0xbb, 0x00, 0x00]); // 48000
  assert.deepEqual([...h.subarray(8, 12)], [0xef, 0xbe, 0xad, 0xde]);
  assert.deepEqual([...h.subarray(12, 16)], [0xc0, 0x12, 0x00, 0x00]); // 4800
  const f64 = new DataView(h.buffer, h.byteOffset);
  assert.equal(f64.getFloat64(16, true), 2 ** 40 + 4800);
  assert.equal(f64.getFloat64(24, true), 1_790_000_000_123.5);
  // Independent check of the f64 byte order: 2^40+4800 as IEEE-754 little-endian.
  const expect = Buffer.alloc(8);
  expect.writeDoubleLE(2 ** 40 + 4800);
  assert.deepEqual([...h.subarray(16, 24)], [...expect]);
});

test('round-trips through readFrameHeader, also from a subarray of a larger buffer', () => {
  const buf = new Uint8Array(100);
  writeFrameHeader(buf, 17, sample);
  assert.deepEqual(readFrameHeader(buf.subarray(17)), sample);
  const pcm = { ...sample, codec: CODEC_PCM_S16LE, flags: 0, sequence: 0, positionFrames: 0 };
  writeFrameHeader(buf, 0, pcm);
  assert.deepEqual(readFrameHeader(buf), pcm);
});

test('wraps the sequence number modulo 2^32 instead of failing', () => {
  const buf = new Uint8Array(32);
  writeFrameHeader(buf, 0, { ...sample, sequence: 2 ** 32 + 5 });
  assert.equal(readFrameHeader(buf).sequence, 5);
});

test('sets and clears the discontinuity flag in place', () => {
  const buf = new Uint8Array(32);
  writeFrameHeader(buf, 0, { ...sample, flags: 0 });
  setDiscontinuityFlag(buf, 0, true);
  assert.equal(readFrameHeader(buf).flags, FLAG_DISCONTINUITY);
  setDiscontinuityFlag(buf, 0, false);
  assert.equal(readFrameHeader(buf).flags, 0);
});

test('carries the tier index in flags bits 4–7, next to the discontinuity flag, through a round trip', () => {
  const buf = new Uint8Array(32);
  for (const tier of [0, 1, 3, 15]) {
    for (const disc of [false, true]) {
      writeFrameHeader(buf, 0, { ...sample, flags: tierFlags(tier) | (disc ? FLAG_DISCONTINUITY : 0) });
      const h = readFrameHeader(buf);
      assert.equal(tierOfFlags(h.flags), tier);
      assert.equal((h.flags & FLAG_DISCONTINUITY) !== 0, disc);
      assert.equal(h.flags & 0b1110, 0, 'reserved bits stay 0');
      // Setting or clearing the discontinuity flag keeps the tier.
      setDiscontinuityFlag(buf, 0, !disc);
      assert.equal(tierOfFlags(readFrameHeader(buf).flags), tier);
    }
  }
  assert.equal(FLAG_TIER_MASK, 0xf0);
  assert.equal(buf[3]! & 0x0f, 0, 'tier 15 without the flag: only the high bits set');
});

test('rejects short and invalid headers with a typed error code', () => {
  const buf = new Uint8Array(32);
  writeFrameHeader(buf, 0, sample);
  const codeOf = (bytes: Uint8Array): string => {
    try {
      readFrameHeader(bytes);
    } catch (e) {
      assert.ok(e instanceof CodecError);
      return e.code;
    }
    return 'none';
  };
  assert.equal(codeOf(buf.subarray(0, 31)), 'SHORT_INPUT');
  const bad = (i: number, v: number): Uint8Array => {
    const c = buf.slice();
    c[i] = v;
    return c;
  };
  assert.equal(codeOf(bad(0, 2)), 'BAD_VERSION');
  assert.equal(codeOf(bad(1, 7)), 'BAD_CODEC');
  assert.equal(codeOf(bad(2, 0)), 'BAD_HEADER');
  const nan = buf.slice();
  new DataView(nan.buffer).setFloat64(16, NaN, true);
  assert.equal(codeOf(nan), 'BAD_HEADER');
  assert.equal(codeOf(buf), 'none');
});

test('refuses to write past the end of the target', () => {
  assert.throws(() => writeFrameHeader(new Uint8Array(40), 9, sample), RangeError);
});
