import { CodecError } from './codec-error.ts';

/**
 * RIFF/WAVE headers for 16-bit PCM: a sized one for files, and a streaming one for the
 * endless HTTP stream, whose RIFF and data sizes are 0xFFFFFFFF ("unknown / to the end"),
 * which ffmpeg, VLC, mpv and browsers treat as "read until the connection closes".
 * Files over 4 GiB (more than about 6.2 h of 48 kHz stereo) get an RF64 header (EBU Tech 3306),
 * whose ds64 chunk carries the 64-bit sizes.
 */
export const WAV_HEADER_BYTES = 44;
/** The RIFF size fields are u32: a sized file's data may be at most this many bytes. */
export const WAV_MAX_DATA_BYTES = 0xffff_ffff - 36;
export const WAV_STREAMING_SIZE = 0xffff_ffff;
/** RF64 header: RIFF header (12) + ds64 chunk (8 + 28) + fmt chunk (24) + data chunk header (8). */
export const RF64_HEADER_BYTES = 80;

export interface WavFormat {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
}

export const WAV_FORMAT_48K_STEREO_S16: WavFormat = { sampleRate: 48_000, channels: 2, bitsPerSample: 16 };

/** Writes a 44-byte canonical header for `dataBytes` of PCM into `out` at `offset`. */
export function writeWavHeader(
  out: Uint8Array,
  offset: number,
  dataBytes: number,
  format: WavFormat = WAV_FORMAT_48K_STEREO_S16,
): void {
  if (dataBytes !== WAV_STREAMING_SIZE && (dataBytes < 0 || dataBytes > WAV_MAX_DATA_BYTES)) {
    throw new CodecError(
      'BAD_ARGUMENT',
      `wav data size must be 0…${WAV_MAX_DATA_BYTES} bytes, got ${dataBytes}`,
    );
  }
  const v = new DataView(out.buffer, out.byteOffset + offset, WAV_HEADER_BYTES);
  const blockAlign = format.channels * (format.bitsPerSample / 8);
  const riffSize = dataBytes === WAV_STREAMING_SIZE ? WAV_STREAMING_SIZE : 36 + dataBytes;
  ascii(v, 0, 'RIFF');
  v.setUint32(4, riffSize, true);
  ascii(v, 8, 'WAVE');
  ascii(v, 12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true); // WAVE_FORMAT_PCM
  v.setUint16(22, format.channels, true);
  v.setUint32(24, format.sampleRate, true);
  v.setUint32(28, format.sampleRate * blockAlign, true);
  v.setUint16(32, blockAlign, true);
  v.setUint16(34, format.bitsPerSample, true);
  ascii(v, 36, 'data');
  v.setUint32(40, dataBytes, true);
}

/** A new header for a file of `dataBytes` of PCM. */
export function wavHeader(dataBytes: number, format: WavFormat = WAV_FORMAT_48K_STEREO_S16): Uint8Array {
  const out = new Uint8Array(WAV_HEADER_BYTES);
  writeWavHeader(out, 0, dataBytes, format);
  return out;
}

/** The header of an endless stream (sizes 0xFFFFFFFF). */
export function streamingWavHeader(format: WavFormat = WAV_FORMAT_48K_STEREO_S16): Uint8Array {
  return wavHeader(WAV_STREAMING_SIZE, format);
}

/**
 * The header for a file of `dataBytes` of PCM: canonical 44-byte WAVE when the sizes fit in
 * u32, otherwise an 80-byte RF64 header. Either way the samples follow it directly.
 */
