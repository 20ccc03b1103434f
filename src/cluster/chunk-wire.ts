import { setDiscontinuityFlag } from '../codec/frame-header.ts';
import { WS_PREFIX_BYTES, type ChunkRing } from '../engine/ring.ts';

/**
 * One published ring slot as the bytes an origin sends through Redis, and back into an edge's own
 * ring (the same layout), so that the edge's pacer, transports and HLS read exactly the bytes the
 * origin's engine wrote: byte-identical chunks on every edge for the same sequence number.
 *
 * Layout (big-endian): u32 seq, u8 tiers, then per tier u16 Opus frame offset in its region,
 * u32 Opus frame length, u32 Ogg page length; u16 PCM frame offset in its region, u32 PCM frame
 * length, u32 MP3 length; then the bytes: per tier the Opus WebSocket frame and the Ogg page, the
 * PCM WebSocket frame, the MP3 frames. A tier not encoded for this chunk has lengths 0.
 */

const FIXED_BYTES = 4 + 1 + 2 + 4 + 4;
const TIER_BYTES = 2 + 4 + 4;

export class ChunkWireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChunkWireError';
  }
}

/**
 * The slot of `seq` (published, still in the ring) as one Buffer. `discontinuity`: the copy's
 * chunk headers (every tier's and the PCM frame's) carry the discontinuity flag; the ring is not
 * touched.
 */
export function encodeChunk(ring: ChunkRing, seq: number, discontinuity = false): Buffer {
  const tiers = ring.layout.tiers.length;
  let total = FIXED_BYTES + tiers * TIER_BYTES;
  for (let t = 0; t < tiers; t++) total += ring.opusFrameLength(seq, t) + ring.oggPageLength(seq, t);
  total += ring.pcmFrameLength(seq) + ring.mp3Length(seq);
  const out = Buffer.allocUnsafe(total);
  let at = out.writeUInt32BE(seq, 0);
  at = out.writeUInt8(tiers, at);
  for (let t = 0; t < tiers; t++) {
    const len = ring.opusFrameLength(seq, t);
    at = out.writeUInt16BE(len > 0 ? ring.opusFrameStart(seq, t) - ring.opusRegion(seq, t) : 0, at);
    at = out.writeUInt32BE(len, at);
    at = out.writeUInt32BE(len > 0 ? ring.oggPageLength(seq, t) : 0, at);
  }
  at = out.writeUInt16BE(ring.pcmFrameStart(seq) - ring.pcmRegion(seq), at);
  at = out.writeUInt32BE(ring.pcmFrameLength(seq), at);
  at = out.writeUInt32BE(ring.mp3Length(seq), at);
  const b = ring.bytes;
  for (let t = 0; t < tiers; t++) {
    const len = ring.opusFrameLength(seq, t);
    if (len === 0) continue;
    const start = ring.opusFrameStart(seq, t);
    out.set(b.subarray(start, start + len), at);
    if (discontinuity)
      setDiscontinuityFlag(out, at + ring.opusRegion(seq, t) + WS_PREFIX_BYTES - start, true);
    at += len;
    const page = ring.oggPageStart(seq, t);
    const pageLen = ring.oggPageLength(seq, t);
    out.set(b.subarray(page, page + pageLen), at);
    at += pageLen;
  }
  const pcm = ring.pcmFrameStart(seq);
  const pcmLen = ring.pcmFrameLength(seq);
  out.set(b.subarray(pcm, pcm + pcmLen), at);
  if (discontinuity && pcmLen > 0)
    setDiscontinuityFlag(out, at + ring.pcmRegion(seq) + WS_PREFIX_BYTES - pcm, true);
  at += pcmLen;
  const mp3 = ring.mp3Region(seq);
  out.set(b.subarray(mp3, mp3 + ring.mp3Length(seq)), at);
  return out;
}

/** The sequence number of an encoded chunk. */
export function chunkSeq(buf: Buffer): number {
  if (buf.length < FIXED_BYTES) throw new ChunkWireError(`chunk of ${buf.length} bytes is too short`);
  return buf.readUInt32BE(0);
}

/**
 * Writes an encoded chunk into its slot of `ring` and publishes it. Throws ChunkWireError, writing
 * nothing, when it does not fit the ring's layout (another tier set or chunk length).
 */
export function decodeChunkInto(ring: ChunkRing, buf: Buffer): number {
  const seq = chunkSeq(buf);
  const layout = ring.layout;
  const tiers = buf.readUInt8(4);
  if (tiers !== layout.tiers.length)
    throw new ChunkWireError(`chunk ${seq} has ${tiers} Opus tiers, this ring ${layout.tiers.length}`);
  const head = FIXED_BYTES + tiers * TIER_BYTES;
  if (buf.length < head) throw new ChunkWireError(`chunk ${seq} is truncated`);
  // Validate every length against its region before writing anything.
  let at = 5;
  let need = head;
  for (let t = 0; t < tiers; t++) {
    const off = buf.readUInt16BE(at);
    const len = buf.readUInt32BE(at + 2);
    const ogg = buf.readUInt32BE(at + 6);
    const tier = layout.tiers[t]!;
    if (off + len > tier.opusRegionBytes || ogg > tier.oggRegionBytes)
      throw new ChunkWireError(`chunk ${seq}: tier ${tier.kbps} kb/s does not fit this ring's layout`);
    need += len + ogg;
    at += TIER_BYTES;
  }
  const pcmOff = buf.readUInt16BE(at);
  const pcmLen = buf.readUInt32BE(at + 2);
  const mp3Len = buf.readUInt32BE(at + 6);
  if (pcmOff + pcmLen > layout.pcmRegionBytes || mp3Len > layout.mp3RegionBytes)
    throw new ChunkWireError(`chunk ${seq}: PCM or MP3 does not fit this ring's layout`);
  need += pcmLen + mp3Len;
  if (buf.length !== need)
    throw new ChunkWireError(`chunk ${seq} has ${buf.length} bytes, its header says ${need}`);
  const b = ring.bytes;
  let data = head;
  at = 5;
  let defOpusStart = 0;
  let defOpusLen = 0;
  let defOggLen = 0;
  for (let t = 0; t < tiers; t++) {
    const off = buf.readUInt16BE(at);
    const len = buf.readUInt32BE(at + 2);
    const ogg = buf.readUInt32BE(at + 6);
    at += TIER_BYTES;
    const start = ring.opusRegion(seq, t) + off;
    if (len > 0) {
      b.set(buf.subarray(data, data + len), start);
      data += len;
      b.set(buf.subarray(data, data + ogg), ring.oggRegion(seq, t));
      data += ogg;
    }
    if (t === layout.defaultTier) {
      defOpusStart = start;
      defOpusLen = len;
      defOggLen = ogg;
    } else ring.setTier(seq, t, start, len, ogg);
  }
  const pcmStart = ring.pcmRegion(seq) + pcmOff;
  b.set(buf.subarray(data, data + pcmLen), pcmStart);
  data += pcmLen;
  b.set(buf.subarray(data, data + mp3Len), ring.mp3Region(seq));
  ring.publish(seq, defOpusStart, defOpusLen, pcmStart, pcmLen, defOggLen, mp3Len);
  return seq;
}
