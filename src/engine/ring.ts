/**
 * The shared chunk ring of one station: a SharedArrayBuffer with one writer (the engine worker)
 * and any number of readers (the main thread's pacer, a cursor per listener).
 *
 * Each slot holds one chunk encoded once, ready to send as is:
 *  - per Opus bitrate tier (config `opusTiers`), the Opus chunk as a complete WebSocket binary frame
 *    (WS header + 32-byte chunk header + payload) and its Ogg page (for the HTTP Ogg/Opus stream).
 *    The default tier is always there; another tier only while the worker encodes it (someone
 *    listens to it), else its lengths are 0. Each tier's regions are sized from its bitrate (the
 *    encoder refuses a packet larger than `maxPacketBytes`, so nothing can overflow a region);
 *  - the PCM chunk as a complete WebSocket binary frame,
 *  - the chunk's MP3 frames (for the HTTP MP3 stream; length 0 while nobody listens to MP3, when
 *    the worker does not encode it). They start at an MP3 frame header.
 * The WS header is written right-aligned into a reserved prefix so the frame is contiguous and every
 * listener's socket gets a single write of the very same bytes (measured: building the frame
 * once cut server CPU by about 30%). The WAV stream sends the PCM payload part of the frame.
 *
 * Publication: the writer fills a slot, stores the slot's sequence number, then increments PUBLISHED
 * with Atomics (release); readers load PUBLISHED (acquire) and check the slot's sequence number.
 *
 * Holding slots: the main thread hands sockets *views* of the ring, and Node may keep a view in a
 * socket's user-space write queue for a while (until the kernel takes the bytes), even while the
 * main thread is blocked. HOLD is the oldest chunk whose bytes the main thread may still reference
 * (HOLD_NONE: none). The writer renders chunk `seq` into the slot of `seq − slots` only when that
 * chunk is older than HOLD (`mayWrite`); otherwise it waits, whatever the main thread is doing. The
 * reader lowers HOLD to a chunk *before* it hands out a view of it (`pin`), and raises it again
 * once it knows what its sockets still queue (`release`). Both sides use sequentially consistent
 * Atomics, and `pin` accepts only chunks at least one slot away from the writer's next write, so
 * a chunk the writer may be overwriting right now is never pinned.
 */

import { DEFAULT_MP3_BITRATE, maxMp3BytesForFrames } from '../codec/mp3-encoder.ts';
import { maxOggBytesForPayload } from '../codec/ogg.ts';
import { OPUS_LENGTH_PREFIX_BYTES, OPUS_MAX_PACKET_BYTES, OPUS_PACKET_FRAMES } from '../codec/opus-wire.ts';

/** Bytes reserved before the chunk header for the WebSocket frame header (2, 4 or 10 bytes). */
export const WS_PREFIX_BYTES = 10;
export const CHUNK_HEADER_BYTES = 32;

/** Global words at the start of the buffer. */
const G_PUBLISHED = 0; // number of chunks published = next sequence number to be written
const G_HOLD = 1; // oldest chunk the main thread may still reference (HOLD_NONE: none)
const G_WORDS = 4;
/** HOLD when no ring byte is referenced: every slot may be rewritten. */
export const HOLD_NONE = 0x7fffffff;
/** Per-slot words: these, then TIER_WORDS per tier. */
const S_SEQ = 0;
const S_PCM_START = 1;
const S_PCM_LEN = 2;
const S_MP3_LEN = 3;
const S_FIXED_WORDS = 4;
const T_OPUS_START = 0;
const T_OPUS_LEN = 1;
const T_OGG_LEN = 2;
const TIER_WORDS = 3;

/** The Opus tiers a ring holds: bitrates in kb/s (ascending) and the one always encoded. */
export interface RingTierOptions {
  kbps: readonly number[];
  defaultKbps: number;
}

/** A ring with only today's single stream: 96 kb/s. */
export const SINGLE_TIER: RingTierOptions = { kbps: [96], defaultKbps: 96 };