export function wavFileHeader(dataBytes: number, format: WavFormat = WAV_FORMAT_48K_STEREO_S16): Uint8Array {
  if (dataBytes <= WAV_MAX_DATA_BYTES) return wavHeader(dataBytes, format);
  if (!Number.isSafeInteger(dataBytes)) {
    throw new CodecError('BAD_ARGUMENT', `wav data size must be a safe integer, got ${dataBytes}`);
  }
  const out = new Uint8Array(RF64_HEADER_BYTES);
  const v = new DataView(out.buffer);
  const blockAlign = format.channels * (format.bitsPerSample / 8);
  ascii(v, 0, 'RF64');
  v.setUint32(4, 0xffff_ffff, true);
  ascii(v, 8, 'WAVE');
  ascii(v, 12, 'ds64');
  v.setUint32(16, 28, true);
  v.setBigUint64(20, BigInt(RF64_HEADER_BYTES - 8 + dataBytes), true); // RIFF size
  v.setBigUint64(28, BigInt(dataBytes), true); // data size
  v.setBigUint64(36, BigInt(Math.floor(dataBytes / blockAlign)), true); // sample frames
  v.setUint32(44, 0, true); // no table entries
  ascii(v, 48, 'fmt ');
  v.setUint32(52, 16, true);
  v.setUint16(56, 1, true);
  v.setUint16(58, format.channels, true);
  v.setUint32(60, format.sampleRate, true);
  v.setUint32(64, format.sampleRate * blockAlign, true);
  v.setUint16(68, blockAlign, true);
  v.setUint16(70, format.bitsPerSample, true);
  ascii(v, 72, 'data');
  v.setUint32(76, 0xffff_ffff, true);
  return out;
}

export interface ParsedWav extends WavFormat {
  /** The data chunk's declared size (0xFFFFFFFF for a stream; the ds64 size for RF64). */
  declaredDataBytes: number;
  /** Byte offset of the first sample. */
  dataOffset: number;
  /** The samples actually present (to the end of the data chunk or of the input). */
  data: Uint8Array;
  frames: number;
  streaming: boolean;
  rf64: boolean;
}

/** Parses a RIFF/WAVE file or stream prefix (for tests and tools); skips unknown chunks. */
export function parseWav(bytes: Uint8Array): ParsedWav {
  if (bytes.length < 12)
    throw new CodecError('SHORT_INPUT', `wav needs at least 12 bytes, got ${bytes.length}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rf64 = readAscii(v, 0) === 'RF64';
  if ((!rf64 && readAscii(v, 0) !== 'RIFF') || readAscii(v, 8) !== 'WAVE') {
    throw new CodecError('BAD_HEADER', 'not a RIFF/WAVE or RF64 file');
  }
  let pos = 12;
  let format: WavFormat | null = null;
  let ds64DataBytes: number | null = null;
  while (pos + 8 <= bytes.length) {
    const id = readAscii(v, pos);
    const size = v.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === 'ds64') {
      if (size < 28 || body + 28 > bytes.length)
        throw new CodecError('BAD_HEADER', 'rf64 ds64 chunk too short');
      ds64DataBytes = Number(v.getBigUint64(body + 8, true));
    } else if (id === 'fmt ') {
      if (size < 16 || body + 16 > bytes.length)
        throw new CodecError('BAD_HEADER', 'wav fmt chunk too short');
      const tag = v.getUint16(body, true);
      if (tag !== 1) throw new CodecError('BAD_HEADER', `wav format tag must be 1 (PCM), got ${tag}`);
      format = {
        channels: v.getUint16(body + 2, true),
        sampleRate: v.getUint32(body + 4, true),
        bitsPerSample: v.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      if (format === null) throw new CodecError('BAD_HEADER', 'wav data chunk before fmt chunk');
      if (rf64 && ds64DataBytes === null) throw new CodecError('BAD_HEADER', 'rf64 without a ds64 chunk');
      const declared = rf64 && size === WAV_STREAMING_SIZE ? ds64DataBytes! : size;
      const streaming = !rf64 && size === WAV_STREAMING_SIZE;
      const end = streaming ? bytes.length : Math.min(bytes.length, body + declared);
      const data = bytes.subarray(body, end);
      const frameBytes = format.channels * (format.bitsPerSample / 8);
      return {
        ...format,
        declaredDataBytes: declared,
        dataOffset: body,
        data,
        frames: Math.floor(data.length / frameBytes),
        streaming,
        rf64,
      };
    }
    // Chunks are word-aligned: an odd size is followed by a pad byte.
    pos = body + size + (size & 1);
  }
  throw new CodecError('BAD_HEADER', 'wav has no data chunk');
}

function ascii(v: DataView, at: number, s: string): void {
  for (let i = 0; i < 4; i++) v.setUint8(at + i, s.charCodeAt(i));
}

function readAscii(v: DataView, at: number): string {
  return String.fromCharCode(v.getUint8(at), v.getUint8(at + 1), v.getUint8(at + 2), v.getUint8(at + 3));
}
