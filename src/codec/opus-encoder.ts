import { createRequire } from 'node:module';
import { CodecError } from './codec-error.ts';
import { floatToInt16 } from './pcm16.ts';
import {
  maxOpusPayloadBytes,
  OPUS_LENGTH_PREFIX_BYTES,
  OPUS_MAX_PACKET_BYTES,
  OPUS_PACKET_FRAMES,
} from './opus-wire.ts';

/**
 * Encodes station audio (48 kHz stereo float) into the Opus wire payload of PROTOCOL.md:
 * 20 ms packets, each written as `u16 LE length` + bytes, straight into a caller's buffer.
 *
 * Backends, best first: @evan/opus native addon, @evan/opus WASM, opusscript (WASM).
 * The native addon encodes into one process-wide byte buffer and its public `encode()` then
 * copies that into a fresh Uint8Array per packet; here we call the addon's own method and copy
 * from its buffer straight into `out`, so a chunk costs one copy and no allocation. That path is
 * verified byte for byte against the public API when the first encoder is built, and skipped if
 * the package ever changes shape.
 */
export const OPUS_SAMPLE_RATE = 48_000;
export const OPUS_CHANNELS = 2;
export const DEFAULT_OPUS_BITRATE = 96_000;
/**
 * libopus complexity 0–10. Measured here (2-core Xeon, native addon, 96 kbit/s stereo, sine +
 * noise): 5 ≈ 190× real time, 8 ≈ 115×, 10 ≈ 100×, with the same decoded SNR; at 96 kbit/s the
 * bitrate, not the search effort, bounds quality, so 5 leaves the CPU for more stations.
 */
export const DEFAULT_OPUS_COMPLEXITY = 5;
/** libopus' lookahead at 48 kHz for application `audio` (2.5 ms + 4 ms): the RFC 7845 pre-skip. */
const LIBOPUS_LOOKAHEAD_FRAMES = 312;

export type OpusBackendName = 'evan-native' | 'evan-wasm' | 'opusscript';

export interface OpusEncoderOptions {
  /** Bits per second, 6 000–510 000. */
  bitrate?: number;
  /** 0–10. */
  complexity?: number;
  /** Force a backend (tests, benchmarks); default: the best one that loads. */
  backend?: OpusBackendName;
  /** evan-native only: false uses the package's public encode() (for the equivalence test). */
  nativeFastPath?: boolean;
}

// libopus CTL request numbers (opus_defines.h).
const CTL_SET_BITRATE = 4002;
const CTL_SET_COMPLEXITY = 4010;
const CTL_GET_LOOKAHEAD = 4027;
const CTL_SET_SIGNAL = 4024;
const CTL_RESET_STATE = 4028;
const SIGNAL_MUSIC = 3002;
const APPLICATION_AUDIO = 2049;

interface EvanEncoder {
  ctl(cmd: number, value?: number): number;
  encode(pcm: ArrayBufferView): Uint8Array;
}
type EvanEncoderClass = new (o: {
  channels: number;
  sample_rate: number;
  application: string;
}) => EvanEncoder;
interface OpusScriptEncoder {
  encode(pcmBytes: Uint8Array, frames: number): Uint8Array;
  encoderCTL(cmd: number, value: number): void;
  delete(): void;
}
type OpusScriptClass = new (rate: number, channels: number, application: number) => OpusScriptEncoder;

/**
 * Encodes one packet of interleaved int16 into `out` at `at`; returns its length. Throws
 * CodecError PACKET_TOO_LARGE, writing nothing, when the packet is longer than `max`.
 */
type PacketEncoder = (pcm: Int16Array, out: Uint8Array, at: number, max: number) => number;

function tooLarge(n: number, max: number): CodecError {
  return new CodecError('PACKET_TOO_LARGE', `opus: a ${n}-byte packet exceeds the ${max} bytes allowed`);
}

const require = createRequire(import.meta.url);

interface NativeFastPath {
  encode: (this: EvanEncoder, pcm: ArrayBufferView) => number;
  shared: Uint8Array;
}