/** Where one tier's bytes lie inside a slot. */
export interface RingTier {
  kbps: number;
  /** Largest Opus packet the encoder may write for this tier (bytes, without its length prefix). */
  maxPacketBytes: number;
  opusOffset: number;
  opusRegionBytes: number;
  oggOffset: number;
  oggRegionBytes: number;
}

export interface RingLayout {
  slots: number;
  chunkFrames: number;
  tiers: RingTier[];
  /** Index in `tiers` of the tier always encoded (config `opusBitrate`). */
  defaultTier: number;
  /** The default tier's regions (what readers that know no tiers get). */
  opusRegionBytes: number;
  oggRegionBytes: number;
  pcmOffset: number;
  pcmRegionBytes: number;
  mp3Offset: number;
  /** Room for the MP3 frames of one chunk at `mp3Bitrate`. */
  mp3RegionBytes: number;
  mp3Bitrate: number;
  slotWords: number;
  slotBytes: number;
  dataOffset: number;
  totalBytes: number;
}

/**
 * Largest Opus packet (20 ms) accepted at `kbps`: 2.5 × the nominal size plus 32 bytes, at most
 * RFC 6716's 1276. libopus' constrained VBR (its default) keeps a packet within about twice the
 * nominal size; measured on noise bursts, silence and tones at complexity 5: at most 1.6× (6 kb/s:
 * 2.6×, 39 bytes, well within the 32-byte margin).
 */
export function maxOpusPacketBytesFor(kbps: number): number {
  const nominal = (kbps * 1000 * (OPUS_PACKET_FRAMES / 48_000)) / 8;
  return Math.min(OPUS_MAX_PACKET_BYTES, Math.ceil(2.5 * nominal) + 32);
}

