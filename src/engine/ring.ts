/**
 * The shared chunk ring of one station: a SharedArrayBuffer with one writer (the engine worker)
 * and any number of readers (the main thread's pacer, a cursor per listener).
 *
 * Each slot holds one chunk encoded once, ready to send as is:
 *  - the Opus chunk as a complete WebSocket binary frame (WS header + 32-byte chunk header + payload),
 *  - the PCM chunk as a complete WebSocket binary frame,
 *  - the chunk's Ogg page (for the HTTP Ogg/Opus stream),
 *  - the chunk's MP3 frames (for the HTTP MP3 stream; length 0 while nobody listens to MP3, when
 *    the worker does not encode it). They start at an MP3 frame header.
 * The WS header is written right-aligned into a reserved prefix so the frame is contiguous and every
 * listener's socket gets a single write of the very same bytes (PERFORMANCE.md: building the frame
 * once cut server CPU by about 30%). The WAV stream sends the PCM payload part of the frame.
 *
 * Publication: the writer fills a slot, stores the slot's sequence number, then increments PUBLISHED
 * with Atomics (release); readers load PUBLISHED (acquire) and check the slot's sequence number.
 */

import { DEFAULT_MP3_BITRATE, maxMp3BytesForFrames } from '../codec/mp3-encoder.ts';
import { maxOggBytesForPayload } from '../codec/ogg.ts';
import { maxOpusPayloadBytes } from '../codec/opus-wire.ts';

/** Bytes reserved before the chunk header for the WebSocket frame header (2, 4 or 10 bytes). */
export const WS_PREFIX_BYTES = 10;
export const CHUNK_HEADER_BYTES = 32;

/** Global words at the start of the buffer. */
const G_PUBLISHED = 0; // number of chunks published = next sequence number to be written
const G_WORDS = 4;
/** Per-slot words. */
const S_SEQ = 0;
const S_OPUS_START = 1;
const S_OPUS_LEN = 2;
const S_PCM_START = 3;
const S_PCM_LEN = 4;
const S_OGG_START = 5;
const S_OGG_LEN = 6;
const S_MP3_LEN = 7;
const S_WORDS = 8;

export interface RingLayout {
  slots: number;
  chunkFrames: number;
  opusRegionBytes: number;
  pcmRegionBytes: number;
  oggRegionBytes: number;
  /** Room for the MP3 frames of one chunk at `mp3Bitrate`. */
  mp3RegionBytes: number;
  mp3Bitrate: number;
  slotBytes: number;
  dataOffset: number;
  totalBytes: number;
}