let evanLoaded: { Encoder: EvanEncoderClass; native: boolean } | null | undefined;
let evanWasm: EvanEncoderClass | null | undefined;
let fastPath: NativeFastPath | null | undefined;
let opusScript: OpusScriptClass | null | undefined;

function loadEvan(): { Encoder: EvanEncoderClass; native: boolean } | null {
  if (evanLoaded !== undefined) return evanLoaded;
  try {
    const lib = require('@evan/opus') as { Encoder: EvanEncoderClass };
    // lib.js picks the addon unless OPUS_FORCE_WASM is set or the addon fails to load; its
    // Encoder then extends the addon's wrapper class.
    let native = false;
    try {
      const addon = require('@evan/opus/node/index.js') as { Encoder: unknown };
      native = !process.env.OPUS_FORCE_WASM && Object.getPrototypeOf(lib.Encoder) === addon.Encoder;
    } catch {
      native = false;
    }
    evanLoaded = { Encoder: lib.Encoder, native };
  } catch {
    evanLoaded = null;
  }
  return evanLoaded;
}

function loadEvanWasm(): EvanEncoderClass | null {
  if (evanWasm !== undefined) return evanWasm;
  try {
    evanWasm = (require('@evan/opus/wasm/index.js') as { Encoder: EvanEncoderClass }).Encoder;
  } catch {
    evanWasm = null;
  }
  return evanWasm;
}

function loadOpusScript(): OpusScriptClass | null {
  if (opusScript !== undefined) return opusScript;
  try {
    opusScript = require('opusscript') as OpusScriptClass;
  } catch {
    opusScript = null;
  }
  return opusScript;
}

/** The addon's raw encode (returns a length) and its shared output buffer, verified once. */
function nativeFastPath(Encoder: EvanEncoderClass): NativeFastPath | null {
  if (fastPath !== undefined) return fastPath;
  fastPath = null;
  try {
    const addon = require('@evan/opus/node/index.js') as {
      Encoder: { prototype: object };
      buffers: { encoder(): Uint8Array };
    };
    const raw = (Object.getPrototypeOf(addon.Encoder.prototype) as { encode?: unknown }).encode;
    if (typeof raw !== 'function') return null;
    const candidate: NativeFastPath = {
      encode: raw as NativeFastPath['encode'],
      shared: addon.buffers.encoder(),
    };
    // Two fresh encoders fed the same signal must give the same packets by either path.
    const opts = { channels: OPUS_CHANNELS, sample_rate: OPUS_SAMPLE_RATE, application: 'audio' };
    const a = new Encoder(opts);
    const b = new Encoder(opts);
    const pcm = new Int16Array(OPUS_PACKET_FRAMES * OPUS_CHANNELS);
    for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin(i * 0.031));
    for (let k = 0; k < 3; k++) {
      const expected = a.encode(pcm);
      const n = candidate.encode.call(b, pcm);
      if (n !== expected.length || n > candidate.shared.length) return null;
      for (let i = 0; i < n; i++) if (candidate.shared[i] !== expected[i]) return null;
    }
    fastPath = candidate;
  } catch {
    fastPath = null;
  }
  return fastPath;
}

export class OpusChunkEncoder {
  readonly backend: OpusBackendName;
  readonly bitrate: number;
  readonly complexity: number;
  /** Encoder lookahead in 48 kHz frames: the decoder drops this many (OpusHead pre-skip). */
  readonly preSkipFrames: number;
  private readonly pcm = new Int16Array(OPUS_PACKET_FRAMES * OPUS_CHANNELS);
  private readonly encodePacket: PacketEncoder;
  private readonly release: () => void;
  private readonly resetState: () => void;
  private closed = false;

