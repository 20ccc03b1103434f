/**
 * The ID3v2.4 tag at the start of every HLS packed-audio segment (RFC 8216 §3.4): a `PRIV` frame
 * owned by `com.apple.streaming.transportStreamTimestamp` with the 33-bit 90 kHz timestamp of the
 * segment's first sample, then the now-playing title as `TIT2` and the whole now-playing object as
 * `TXXX` (description `auralis-now`, value its JSON): timed metadata a player can show.
 *
 * Built once per segment (every few seconds), never per chunk.
 */

export const TIMESTAMP_OWNER = 'com.apple.streaming.transportStreamTimestamp';
/** Description of the TXXX frame that carries the now-playing JSON. */
export const NOW_TXXX_DESCRIPTION = 'auralis-now';
/** 2^33: MPEG-2 timestamps wrap here (about 26.5 hours at 90 kHz). */
export const TIMESTAMP_WRAP = 2 ** 33;
const HEADER_BYTES = 10;
/** Longest title and JSON carried (UTF-8 bytes); longer ones are cut (a title is about 60). */
export const MAX_TEXT_BYTES = 4096;
/** The largest tag `id3Tag` builds: header, three frame headers, owner, timestamp, texts. */
export const MAX_ID3_BYTES =
  HEADER_BYTES + 3 * 10 + TIMESTAMP_OWNER.length + 1 + 8 + 1 + MAX_TEXT_BYTES + 1 + 11 + 1 + MAX_TEXT_BYTES;

function writeSyncsafe(b: Buffer, at: number, n: number): void {
  b[at] = (n >>> 21) & 0x7f;
  b[at + 1] = (n >>> 14) & 0x7f;
  b[at + 2] = (n >>> 7) & 0x7f;
  b[at + 3] = n & 0x7f;
}

function utf8(text: string): Buffer {
  const b = Buffer.from(text, 'utf8');
  if (b.length <= MAX_TEXT_BYTES) return b;
  // Cut at a character boundary (never inside a multi-byte sequence).
  let end = MAX_TEXT_BYTES;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}

/** Writes one frame header (v2.4: the size is syncsafe; no flags) at `at`; returns the data's start. */
function frameHeader(b: Buffer, at: number, id: string, size: number): number {
  b.write(id, at, 'latin1');
  writeSyncsafe(b, at + 4, size);
  b[at + 8] = 0;
  b[at + 9] = 0;
  return at + 10;
}

/**
 * The tag: `timestamp90k` (taken modulo 2^33) as PRIV, `title` as TIT2 and `nowJson` as TXXX (both
 * UTF-8, encoding byte 3, at most MAX_TEXT_BYTES each).
 */
export function id3Tag(timestamp90k: number, title: string, nowJson: string): Buffer {
  const t = utf8(title);
  const j = utf8(nowJson);
  const privSize = TIMESTAMP_OWNER.length + 1 + 8;
  const tit2Size = 1 + t.length;
  const txxxSize = 1 + NOW_TXXX_DESCRIPTION.length + 1 + j.length;
  const body = 30 + privSize + tit2Size + txxxSize;
  const b = Buffer.alloc(HEADER_BYTES + body);
  b.write('ID3', 0, 'latin1');
  b[3] = 4; // v2.4.0
  b[4] = 0;
  b[5] = 0; // no flags
  writeSyncsafe(b, 6, body);
  let at = frameHeader(b, HEADER_BYTES, 'PRIV', privSize);
  at += b.write(TIMESTAMP_OWNER, at, 'latin1');
  b[at++] = 0;
  const ts = ((timestamp90k % TIMESTAMP_WRAP) + TIMESTAMP_WRAP) % TIMESTAMP_WRAP;
  // 8 bytes big-endian; the top 31 bits are zero (the timestamp has 33).
  b.writeUInt32BE(Math.floor(ts / 2 ** 32), at);
  b.writeUInt32BE(ts % 2 ** 32, at + 4);
  at += 8;
  at = frameHeader(b, at, 'TIT2', tit2Size);
  b[at++] = 3; // UTF-8
  at += t.copy(b, at);
  at = frameHeader(b, at, 'TXXX', txxxSize);
  b[at++] = 3;
  at += b.write(NOW_TXXX_DESCRIPTION, at, 'latin1');
  b[at++] = 0;
  at += j.copy(b, at);
  return b;
}
