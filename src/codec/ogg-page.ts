import { CodecError } from './codec-error.ts';
import { oggCrc32 } from './ogg-crc.ts';

/**
 * Ogg pages (RFC 3533): a 27-byte header, a lacing table of up to 255 segment sizes, then the
 * packet data. A packet is laced as ⌊len/255⌋ values of 255 and one final value < 255.
 */
export const OGG_PAGE_HEADER_BYTES = 27;
export const OGG_MAX_SEGMENTS = 255;
export const OGG_FLAG_CONTINUED = 1;
export const OGG_FLAG_BOS = 2;
export const OGG_FLAG_EOS = 4;

const OFFSET_GRANULE = 6;
const OFFSET_SERIAL = 14;
const OFFSET_SEQUENCE = 18;
const OFFSET_CRC = 22;
const OFFSET_SEGMENTS = 26;
const ZERO_CRC_FIELD = new Uint8Array(4);

/** Lacing values a packet of `bytes` takes. */
export function lacingValues(bytes: number): number {
  return Math.floor(bytes / 255) + 1;
}

/**
 * Writes the header and lacing table of a page whose `packetLengths[first … first+count)` follow
 * it, then the checksum once the caller has copied the data: call writeOggPageHeader, copy the
 * packets to `offset + headerBytes`, then finishOggPage. Split this way so that the muxer can copy
 * packets straight from the wire payload without building an intermediate array.
 * Returns the header bytes (27 + lacing values).
 */
export function writeOggPageHeader(
  out: Uint8Array,
  offset: number,
  flags: number,
  granule: number,
  serial: number,
  sequence: number,
  packetLengths: ArrayLike<number>,
  first: number,
  count: number,
): number {
  let segments = 0;
  for (let p = first; p < first + count; p++) segments += lacingValues(packetLengths[p]!);
  if (segments > OGG_MAX_SEGMENTS) {
    throw new CodecError(
      'BAD_LACING',
      `an Ogg page holds at most 255 segments, these packets need ${segments}`,
    );
  }
  const o = offset;
  out[o] = 0x4f; // 'O'
  out[o + 1] = 0x67; // 'g'
  out[o + 2] = 0x67; // 'g'
  out[o + 3] = 0x53; // 'S'
  out[o + 4] = 0; // stream structure version
  out[o + 5] = flags;
  writeU64(out, o + OFFSET_GRANULE, granule);
  writeU32(out, o + OFFSET_SERIAL, serial);
  writeU32(out, o + OFFSET_SEQUENCE, sequence);
  writeU32(out, o + OFFSET_CRC, 0);
  out[o + OFFSET_SEGMENTS] = segments;
  let s = o + OGG_PAGE_HEADER_BYTES;
  for (let p = first; p < first + count; p++) {
    let len = packetLengths[p]!;
    while (len >= 255) {
      out[s++] = 255;
      len -= 255;
    }
    out[s++] = len;
  }
  return OGG_PAGE_HEADER_BYTES + segments;
}

/** Computes and stores the CRC of the finished page at out[offset, offset + pageBytes). */
export function finishOggPage(out: Uint8Array, offset: number, pageBytes: number): void {
  writeU32(out, offset + OFFSET_CRC, oggCrc32(out, offset, offset + pageBytes));
}

/** A whole page holding the given packets (allocates; for header pages and tests). */
export function buildOggPage(
  flags: number,
  granule: number,
  serial: number,
  sequence: number,
  packets: readonly Uint8Array[],
): Uint8Array {
  const lengths = packets.map((p) => p.length);
  const body = lengths.reduce((a, b) => a + b, 0);
  const segments = lengths.reduce((a, b) => a + lacingValues(b), 0);
  const out = new Uint8Array(OGG_PAGE_HEADER_BYTES + segments + body);
  let at = writeOggPageHeader(out, 0, flags, granule, serial, sequence, lengths, 0, lengths.length);
  for (const p of packets) {
    out.set(p, at);
    at += p.length;
  }
  finishOggPage(out, 0, at);
  return out;
}

export interface OggPage {
  /** Byte offset of the page in the parsed input. */
  offset: number;
  bytes: number;
  flags: number;
  granule: number;
  serial: number;
  sequence: number;
  crc: number;
  segments: number[];
  /** Packets that end on this page (joined with their start on earlier pages). */
  packets: Uint8Array[];
  /** The page's last packet continues on the next page. */
  continues: boolean;
}