  constructor(opts: OpusEncoderOptions = {}) {
    this.bitrate = opts.bitrate ?? DEFAULT_OPUS_BITRATE;
    this.complexity = opts.complexity ?? DEFAULT_OPUS_COMPLEXITY;
    if (!Number.isInteger(this.bitrate) || this.bitrate < 6000 || this.bitrate > 510_000) {
      throw new CodecError(
        'BAD_ARGUMENT',
        `opus bitrate must be an integer 6000…510000, got ${this.bitrate}`,
      );
    }
    if (!Number.isInteger(this.complexity) || this.complexity < 0 || this.complexity > 10) {
      throw new CodecError('BAD_ARGUMENT', `opus complexity must be an integer 0…10, got ${this.complexity}`);
    }
    const built = this.build(opts.backend, opts.nativeFastPath ?? true);
    this.backend = built.backend;
    this.encodePacket = built.encodePacket;
    this.preSkipFrames = built.lookaheadFrames;
    this.release = built.release;
    this.resetState = built.reset;
  }

  /**
   * Brings the encoder back to its freshly built state (same settings): what it encodes next is
   * byte for byte what a new encoder would. Lets a worker reuse a removed station's encoder.
   */
  reset(): void {
    if (this.closed) throw new CodecError('BAD_ARGUMENT', 'opus: this encoder is closed');
    this.resetState();
  }

  /** Worst-case bytes `encode` may write for `frames` (packets of at most `maxPacketBytes`). */
  static maxBytes(frames: number, maxPacketBytes = OPUS_MAX_PACKET_BYTES): number {
    return maxPacketBytes >= OPUS_MAX_PACKET_BYTES
      ? maxOpusPayloadBytes(frames)
      : Math.ceil(frames / OPUS_PACKET_FRAMES) * (OPUS_LENGTH_PREFIX_BYTES + maxPacketBytes);
  }

  /**
   * Encodes `frames` (a multiple of 960) of l/r into `out` at `offset` as the wire payload.
   * Returns the bytes written. `out` must have room for maxBytes(frames, maxPacketBytes) from
   * `offset`. A packet longer than `maxPacketBytes` is never written: CodecError PACKET_TOO_LARGE
   * (the encoder's state then is that of a lost packet; the caller rebuilds it).
   */
  encode(
    l: Float32Array,
    r: Float32Array,
    frames: number,
    out: Uint8Array,
    offset: number,
    maxPacketBytes = OPUS_MAX_PACKET_BYTES,
  ): number {
    if (frames % OPUS_PACKET_FRAMES !== 0 || frames > l.length || frames > r.length) {
      throw new RangeError(
        `opus: frames must be a multiple of ${OPUS_PACKET_FRAMES} within the inputs, got ${frames}`,
      );
    }
    const need = OpusChunkEncoder.maxBytes(frames, maxPacketBytes);
    if (offset < 0 || offset + need > out.length) {
      throw new RangeError(`opus: output needs ${need} bytes from ${offset}`);
    }
    if (this.closed) throw new CodecError('BAD_ARGUMENT', 'opus: this encoder is closed');
    const pcm = this.pcm;
    let pos = offset;
    for (let start = 0; start < frames; start += OPUS_PACKET_FRAMES) {
      // subarray() would allocate a view per packet; interleave reads by index instead.
      interleaveFrom(l, r, start, pcm);
      const n = this.encodePacket(pcm, out, pos + OPUS_LENGTH_PREFIX_BYTES, maxPacketBytes);
      out[pos] = n & 0xff;
      out[pos + 1] = n >> 8;
      pos += OPUS_LENGTH_PREFIX_BYTES + n;
    }
    return pos - offset;
  }

