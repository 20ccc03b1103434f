import { CodecError } from './codec-error.ts';

/**
 * The Opus wire payload of PROTOCOL.md: for each 20 ms packet, a u16 little-endian length
 * followed by the packet's bytes. Shared by the encoder (writes it), the Ogg muxer and the
 * clients (read it).
 */
export const OPUS_PACKET_FRAMES = 960;
export const OPUS_LENGTH_PREFIX_BYTES = 2;
/** RFC 6716 §3.4 R2: one 20 ms frame is at most 1275 bytes, plus the TOC byte. */
export const OPUS_MAX_PACKET_BYTES = 1276;

/** Worst-case wire payload for `frames` (a multiple of 960), to size buffers once. */
export function maxOpusPayloadBytes(frames: number): number {
  return Math.ceil(frames / OPUS_PACKET_FRAMES) * (OPUS_LENGTH_PREFIX_BYTES + OPUS_MAX_PACKET_BYTES);
}

/**
 * Walks the packets of a payload without allocating: `visit(start, length)` gets each packet's
 * byte range inside `payload`. Returns the packet count. Throws BAD_PAYLOAD if a length runs
 * past the end, so a corrupt chunk is caught before it reaches a decoder or muxer.
 */
export function forEachOpusPacket(
  payload: Uint8Array,
  visit?: (start: number, length: number) => void,
): number {
  let pos = 0;
  let count = 0;
  while (pos < payload.length) {
    if (pos + OPUS_LENGTH_PREFIX_BYTES > payload.length) {
      throw new CodecError('BAD_PAYLOAD', `opus payload: truncated length prefix at byte ${pos}`);
    }
    const length = payload[pos]! | (payload[pos + 1]! << 8);
    const start = pos + OPUS_LENGTH_PREFIX_BYTES;
    if (length === 0 || start + length > payload.length) {
      throw new CodecError(
        'BAD_PAYLOAD',
        `opus payload: packet ${count} of ${length} bytes at ${start} is invalid`,
      );
    }
    visit?.(start, length);
    pos = start + length;
    count++;
  }
  return count;
}

/** The packets of a payload as views into it (for tests and tools). */
export function splitOpusPackets(payload: Uint8Array): Uint8Array[] {
  const packets: Uint8Array[] = [];
  forEachOpusPacket(payload, (start, length) => packets.push(payload.subarray(start, start + length)));
  return packets;
}