export function ringLayout(
  slots: number,
  chunkFrames: number,
  channels = 2,
  mp3Bitrate = DEFAULT_MP3_BITRATE,
  tierOptions: RingTierOptions = SINGLE_TIER,
): RingLayout {
  const defaultTier = tierOptions.kbps.indexOf(tierOptions.defaultKbps);
  if (defaultTier < 0) throw new RangeError(`default tier ${tierOptions.defaultKbps} kb/s is not a tier`);
  const packets = Math.ceil(chunkFrames / OPUS_PACKET_FRAMES);
  let at = 0;
  const tiers: RingTier[] = tierOptions.kbps.map((kbps) => {
    const maxPacketBytes = maxOpusPacketBytesFor(kbps);
    const payloadMax = packets * (OPUS_LENGTH_PREFIX_BYTES + maxPacketBytes);
    const opusRegionBytes = align8(WS_PREFIX_BYTES + CHUNK_HEADER_BYTES + payloadMax);
    const oggRegionBytes = align8(maxOggBytesForPayload(payloadMax));
    const t = { kbps, maxPacketBytes, opusOffset: at, opusRegionBytes, oggOffset: 0, oggRegionBytes };
    at += opusRegionBytes;
    return t;
  });
  const pcmOffset = at;
  const pcmRegionBytes = align8(WS_PREFIX_BYTES + CHUNK_HEADER_BYTES + chunkFrames * channels * 2);
  at += pcmRegionBytes;
  for (const t of tiers) {
    t.oggOffset = at;
    at += t.oggRegionBytes;
  }
  const mp3Offset = at;
  const mp3RegionBytes = align8(maxMp3BytesForFrames(chunkFrames, mp3Bitrate));
  const slotBytes = at + mp3RegionBytes;
  const slotWords = S_FIXED_WORDS + tiers.length * TIER_WORDS;
  const dataOffset = align8((G_WORDS + slots * slotWords) * 4);
  return {
    slots,
    chunkFrames,
    tiers,
    defaultTier,
    opusRegionBytes: tiers[defaultTier]!.opusRegionBytes,
    oggRegionBytes: tiers[defaultTier]!.oggRegionBytes,
    pcmOffset,
    pcmRegionBytes,
    mp3Offset,
    mp3RegionBytes,
    mp3Bitrate,
    slotWords,
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
  private readonly slotWords: number;
  private readonly defaultTier: number;

  constructor(sab: SharedArrayBuffer, layout: RingLayout) {
    this.sab = sab;
    this.layout = layout;
    this.bytes = new Uint8Array(sab);
    this.slotWords = layout.slotWords;
    this.defaultTier = layout.defaultTier;
    this.words = new Int32Array(sab, 0, G_WORDS + layout.slots * layout.slotWords);
  }

  static create(
    slots: number,
    chunkFrames: number,
    mp3Bitrate = DEFAULT_MP3_BITRATE,
    tiers: RingTierOptions = SINGLE_TIER,
  ): ChunkRing {
    const layout = ringLayout(slots, chunkFrames, 2, mp3Bitrate, tiers);
    const ring = new ChunkRing(new SharedArrayBuffer(layout.totalBytes), layout);
    ring.reset();
    return ring;
  }

  /**
   * Empties the ring for a new station: nothing published, every slot unused. Only for a ring that
   * no writer and no reader uses any more (the engine host's ring pool).
   */
  reset(): void {
    for (let i = 0; i < this.layout.slots; i++)
      Atomics.store(this.words, G_WORDS + i * this.slotWords + S_SEQ, -1);
    Atomics.store(this.words, G_PUBLISHED, 0);
    Atomics.store(this.words, G_HOLD, HOLD_NONE);
  }

  /** The number of chunks published so far (= the next sequence number). */
  published(): number {
    return Atomics.load(this.words, G_PUBLISHED);
  }

  private slotBase(seq: number): number {
    return this.layout.dataOffset + (seq % this.layout.slots) * this.layout.slotBytes;
  }

  // ---- writer side (engine worker) ----

  /**
   * Whether chunk `seq` may be written now: the chunk its slot held before (`seq − slots`) is no
   * longer referenced by the main thread. One atomic load; the writer checks it before it writes
   * any byte of the slot and waits (renders nothing) while it is false.
   */
  mayWrite(seq: number): boolean {
    return seq - this.layout.slots < Atomics.load(this.words, G_HOLD);
  }

  /** Byte offset of the Opus region of tier `tier` (default: the default tier) in the slot of `seq`. */
  opusRegion(seq: number, tier = this.defaultTier): number {
    return this.slotBase(seq) + this.layout.tiers[tier]!.opusOffset;
  }
  pcmRegion(seq: number): number {
    return this.slotBase(seq) + this.layout.pcmOffset;
  }
  oggRegion(seq: number, tier = this.defaultTier): number {
    return this.slotBase(seq) + this.layout.tiers[tier]!.oggOffset;
  }
  mp3Region(seq: number): number {
    return this.slotBase(seq) + this.layout.mp3Offset;
  }

  /**
   * Records tier `tier`'s bytes of `seq` (before publish(seq)): its WebSocket frame (start after
   * writeWsBinaryHeader, whole length) and its Ogg page length; 0 lengths: not encoded for `seq`.
   */
  setTier(seq: number, tier: number, opusStart: number, opusLen: number, oggLen: number): void {
    const base = G_WORDS + (seq % this.layout.slots) * this.slotWords + S_FIXED_WORDS + tier * TIER_WORDS;
    const w = this.words;
    w[base + T_OPUS_START] = opusStart;
    w[base + T_OPUS_LEN] = opusLen;
    w[base + T_OGG_LEN] = oggLen;
  }

  /**
   * Marks `seq` as complete. `opusStart/pcmStart` are where each WebSocket frame starts
   * (after writeWsBinaryHeader), lengths are whole frames; the Ogg page and the MP3 frames start at
   * their regions (`mp3Len` 0: no MP3 for this chunk). The Opus and Ogg arguments are the default
   * tier's; the other tiers' are set with setTier() before.
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
    this.setTier(seq, this.defaultTier, opusStart, opusLen, oggLen);
    const base = G_WORDS + (seq % this.layout.slots) * this.slotWords;
    const w = this.words;
    w[base + S_PCM_START] = pcmStart;
    w[base + S_PCM_LEN] = pcmLen;
    w[base + S_MP3_LEN] = mp3Len;
    Atomics.store(w, base + S_SEQ, seq);
    Atomics.store(w, G_PUBLISHED, seq + 1);
  }

  /** Sets the published count (used when a restarted worker continues a station's sequence). */
  resetPublished(next: number): void {
    Atomics.store(this.words, G_PUBLISHED, next);
  }

  // ---- reader side (main thread) ----

  /**
   * Before a view of `seq` is handed to a socket: lowers HOLD to `seq` (if it is above) so that the
   * writer leaves the slot alone, then returns whether `seq` is there and safe to reference. False
   * for a chunk not published, already overwritten, or in the slot the writer may be filling now
   * (`seq` ≤ published − slots): the atomic store of HOLD comes before the load of PUBLISHED, and
   * the writer loads HOLD after it stored PUBLISHED for the chunk before, so it sees the hold.
   */
  pin(seq: number): boolean {
    const w = this.words;
    const slots = this.layout.slots;
    // A chunk already gone (or not there yet) is refused without touching HOLD.
    const before = Atomics.load(w, G_PUBLISHED);
    if (seq < 0 || seq >= before || seq <= before - slots) return false;
    const prev = Atomics.load(w, G_HOLD);
    if (prev > seq) Atomics.store(w, G_HOLD, seq);
    const published = Atomics.load(w, G_PUBLISHED);
    if (seq > published - slots && Atomics.load(w, G_WORDS + (seq % slots) * this.slotWords + S_SEQ) === seq)
      return true;
    // Lost the race with the writer: no view of seq is handed out, so the hold goes back.
    if (prev > seq) Atomics.store(w, G_HOLD, prev);
    return false;
  }

  /**
   * Sets HOLD to `oldest`, the oldest chunk any socket may still queue a view of (HOLD_NONE: none).
   * Only the main thread calls it, with a value that covers every view it handed out and that is
   * still queued; every later view is pinned first.
   */
  release(oldest: number): void {
    Atomics.store(this.words, G_HOLD, oldest);
  }

  /** The oldest chunk the main thread may still reference (HOLD_NONE: none). */
  held(): number {
    return Atomics.load(this.words, G_HOLD);
  }

  /** True when `seq` is in the ring and not yet overwritten. */
  has(seq: number): boolean {
    if (seq < 0 || seq >= this.published() || seq < this.published() - this.layout.slots) return false;
    return Atomics.load(this.words, G_WORDS + (seq % this.layout.slots) * this.slotWords + S_SEQ) === seq;
  }

  private word(seq: number, field: number): number {
    return this.words[G_WORDS + (seq % this.layout.slots) * this.slotWords + field]!;
  }

  private tierWord(seq: number, tier: number, field: number): number {
    return this.word(seq, S_FIXED_WORDS + tier * TIER_WORDS + field);
  }

  /** [start, length] of the Opus WebSocket frame of `seq` in tier `tier` (length 0: not encoded). */
  opusFrameStart(seq: number, tier = this.defaultTier): number {
    return this.tierWord(seq, tier, T_OPUS_START);
  }
  opusFrameLength(seq: number, tier = this.defaultTier): number {
    return this.tierWord(seq, tier, T_OPUS_LEN);
  }
  pcmFrameStart(seq: number): number {
    return this.word(seq, S_PCM_START);
  }
  pcmFrameLength(seq: number): number {
    return this.word(seq, S_PCM_LEN);
  }
  oggPageStart(seq: number, tier = this.defaultTier): number {
    return this.oggRegion(seq, tier);
  }
  oggPageLength(seq: number, tier = this.defaultTier): number {
    return this.tierWord(seq, tier, T_OGG_LEN);
  }
  /** Bytes of MP3 frames in `seq` (at mp3Region(seq)); 0 when it was published without MP3. */
  mp3Length(seq: number): number {
    return this.word(seq, S_MP3_LEN);
  }
}
