/**
 * Splits an Opus chunk payload into its packets: each is `u16 LE length` + that many bytes,
 * and each is 20 ms (PROTOCOL.md). Returns views into the payload, not copies.
 */
export const OPUS_PACKET_MS = 20;
/** The largest legal Opus packet is 1275 bytes per frame; 20 ms packets stay well below this. */
export const MAX_OPUS_PACKET_BYTES = 4000;

export type OpusSplit = { ok: true; packets: Uint8Array[] } | { ok: false; reason: string };

export function splitOpusPackets(payload: Uint8Array): OpusSplit {
  const packets: Uint8Array[] = [];
  let offset = 0;
  while (offset < payload.length) {
    if (offset + 2 > payload.length) return { ok: false, reason: `truncated length at byte ${offset}` };
    const length = payload[offset] | (payload[offset + 1] << 8);
    offset += 2;
    if (length === 0 || length > MAX_OPUS_PACKET_BYTES)
      return { ok: false, reason: `packet of ${length} bytes` };
    if (offset + length > payload.length)
      return { ok: false, reason: `packet overruns the chunk at ${offset}` };
    packets.push(payload.subarray(offset, offset + length));
    offset += length;
  }
  return { ok: true, packets };
}

/** Frames per 20 ms packet at a sample rate (960 at 48 kHz). */
export function framesPerPacket(sampleRate: number): number {
  return Math.round((sampleRate * OPUS_PACKET_MS) / 1000);
}