export function ringLayout(
  slots: number,
  chunkFrames: number,
  channels = 2,
  mp3Bitrate = DEFAULT_MP3_BITRATE,
): RingLayout {
  const opusPayloadMax = maxOpusPayloadBytes(chunkFrames);
  const opusRegionBytes = align8(WS_PREFIX_BYTES + CHUNK_HEADER_BYTES + opusPayloadMax);
  const pcmRegionBytes = align8(WS_PREFIX_BYTES + CHUNK_HEADER_BYTES + chunkFrames * channels * 2);
  const oggRegionBytes = align8(maxOggBytesForPayload(opusPayloadMax));
  const mp3RegionBytes = align8(maxMp3BytesForFrames(chunkFrames, mp3Bitrate));
  const slotBytes = opusRegionBytes + pcmRegionBytes + oggRegionBytes + mp3RegionBytes;
  const dataOffset = align8((G_WORDS + slots * S_WORDS) * 4);
  return {
    slots,
    chunkFrames,
    opusRegionBytes,
    pcmRegionBytes,
    oggRegionBytes,
    mp3RegionBytes,
    mp3Bitrate,
    slotBytes,
    dataOffset,
    totalBytes: dataOffset + slots * slotBytes,
  };
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Writes the WebSocket header of an unmasked final binary frame so that it ends at `end`; returns its start. */
export function writeWsBinaryHeader(bytes: Uint8Array, end: number, payloadBytes: number): number {
  if (payloadBytes < 126) {
    bytes[end - 2] = 0x82;
    bytes[end - 1] = payloadBytes;
    return end - 2;
  }
  if (payloadBytes < 65536) {
    bytes[end - 4] = 0x82;
    bytes[end - 3] = 126;
    bytes[end - 2] = payloadBytes >>> 8;
    bytes[end - 1] = payloadBytes & 0xff;
    return end - 4;
  }
  const start = end - 10;
  bytes[start] = 0x82;
  bytes[start + 1] = 127;
  bytes[start + 2] = 0;
  bytes[start + 3] = 0;
  bytes[start + 4] = 0;
  bytes[start + 5] = 0;
  bytes[start + 6] = (payloadBytes >>> 24) & 0xff;
  bytes[start + 7] = (payloadBytes >>> 16) & 0xff;
  bytes[start + 8] = (payloadBytes >>> 8) & 0xff;
  bytes[start + 9] = payloadBytes & 0xff;
  return start;
}

export class ChunkRing {
  readonly sab: SharedArrayBuffer;
  readonly layout: RingLayout;
  readonly bytes: Uint8Array;
  private readonly words: Int32Array;

  constructor(sab: SharedArrayBuffer, layout: RingLayout) {
    this.sab = sab;
    this.layout = layout;
    this.bytes = new Uint8Array(sab);
    this.words = new Int32Array(sab, 0, G_WORDS + layout.slots * S_WORDS);
  }

  static create(slots: number, chunkFrames: number, mp3Bitrate = DEFAULT_MP3_BITRATE): ChunkRing {
    const layout = ringLayout(slots, chunkFrames, 2, mp3Bitrate);
    const ring = new ChunkRing(new SharedArrayBuffer(layout.totalBytes), layout);
    ring.reset();
    return ring;
  }

  /**
   * Empties the ring for a new station: nothing published, every slot unused. Only for a ring that
   * no writer and no reader uses any more (the engine host's ring pool).
   */
  reset(): void {
    for (let i = 0; i < this.layout.slots; i++) Atomics.store(this.words, G_WORDS + i * S_WORDS + S_SEQ, -1);
    Atomics.store(this.words, G_PUBLISHED, 0);
  }

  /** The number of chunks published so far (= the next sequence number). */
  published(): number {
    return Atomics.load(this.words, G_PUBLISHED);
  }

  // ---- writer side (engine worker) ----

  /** Byte offset of the Opus region of the slot that `seq` will occupy. */
  opusRegion(seq: number): number {
    return this.layout.dataOffset + (seq % this.layout.slots) * this.layout.slotBytes;
  }
  pcmRegion(seq: number): number {
    return this.opusRegion(seq) + this.layout.opusRegionBytes;
  }
  oggRegion(seq: number): number {
    return this.pcmRegion(seq) + this.layout.pcmRegionBytes;
  }
  mp3Region(seq: number): number {
    return this.oggRegion(seq) + this.layout.oggRegionBytes;
  }

  /**
   * Marks `seq` as complete. `opusStart/pcmStart` are where each WebSocket frame starts
   * (after writeWsBinaryHeader), lengths are whole frames; the Ogg page and the MP3 frames start at
   * their regions (`mp3Len` 0: no MP3 for this chunk).
   */
  publish(
    seq: number,
    opusStart: number,
    opusLen: number,
    pcmStart: number,
    pcmLen: number,
    oggLen: number,
    mp3Len = 0,
  ): void {
    const base = G_WORDS + (seq % this.layout.slots) * S_WORDS;
    const w = this.words;
    w[base + S_OPUS_START] = opusStart;
    w[base + S_OPUS_LEN] = opusLen;
    w[base + S_PCM_START] = pcmStart;
    w[base + S_PCM_LEN] = pcmLen;
    w[base + S_OGG_START] = this.oggRegion(seq);
    w[base + S_OGG_LEN] = oggLen;
    w[base + S_MP3_LEN] = mp3Len;
    Atomics.store(w, base + S_SEQ, seq);
    Atomics.store(w, G_PUBLISHED, seq + 1);
  }

  /** Sets the published count (used when a restarted worker continues a station's sequence). */
  resetPublished(next: number): void {
    Atomics.store(this.words, G_PUBLISHED, next);
  }

  // ---- reader side (main thread) ----

  /** True when `seq` is in the ring and not yet overwritten. */
  has(seq: number): boolean {
    if (seq < 0 || seq >= this.published() || seq < this.published() - this.layout.slots) return false;
    return Atomics.load(this.words, G_WORDS + (seq % this.layout.slots) * S_WORDS + S_SEQ) === seq;
  }

  private word(seq: number, field: number): number {
    return this.words[G_WORDS + (seq % this.layout.slots) * S_WORDS + field]!;
  }

  /** [start, length] of the Opus WebSocket frame of `seq`. */
  opusFrameStart(seq: number): number {
    return this.word(seq, S_OPUS_START);
  }
  opusFrameLength(seq: number): number {
    return this.word(seq, S_OPUS_LEN);
  }
  pcmFrameStart(seq: number): number {
    return this.word(seq, S_PCM_START);
  }
  pcmFrameLength(seq: number): number {
    return this.word(seq, S_PCM_LEN);
  }
  oggPageStart(seq: number): number {
    return this.word(seq, S_OGG_START);
  }
  oggPageLength(seq: number): number {
    return this.word(seq, S_OGG_LEN);
  }
  /** Bytes of MP3 frames in `seq` (at mp3Region(seq)); 0 when it was published without MP3. */
  mp3Length(seq: number): number {
    return this.word(seq, S_MP3_LEN);
  }
}
