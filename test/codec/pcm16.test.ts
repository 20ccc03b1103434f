import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodePcm16, encodePcm16, floatToInt16, interleaveInt16 } from '../../src/codec/pcm16.ts';

test('rounds half away from zero and clamps symmetrically to ±32767', () => {
  assert.equal(floatToInt16(0), 0);
  assert.equal(floatToInt16(1), 32767);
  assert.equal(floatToInt16(-1), -32767);
  assert.equal(floatToInt16(3.5), 32767);
  assert.equal(floatToInt16(-1e9), -32767);
  assert.equal(floatToInt16(Infinity), 32767);
  assert.equal(floatToInt16(NaN), 0);
  assert.equal(floatToInt16(0.5 / 32767), 1);
  assert.equal(floatToInt16(-0.5 / 32767), -1);
  assert.equal(floatToInt16(0.49 / 32767), 0);
  assert.equal(floatToInt16(1.51 / 32767), 2);
  assert.equal(floatToInt16(-1.51 / 32767), -2);
});

test('writes interleaved little-endian L,R at the byte offset and returns frames × 4', () => {
  const l = Float32Array.of(1, -1, 0.5, 0);
  const r = Float32Array.of(-2, 0, -0.25, 1 / 32767);
  const out = new Uint8Array(3 + 16 + 2).fill(0x55);
  assert.equal(encodePcm16(l, r, 4, out, 3), 16);
  const v = new DataView(out.buffer);
  const got: number[] = [];
  for (let i = 0; i < 8; i++) got.push(v.getInt16(3 + 2 * i, true));
  assert.deepEqual(got, [32767, -32767, -32767, 0, 16384, -8192, 0, 1]);
  assert.deepEqual([...out.subarray(0, 3)], [0x55, 0x55, 0x55]);
  assert.deepEqual([...out.subarray(19)], [0x55, 0x55]);
});

test('decodes back within half a step, and interleaveInt16 agrees with the byte encoder', () => {
  const frames = 1000;
  const l = new Float32Array(frames);
  const r = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    l[i] = Math.sin(i * 0.1) * 0.9;
    r[i] = Math.cos(i * 0.07) * 0.3;
  }
  const bytes = new Uint8Array(frames * 4);
  encodePcm16(l, r, frames, bytes, 0);
  const back = decodePcm16(bytes);
  let maxErr = 0;
  for (let i = 0; i < frames; i++) {
    maxErr = Math.max(maxErr, Math.abs(back.l[i]! - l[i]!), Math.abs(back.r[i]! - r[i]!));
  }
  assert.ok(maxErr <= 0.5 / 32767 + 1e-9, `max error ${maxErr}`);
  const ints = new Int16Array(frames * 2);
  interleaveInt16(l, r, frames, ints);
  const le = new Int16Array(bytes.buffer);
  assert.deepEqual(ints, le); // this machine is little-endian, as every supported platform
});

test('the aligned 32-bit path and the byte path give floatToInt16 for every sample', () => {
  // Edge values (clamps, NaN, ±0, exact halves on both sides) and a sweep across the range.
  const edges = [0, -0, 1, -1, 1.5, -1.5, Infinity, -Infinity, NaN, 0.5 / 32767, -0.5 / 32767, 2.5 / 32767];
  const frames = edges.length + 4000;
  const l = new Float32Array(frames);
  const r = new Float32Array(frames);
  l.set(edges);
  r.set(edges.map((x) => -x));
  for (let i = edges.length; i < frames; i++) {
    l[i] = ((i - 2000) / 2000) * 1.1;
    r[i] = (i % 97) / 32767 / 2 - 0.0007;
  }
  const want = new Int16Array(frames * 2);
  for (let i = 0; i < frames; i++) {
    want[2 * i] = floatToInt16(l[i]!);
    want[2 * i + 1] = floatToInt16(r[i]!);
  }
  for (const offset of [0, 4, 1, 2]) {
    // Also a view that starts inside its buffer: alignment is that of the absolute address.
    const backing = new Uint8Array(8 + frames * 4 + 8);
    const out = backing.subarray(4);
    assert.equal(encodePcm16(l, r, frames, out, offset), frames * 4);
    const v = new DataView(out.buffer, out.byteOffset + offset);
    const got = new Int16Array(frames * 2);
    for (let i = 0; i < frames * 2; i++) got[i] = v.getInt16(2 * i, true);
    assert.deepEqual(got, want, `offset ${offset}`);
    assert.ok(
      backing.subarray(0, 4 + offset).every((b) => b === 0),
      'nothing written before',
    );
    assert.ok(
      backing.subarray(4 + offset + frames * 4).every((b) => b === 0),
      'nothing written after',
    );
  }
});

test('refuses a frame count that does not fit the output', () => {
  const l = new Float32Array(10);
  assert.throws(() => encodePcm16(l, l, 10, new Uint8Array(39), 0), RangeError);
  assert.throws(() => encodePcm16(l, l, 10, new Uint8Array(40), 1), RangeError);
  assert.throws(() => interleaveInt16(l, l, 11, new Int16Array(40)), RangeError);
});