  /**
   * Frees the backend's encoder state now. Idempotent; encode() throws afterwards.
   * - opusscript (WASM): the only way its state is freed; nothing of it is ever collected by GC.
   * - @evan/opus WASM: drop() frees it in the WASM heap at once (otherwise a FinalizationRegistry
   *   does, whenever a GC happens to collect the encoder).
   * - @evan/opus native (the one that runs where the addon loads): the addon has no explicit free;
   *   its state (about 50 KB) is freed by the addon's finalizer when GC collects the encoder.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }

  private build(
    wanted: OpusBackendName | undefined,
    allowFastPath: boolean,
  ): {
    backend: OpusBackendName;
    encodePacket: PacketEncoder;
    lookaheadFrames: number;
    release: () => void;
    reset: () => void;
  } {
    const order: OpusBackendName[] = wanted ? [wanted] : ['evan-native', 'evan-wasm', 'opusscript'];
    for (const name of order) {
      if (name === 'evan-native' || name === 'evan-wasm') {
        const evan = loadEvan();
        const Encoder = name === 'evan-native' ? (evan?.native ? evan.Encoder : null) : loadEvanWasm();
        if (!Encoder) continue;
        const enc = new Encoder({
          channels: OPUS_CHANNELS,
          sample_rate: OPUS_SAMPLE_RATE,
          application: 'audio',
        });
        enc.ctl(CTL_SET_BITRATE, this.bitrate);
        enc.ctl(CTL_SET_COMPLEXITY, this.complexity);
        enc.ctl(CTL_SET_SIGNAL, SIGNAL_MUSIC);
        const lookaheadFrames = enc.ctl(CTL_GET_LOOKAHEAD);
        const fast = name === 'evan-native' && allowFastPath ? nativeFastPath(Encoder) : null;
        const encodePacket: PacketEncoder = fast
          ? (pcm, out, at, max) => {
              const n = fast.encode.call(enc, pcm);
              if (n > max) throw tooLarge(n, max);
              // A byte loop, not out.set(shared.subarray(…)): no view object per packet.
              const shared = fast.shared;
              for (let i = 0; i < n; i++) out[at + i] = shared[i]!;
              return n;
            }
          : (pcm, out, at, max) => {
              const packet = enc.encode(pcm);
              if (packet.length > max) throw tooLarge(packet.length, max);
              out.set(packet, at);
              return packet.length;
            };
        const drop = (enc as { drop?: () => void }).drop;
        return {
          backend: name,
          encodePacket,
          lookaheadFrames,
          release: () => drop?.call(enc),
          // OPUS_RESET_STATE keeps the settings (bitrate, complexity, signal).
          reset: () => enc.ctl(CTL_RESET_STATE),
        };
      }
      const OpusScript = loadOpusScript();
      if (!OpusScript) continue;
      const enc = new OpusScript(OPUS_SAMPLE_RATE, OPUS_CHANNELS, APPLICATION_AUDIO);
      enc.encoderCTL(CTL_SET_BITRATE, this.bitrate);
      enc.encoderCTL(CTL_SET_COMPLEXITY, this.complexity);
      enc.encoderCTL(CTL_SET_SIGNAL, SIGNAL_MUSIC);
      let released = false;
      // opusscript copies its input byte by byte into the WASM heap: it must get the s16le
      // bytes, not the Int16Array (measured: an Int16Array comes out 2 dB low and distorted).
      const pcmBytes = new Uint8Array(this.pcm.buffer);
      return {
        backend: 'opusscript',
        encodePacket: (_pcm, out, at, max) => {
          const packet = enc.encode(pcmBytes, OPUS_PACKET_FRAMES);
          if (packet.length > max) throw tooLarge(packet.length, max);
          out.set(packet, at);
          return packet.length;
        },
        // opusscript has no getter for it; libopus' value is fixed for 48 kHz `audio`.
        lookaheadFrames: LIBOPUS_LOOKAHEAD_FRAMES,
        release: () => {
          if (!released) enc.delete();
          released = true;
        },
        reset: () => enc.encoderCTL(CTL_RESET_STATE, 0),
      };
    }
    throw new CodecError('NO_BACKEND', `no Opus backend could be loaded (tried ${order.join(', ')})`);
  }
}

function interleaveFrom(l: Float32Array, r: Float32Array, start: number, pcm: Int16Array): void {
  for (let i = 0, o = 0; i < OPUS_PACKET_FRAMES; i++, o += 2) {
    pcm[o] = floatToInt16(l[start + i]!);
    pcm[o + 1] = floatToInt16(r[start + i]!);
  }
}
