import { CodecError } from './codec-error.ts';
import {
  buildOggPage,
  finishOggPage,
  lacingValues,
  OGG_FLAG_BOS,
  OGG_MAX_SEGMENTS,
  OGG_PAGE_HEADER_BYTES,
  writeOggPageHeader,
} from './ogg-page.ts';
import { OPUS_LENGTH_PREFIX_BYTES, OPUS_PACKET_FRAMES } from './opus-wire.ts';

export { parseOggPages, type OggPage } from './ogg-page.ts';

/**
 * Ogg/Opus (RFC 7845) for the endless `/stream/:id.ogg` and for Icecast: the two header pages,
 * then one page per station chunk, built once and sent to every listener.
 *
 * A listener who joins mid-stream gets headerPages() and then the live pages, whose sequence
 * numbers and granule positions continue from the station's clock (as an Icecast relay does):
 * players treat the first granule as the stream's start time. Checked with ffprobe/ffmpeg in
 * test/codec/ogg.test.ts.
 */
export const OPUS_HEAD_BYTES = 19;
/** Page sequence numbers 0 and 1 are the header pages; audio pages count from here. */
export const FIRST_AUDIO_PAGE_SEQUENCE = 2;
/** Largest packet count per chunk the muxer takes (10 s of 20 ms packets); bounds its scratch. */
export const MAX_PACKETS_PER_CHUNK = 500;

export interface OggOpusMuxerOptions {
  /** The logical stream's serial number (u32). */
  serial: number;
  /** The encoder's lookahead in 48 kHz frames (OpusChunkEncoder.preSkipFrames). */
  preSkipFrames: number;
  /** The input's sample rate, for OpusHead (informational; Opus always decodes at 48 kHz here). */
  sampleRate: number;
  channels: number;
  /** OpusTags vendor string (the encoder library). */
  vendor: string;
  /** Station name for the TITLE comment. */
  title?: string;
  /** Sequence number of the first audio page (default 2), e.g. to continue a restarted station. */
  firstAudioSequence?: number;
}

/** OpusHead, RFC 7845 §5.1 (mapping family 0: mono or stereo). */
export function opusHead(channels: number, preSkipFrames: number, inputSampleRate: number): Uint8Array {
  const b = new Uint8Array(OPUS_HEAD_BYTES);
  const v = new DataView(b.buffer);
  b.set(ascii('OpusHead'), 0);
  b[8] = 1; // version
  b[9] = channels;
  v.setUint16(10, preSkipFrames, true);
  v.setUint32(12, inputSampleRate, true);
  v.setInt16(16, 0, true); // output gain
  b[18] = 0; // channel mapping family
  return b;
}

/** OpusTags, RFC 7845 §5.2: vendor string and `NAME=value` comments (UTF-8). */
export function opusTags(vendor: string, comments: readonly string[]): Uint8Array {
  const enc = new TextEncoder();
  const v = enc.encode(vendor);
  const cs = comments.map((c) => enc.encode(c));
  const out = new Uint8Array(8 + 4 + v.length + 4 + cs.reduce((a, c) => a + 4 + c.length, 0));
  const view = new DataView(out.buffer);
  out.set(ascii('OpusTags'), 0);
  let at = 8;
  view.setUint32(at, v.length, true);
  out.set(v, at + 4);
  at += 4 + v.length;
  view.setUint32(at, cs.length, true);
  at += 4;
  for (const c of cs) {
    view.setUint32(at, c.length, true);
    out.set(c, at + 4);
    at += 4 + c.length;
  }
  return out;
}

/**
 * Upper bound of the bytes pageForChunk/writePageForChunk produce for a wire payload of
 * `payloadBytes`: the payload minus its length prefixes, plus lacing and page headers. One page
 * (≤ 27 + 255 bytes of overhead) whenever the chunk's packets fit 255 lacing values, which
 * 100 ms at any bitrate does.
 */
export function maxOggBytesForPayload(payloadBytes: number): number {
  const maxPackets = Math.floor(payloadBytes / (OPUS_LENGTH_PREFIX_BYTES + 1));
  const maxSegments = maxPackets + Math.floor(payloadBytes / 255);
  // A page is closed only when the next packet (≤ 6 lacing values) does not fit, so every page
  // but the last carries at least 250 segments.
  const maxPages = Math.max(1, Math.ceil(maxSegments / (OGG_MAX_SEGMENTS - 5)));
  return payloadBytes + maxSegments + maxPages * OGG_PAGE_HEADER_BYTES;
}

export class OggOpusMuxer {
  readonly serial: number;
  readonly preSkipFrames: number;
  private readonly header: Uint8Array;
  private sequence = FIRST_AUDIO_PAGE_SEQUENCE;
  // Scratch for the packet layout of one chunk, allocated once (MAX_PACKETS_PER_CHUNK).
  private readonly packetStarts = new Int32Array(MAX_PACKETS_PER_CHUNK);
  private readonly packetLengths = new Int32Array(MAX_PACKETS_PER_CHUNK);

