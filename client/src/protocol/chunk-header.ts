/**
 * The 32-byte little-endian header of a binary audio chunk (PROTOCOL.md "one audio chunk").
 * Parsed into a caller-owned object; the payload is handed out as a view, not a copy.
 */
export const CHUNK_HEADER_BYTES = 32;
export const CHUNK_VERSION = 1;
export const CODEC_PCM_S16LE = 0;
export const CODEC_OPUS = 1;
export const FLAG_DISCONTINUITY = 1;

export interface ChunkHeader {
  version: number;
  codec: 'pcm' | 'opus';
  channels: number;
  discontinuity: boolean;
  sampleRate: number;
  sequence: number;
  frames: number;
  positionFrames: number;
  serverPlayTimeMs: number;
}

export type ChunkParse =
  { ok: true; header: ChunkHeader; payload: Uint8Array } | { ok: false; reason: string };

export function parseChunk(data: ArrayBuffer): ChunkParse {
  if (data.byteLength < CHUNK_HEADER_BYTES) return { ok: false, reason: `chunk of ${data.byteLength} bytes` };
  const view = new DataView(data);
  const version = view.getUint8(0);
  if (version !== CHUNK_VERSION) return { ok: false, reason: `chunk version ${version}` };
  const codecByte = view.getUint8(1);
  if (codecByte !== CODEC_PCM_S16LE && codecByte !== CODEC_OPUS)
    return { ok: false, reason: `codec ${codecByte}` };
  const header: ChunkHeader = {
    version,
    codec: codecByte === CODEC_OPUS ? 'opus' : 'pcm',
    channels: view.getUint8(2),
    discontinuity: (view.getUint8(3) & FLAG_DISCONTINUITY) !== 0,
    sampleRate: view.getUint32(4, true),
    sequence: view.getUint32(8, true),
    frames: view.getUint32(12, true),
    positionFrames: view.getFloat64(16, true),
    serverPlayTimeMs: view.getFloat64(24, true),
  };
  if (header.channels < 1 || header.channels > 8) return { ok: false, reason: `${header.channels} channels` };
  if (header.sampleRate < 8000 || header.sampleRate > 192_000) {
    return { ok: false, reason: `sample rate ${header.sampleRate}` };
  }
  return { ok: true, header, payload: new Uint8Array(data, CHUNK_HEADER_BYTES) };
}

/** Writes a header (tests and tools; the server has its own writer). */
export function writeChunkHeader(target: DataView, h: Omit<ChunkHeader, 'version'>): void {
  target.setUint8(0, CHUNK_VERSION);
  target.setUint8(1, h.codec === 'opus' ? CODEC_OPUS : CODEC_PCM_S16LE);
  target.setUint8(2, h.channels);
  target.setUint8(3, h.discontinuity ? FLAG_DISCONTINUITY : 0);
  target.setUint32(4, h.sampleRate, true);
  target.setUint32(8, h.sequence, true);
  target.setUint32(12, h.frames, true);
  target.setFloat64(16, h.positionFrames, true);
  target.setFloat64(24, h.serverPlayTimeMs, true);
}
