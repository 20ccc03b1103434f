// Reads back the ID3v2.4 tag of an HLS segment (tests only).
import assert from 'node:assert/strict';
import { TIMESTAMP_OWNER } from '../../src/server/hls/id3.ts';

export interface Id3 {
  version: number;
  frames: Map<string, Buffer>;
  size: number;
}

function syncsafe(b: Buffer, at: number): number {
  return (b[at]! << 21) | (b[at + 1]! << 14) | (b[at + 2]! << 7) | b[at + 3]!;
}

/** Parses an ID3v2.4 tag at the start of `b` (no flags, no unsynchronisation). */
export function parseId3(b: Buffer): Id3 {
  assert.equal(b.subarray(0, 3).toString('latin1'), 'ID3');
  const size = syncsafe(b, 6);
  const frames = new Map<string, Buffer>();
  for (let at = 10; at + 10 <= 10 + size;) {
    const id = b.subarray(at, at + 4).toString('latin1');
    const len = syncsafe(b, at + 4);
    frames.set(id, b.subarray(at + 10, at + 10 + len));
    at += 10 + len;
  }
  return { version: b[3]!, frames, size: 10 + size };
}

export function privTimestamp(priv: Buffer): number {
  const owner = priv.subarray(0, priv.indexOf(0)).toString('latin1');
  assert.equal(owner, TIMESTAMP_OWNER);
  const ts = priv.subarray(owner.length + 1);
  assert.equal(ts.length, 8);
  return ts.readUInt32BE(0) * 2 ** 32 + ts.readUInt32BE(4);
}