  constructor(opts: OggOpusMuxerOptions) {
    if (!Number.isInteger(opts.serial) || opts.serial < 0 || opts.serial > 0xffff_ffff) {
      throw new CodecError('BAD_ARGUMENT', `ogg serial must be a u32, got ${opts.serial}`);
    }
    if (opts.channels !== 1 && opts.channels !== 2) {
      throw new CodecError('BAD_ARGUMENT', `ogg/opus channels must be 1 or 2, got ${opts.channels}`);
    }
    if (!Number.isInteger(opts.preSkipFrames) || opts.preSkipFrames < 0 || opts.preSkipFrames > 0xffff) {
      throw new CodecError('BAD_ARGUMENT', `pre-skip must be 0…65535 frames, got ${opts.preSkipFrames}`);
    }
    this.serial = opts.serial;
    this.sequence = (opts.firstAudioSequence ?? FIRST_AUDIO_PAGE_SEQUENCE) >>> 0;
    this.preSkipFrames = opts.preSkipFrames;
    const comments = ['ENCODER=auralis'];
    if (opts.title !== undefined) comments.push(`TITLE=${opts.title}`);
    const head = buildOggPage(OGG_FLAG_BOS, 0, opts.serial, 0, [
      opusHead(opts.channels, opts.preSkipFrames, opts.sampleRate),
    ]);
    const tags = buildOggPage(0, 0, opts.serial, 1, [opusTags(opts.vendor, comments)]);
    this.header = new Uint8Array(head.length + tags.length);
    this.header.set(head, 0);
    this.header.set(tags, head.length);
  }

  /** OpusHead page (BOS, sequence 0, granule 0) + OpusTags page (sequence 1): what every listener gets first. */
  headerPages(): Uint8Array {
    return this.header;
  }

  /** The sequence number the next audio page will carry. */
  get nextSequence(): number {
    return this.sequence;
  }

  /**
   * Leaves out the page sequence numbers of `pages` pages that will never be written (chunks the
   * engine dropped), so a demuxer sees the hole where audio is missing (RFC 3533 page sequence).
   */
  skipPages(pages: number): void {
    if (Number.isInteger(pages) && pages > 0) this.sequence = (this.sequence + pages) >>> 0;
  }

  /**
   * The page(s) for one chunk, as a new array. `payload` is the chunk's wire payload (u16 length
   * + packet, repeated); `endPositionFrames` the station position just after its last frame.
   */
  pageForChunk(payload: Uint8Array, endPositionFrames: number): Uint8Array {
    const out = new Uint8Array(maxOggBytesForPayload(payload.length));
    const n = this.writePageForChunk(payload, endPositionFrames, out, 0);
    return out.slice(0, n);
  }

  /**
   * Allocation-free form: writes the page(s) into `out` at `offset` (room: maxOggBytesForPayload)
   * and returns the bytes written. Each page's granule is the position after its last packet plus
   * the pre-skip (RFC 7845 §4): granule = endPositionFrames + preSkipFrames for the chunk's last page.
   */
  writePageForChunk(payload: Uint8Array, endPositionFrames: number, out: Uint8Array, offset: number): number {
    const starts = this.packetStarts;
    const lengths = this.packetLengths;
    let count = 0;
    let pos = 0;
    while (pos < payload.length) {
      const length = pos + 1 < payload.length ? payload[pos]! | (payload[pos + 1]! << 8) : 0;
      const start = pos + OPUS_LENGTH_PREFIX_BYTES;
      if (length === 0 || start + length > payload.length || count === MAX_PACKETS_PER_CHUNK) {
        throw new CodecError('BAD_PAYLOAD', `ogg: malformed opus payload at byte ${pos} (packet ${count})`);
      }
      starts[count] = start;
      lengths[count] = length;
      count++;
      pos = start + length;
    }
    if (count === 0) throw new CodecError('BAD_PAYLOAD', 'ogg: empty opus payload');
    const firstPacketEnd = endPositionFrames - (count - 1) * OPUS_PACKET_FRAMES;

    let at = offset;
    let first = 0;
    while (first < count) {
      // Fill the page with whole packets up to 255 lacing values.
      let last = first;
      let segments = lacingValues(lengths[first]!);
      while (last + 1 < count && segments + lacingValues(lengths[last + 1]!) <= OGG_MAX_SEGMENTS) {
        last++;
        segments += lacingValues(lengths[last]!);
      }
      const granule = firstPacketEnd + last * OPUS_PACKET_FRAMES + this.preSkipFrames;
      const pageStart = at;
      at += writeOggPageHeader(
        out,
        at,
        0,
        granule,
        this.serial,
        this.sequence,
        lengths,
        first,
        last - first + 1,
      );
      for (let p = first; p <= last; p++) {
        // A byte loop rather than out.set(payload.subarray(…)): no view allocated per packet,
        // and packets are a few hundred bytes.
        const from = starts[p]!;
        const end = from + lengths[p]!;
        for (let i = from; i < end; i++) out[at++] = payload[i]!;
      }
      finishOggPage(out, pageStart, at - pageStart);
      this.sequence = (this.sequence + 1) >>> 0;
      first = last + 1;
    }
    return at - offset;
  }
}

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}