/**
 * Parses a sequence of pages (tests and tools): checks the capture pattern, version, CRC and
 * lacing, and reassembles packets across pages. Throws CodecError on the first defect.
 */
export function parseOggPages(bytes: Uint8Array): OggPage[] {
  const pages: OggPage[] = [];
  let pos = 0;
  let pending: Uint8Array[] = [];
  while (pos < bytes.length) {
    if (pos + OGG_PAGE_HEADER_BYTES > bytes.length) {
      throw new CodecError('SHORT_INPUT', `ogg: truncated page header at byte ${pos}`);
    }
    if (
      bytes[pos] !== 0x4f ||
      bytes[pos + 1] !== 0x67 ||
      bytes[pos + 2] !== 0x67 ||
      bytes[pos + 3] !== 0x53
    ) {
      throw new CodecError('BAD_CAPTURE', `ogg: no capture pattern "OggS" at byte ${pos}`);
    }
    if (bytes[pos + 4] !== 0)
      throw new CodecError('BAD_HEADER', `ogg: unknown version ${bytes[pos + 4]} at ${pos}`);
    const count = bytes[pos + OFFSET_SEGMENTS]!;
    const dataStart = pos + OGG_PAGE_HEADER_BYTES + count;
    if (dataStart > bytes.length)
      throw new CodecError('SHORT_INPUT', `ogg: truncated lacing table at ${pos}`);
    const segments = [...bytes.subarray(pos + OGG_PAGE_HEADER_BYTES, dataStart)];
    const dataBytes = segments.reduce((a, b) => a + b, 0);
    const end = dataStart + dataBytes;
    if (end > bytes.length) throw new CodecError('SHORT_INPUT', `ogg: truncated page body at ${pos}`);
    const stored = readU32(bytes, pos + OFFSET_CRC);
    // The CRC over the page with its CRC field taken as zero, computed in three runs so the
    // caller's bytes are neither copied nor touched (a Buffer's slice() would be a view).
    let computed = oggCrc32(bytes, pos, pos + OFFSET_CRC);
    computed = oggCrc32(ZERO_CRC_FIELD, 0, 4, computed);
    computed = oggCrc32(bytes, pos + OFFSET_CRC + 4, end, computed);
    if (computed !== stored) {
      throw new CodecError(
        'BAD_CRC',
        `ogg: page ${pages.length} at ${pos}: CRC ${hex(stored)} != ${hex(computed)}`,
      );
    }
    const flags = bytes[pos + 5]!;
    if ((flags & OGG_FLAG_CONTINUED) !== 0 && pending.length === 0) {
      throw new CodecError('BAD_LACING', `ogg: page at ${pos} continues a packet that never started`);
    }
    if ((flags & OGG_FLAG_CONTINUED) === 0 && pending.length > 0) {
      throw new CodecError('BAD_LACING', `ogg: page at ${pos} drops an unfinished packet`);
    }
    const packets: Uint8Array[] = [];
    let at = dataStart;
    let partStart = dataStart;
    for (const seg of segments) {
      at += seg;
      if (seg < 255) {
        pending.push(bytes.subarray(partStart, at));
        packets.push(concat(pending));
        pending = [];
        partStart = at;
      }
    }
    const continues = segments.length > 0 && segments[segments.length - 1] === 255;
    if (continues) pending.push(bytes.subarray(partStart, at));
    pages.push({
      offset: pos,
      bytes: end - pos,
      flags,
      granule: readU64(bytes, pos + OFFSET_GRANULE),
      serial: readU32(bytes, pos + OFFSET_SERIAL),
      sequence: readU32(bytes, pos + OFFSET_SEQUENCE),
      crc: stored,
      segments,
      packets,
      continues,
    });
    pos = end;
  }
  return pages;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = (v >>> 24) & 0xff;
}

/** Granules stay below 2^53 (about 5,900 years at 48 kHz), so a double carries them exactly. */
function writeU64(out: Uint8Array, at: number, v: number): void {
  writeU32(out, at, v >>> 0);
  writeU32(out, at + 4, Math.floor(v / 0x1_0000_0000) >>> 0);
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function readU64(b: Uint8Array, at: number): number {
  return readU32(b, at) + readU32(b, at + 4) * 0x1_0000_0000;
}

function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}
