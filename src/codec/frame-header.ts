import { CodecError } from './codec-error.ts';

/**
 * The 32-byte little-endian header in front of every binary audio chunk (PROTOCOL.md
 * "Server → client, binary: one audio chunk"). Offsets are the contract; keep them in step
 * with the table there.
 */
export const FRAME_HEADER_BYTES = 32;
export const FRAME_HEADER_VERSION = 1;

export const CODEC_PCM_S16LE = 0;
export const CODEC_OPUS = 1;

/** Bit 0 of `flags`: audio was skipped for this listener before this chunk. */
export const FLAG_DISCONTINUITY = 1;
/**
 * Bits 4–7 of `flags` (Opus chunks): the bitrate tier of the payload, as its index in the server's
 * ascending tier list (`welcome.tiers`); 0 for PCM. Bits 1–3 are reserved (0).
 */
export const FLAG_TIER_SHIFT = 4;
export const FLAG_TIER_MASK = 0xf0;
/** Tiers a header can name (4 bits). */
export const MAX_TIERS = 16;

/** The `flags` bits that carry tier `index` (0–15). */
export function tierFlags(index: number): number {
  return (index << FLAG_TIER_SHIFT) & FLAG_TIER_MASK;
}

/** The tier index carried by a header's `flags`. */
export function tierOfFlags(flags: number): number {
  return (flags & FLAG_TIER_MASK) >>> FLAG_TIER_SHIFT;
}

/** Byte offsets of the fields (PROTOCOL.md table). */
export const HEADER_OFFSET = {
  version: 0,
  codec: 1,
  channels: 2,
  flags: 3,
  sampleRate: 4,
  sequence: 8,
  frames: 12,
  positionFrames: 16,
  playTimeMs: 24,
} as const;

export interface FrameHeader {
  version: number;
  codec: number;
  channels: number;
  flags: number;
  sampleRate: number;
  /** Per station, +1 a chunk; wraps at 2^32. */
  sequence: number;
  /** Frames (per channel) in the chunk. */
  frames: number;
  /** Station position of the chunk's first frame. */
  positionFrames: number;
  /** Unix time in ms at which the server's clock plays the first frame. */
  playTimeMs: number;
}

/**
 * Writes the header into `target` at `offset`, with no allocation per call: the DataView is
 * cached per underlying ArrayBuffer, since the server writes into the same ring or frame buffer
 * over and over. `sequence` is written modulo 2^32 so a long-lived station never throws here.
 */
export function writeFrameHeader(target: Uint8Array, offset: number, h: FrameHeader): void {
  if (offset < 0 || offset + FRAME_HEADER_BYTES > target.length) {
    // A caller bug (buffer sized wrong), not a runtime condition: fail loudly rather than
    // write past a subarray into a neighbour's bytes.
    throw new RangeError(`frame header at ${offset} does not fit in ${target.length} bytes`);
  }
  const view = viewFor(target);
  const at = target.byteOffset + offset;
  view.setUint8(at + HEADER_OFFSET.version, h.version);
  view.setUint8(at + HEADER_OFFSET.codec, h.codec);
  view.setUint8(at + HEADER_OFFSET.channels, h.channels);
  view.setUint8(at + HEADER_OFFSET.flags, h.flags);
  view.setUint32(at + HEADER_OFFSET.sampleRate, h.sampleRate >>> 0, true);
  view.setUint32(at + HEADER_OFFSET.sequence, h.sequence >>> 0, true);
  view.setUint32(at + HEADER_OFFSET.frames, h.frames >>> 0, true);
  view.setFloat64(at + HEADER_OFFSET.positionFrames, h.positionFrames, true);
  view.setFloat64(at + HEADER_OFFSET.playTimeMs, h.playTimeMs, true);
}

/** Sets or clears the discontinuity flag in an already written header, in place. */
export function setDiscontinuityFlag(target: Uint8Array, offset: number, on: boolean): void {
  const i = offset + HEADER_OFFSET.flags;
  target[i] = on ? target[i]! | FLAG_DISCONTINUITY : target[i]! & ~FLAG_DISCONTINUITY;
}

/**
 * Parses and validates a header at the start of `bytes` (a whole chunk or just its header).
 * Throws CodecError SHORT_INPUT / BAD_VERSION / BAD_CODEC / BAD_HEADER.
 */
export function readFrameHeader(bytes: Uint8Array): FrameHeader {
  if (bytes.byteLength < FRAME_HEADER_BYTES) {
    throw new CodecError(
      'SHORT_INPUT',
      `frame header needs ${FRAME_HEADER_BYTES} bytes, got ${bytes.byteLength}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_BYTES);
  const h: FrameHeader = {
    version: view.getUint8(HEADER_OFFSET.version),
    codec: view.getUint8(HEADER_OFFSET.codec),
    channels: view.getUint8(HEADER_OFFSET.channels),
    flags: view.getUint8(HEADER_OFFSET.flags),
    sampleRate: view.getUint32(HEADER_OFFSET.sampleRate, true),
    sequence: view.getUint32(HEADER_OFFSET.sequence, true),
    frames: view.getUint32(HEADER_OFFSET.frames, true),
    positionFrames: view.getFloat64(HEADER_OFFSET.positionFrames, true),
    playTimeMs: view.getFloat64(HEADER_OFFSET.playTimeMs, true),
  };
  if (h.version !== FRAME_HEADER_VERSION) {
    throw new CodecError(
      'BAD_VERSION',
      `frame header version must be ${FRAME_HEADER_VERSION}, got ${h.version}`,
    );
  }
  if (h.codec !== CODEC_PCM_S16LE && h.codec !== CODEC_OPUS) {
    throw new CodecError('BAD_CODEC', `frame header codec must be 0 (pcm_s16le) or 1 (opus), got ${h.codec}`);
  }
  if (h.channels < 1 || h.channels > 2) {
    throw new CodecError('BAD_HEADER', `frame header channels must be 1 or 2, got ${h.channels}`);
  }
  if (h.sampleRate === 0) throw new CodecError('BAD_HEADER', 'frame header sample rate is 0');
  if (!Number.isFinite(h.positionFrames) || h.positionFrames < 0 || !Number.isInteger(h.positionFrames)) {
    throw new CodecError(
      'BAD_HEADER',
      `frame header position must be a non-negative integer, got ${h.positionFrames}`,
    );
  }
  if (!Number.isFinite(h.playTimeMs))
    throw new CodecError('BAD_HEADER', 'frame header play time is not finite');
  return h;
}

// One DataView per ArrayBuffer: the writer is called per chunk on a handful of long-lived
// buffers, so a WeakMap lookup replaces an allocation and lets dropped buffers be collected.
const views = new WeakMap<ArrayBufferLike, DataView>();

function viewFor(target: Uint8Array): DataView {
  let view = views.get(target.buffer);
  if (view === undefined) {
    view = new DataView(target.buffer);
    views.set(target.buffer, view);
  }
  return view;
}
