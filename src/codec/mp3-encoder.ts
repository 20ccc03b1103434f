import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CodecError } from './codec-error.ts';

/**
 * MP3 (MPEG-1 Layer III, CBR) encoder for station audio: LAME compiled to WebAssembly, from the
 * `wasm-media-encoders` package (its `wasm/mp3.wasm`). We instantiate that module ourselves,
 * synchronously, and call its C entry points directly, because the package's JS wrapper is async
 * to create and allocates arrays and views on every `encode()`; here a chunk costs two copies
 * (PCM in, MP3 out) and no allocation, unless the WASM memory grew (then the views are rebuilt once).
 *
 * LAME keeps its own sample buffer: a frame is 1152 samples, a 100 ms chunk 4800, so a chunk
 * yields the whole frames it completed (4 or 5 at 48 kHz). LAME's own output is not frame-aligned
 * (it hands out bytes as its bit writer fills them, ending mid-frame), so this class keeps the tail
 * of an unfinished frame in a fixed buffer and returns whole frames only: every chunk's bytes start
 * at a frame sync, and a listener may join at any chunk.
 */
export const MP3_SAMPLE_RATE = 48_000;
export const MP3_CHANNELS = 2;
export const MP3_FRAME_SAMPLES = 1152;
export const DEFAULT_MP3_BITRATE = 128_000;
/** The constant bitrates LAME accepts for MPEG-1 (32/44.1/48 kHz), in bits per second. */
export const MP3_BITRATES: readonly number[] = [
  32_000, 40_000, 48_000, 56_000, 64_000, 80_000, 96_000, 112_000, 128_000, 160_000, 192_000, 224_000,
  256_000, 320_000,
];

/**
 * The most MP3 bytes `frames` new samples can produce: the whole frames they may complete (plus
 * one held back by the encoder's delay and look-ahead), each at most 144 × bitrate ÷ rate + 1
 * (padding) bytes, plus the LAME/Xing-free reservoir slack (none with CBR). Used to size the
 * ring's MP3 region.
 */
export function maxMp3BytesForFrames(frames: number, bitrate: number, sampleRate = MP3_SAMPLE_RATE): number {
  return (Math.ceil(frames / MP3_FRAME_SAMPLES) + 2) * maxMp3FrameBytes(bitrate, sampleRate);
}

/** Bytes of one MPEG-1 Layer III frame at most (with the padding byte). */
export function maxMp3FrameBytes(bitrate: number, sampleRate = MP3_SAMPLE_RATE): number {
  return Math.floor((144 * bitrate) / sampleRate) + 1;
}

const MPEG1_L3_KBPS = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0];
const MPEG1_RATES = [44_100, 48_000, 32_000, 0];

/**
 * Length in bytes of the MPEG-1 Layer III frame whose header starts at `at`, or 0 when the bytes
 * there are not such a header (or fewer than 4 bytes are available).
 */
export function mp3FrameLength(b: Uint8Array, at: number, end: number): number {
  if (end - at < 4 || b[at] !== 0xff || (b[at + 1]! & 0xfe) !== 0xfa) return 0;
  const kbps = MPEG1_L3_KBPS[b[at + 2]! >> 4]!;
  const rate = MPEG1_RATES[(b[at + 2]! >> 2) & 3]!;
  if (kbps === 0 || rate === 0) return 0;
  return Math.floor((144_000 * kbps) / rate) + ((b[at + 2]! >> 1) & 1);
}

/** The few WebAssembly APIs used here (the project's type libraries do not declare them). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: unknown };
}
type WasmModule = { readonly __wasmModule: unique symbol };
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface LameExports {
  memory: { buffer: ArrayBuffer };
  _initialize(): void;
  malloc(n: number): number;
  free(p: number): void;
  enc_init(params: number): number;
  enc_free(ref: number): void;
  enc_get_pcm(ref: number, frames: number): number;
  enc_get_out_buf(ref: number): number;
  enc_encode(ref: number, frames: number): number;
  enc_flush(ref: number): number;
}

let compiled: WasmModule | null = null;

/** Compiles the LAME module once per thread (synchronous: Node has no size limit on that). */
function lameModule(): WasmModule {
  if (compiled) return compiled;
  const path = createRequire(import.meta.url).resolve('wasm-media-encoders/wasm/mp3');
  compiled = new Wasm.Module(readFileSync(path));
  return compiled;
}

/**
 * The thread's LAME instance, shared by its encoders (each is one `enc_init` state in its heap): an
 * instance starts with 16 MiB of memory, a station's encoder state adds a few hundred KB. An
 * encoder that throws marks the instance broken: later encoders get a fresh one, and the old one
 * goes with its last encoder.
 */
let sharedLame: LameExports | null = null;

function lameInstance(): LameExports {
  if (sharedLame) return sharedLame;
  const instance = new Wasm.Instance(lameModule(), {
    wasi_snapshot_preview1: {
      proc_exit: (code: number) => {
        throw new CodecError('BAD_PAYLOAD', `LAME aborted (exit ${code})`);
      },
    },
    env: { emscripten_notify_memory_growth: () => {} },
  });
  const lame = instance.exports as unknown as LameExports;
  lame._initialize();
  sharedLame = lame;
  return lame;
}

/** Bytes of memory of this thread's shared LAME instance (0 before the first encoder): for tests. */
export function lameHeapBytes(): number {
  return sharedLame ? sharedLame.memory.buffer.byteLength : 0;
}

export interface Mp3EncoderOptions {
  /** Bits per second, one of MP3_BITRATES. */
  bitrate?: number;
}

/**
 * One MP3 stream's encoder: an encoder state in the thread's shared LAME instance; close() frees
 * it. One per station, in the engine worker.
 */
export class Mp3ChunkEncoder {
  readonly bitrate: number;
  private lame: LameExports | null;
  private ref: number;
  private heapBuffer: ArrayBuffer | null = null;
  private heapU8: Uint8Array = new Uint8Array(0);
  private heapF32: Float32Array = new Float32Array(0);
  private heapI32: Int32Array = new Int32Array(0);
  /** LAME output not yet returned: at most one unfinished frame after each encode(). */
  private readonly pending: Uint8Array;
  private pendingBytes = 0;

  constructor(opts: Mp3EncoderOptions = {}) {
    const bitrate = opts.bitrate ?? DEFAULT_MP3_BITRATE;
    if (!MP3_BITRATES.includes(bitrate)) {
      throw new CodecError(
        'BAD_ARGUMENT',
        `MP3 bitrate ${bitrate} is not one of ${MP3_BITRATES.join(', ')} bit/s`,
      );
    }
    this.bitrate = bitrate;
    // One unfinished frame, plus whole frames held back when a chunk's region is full.
    this.pending = new Uint8Array(maxMp3BytesForFrames(16 * MP3_FRAME_SAMPLES, bitrate) + 16_384);
    const lame = lameInstance();
    this.lame = lame;
    // Parameters (wasm-media-encoders' layout): u32 channels, u32 sample rate, then i32 CBR
    // kbit/s, f32 VBR quality (-1 = CBR), i32 output sample rate (0 = same as input).
    const p = lame.malloc(20);
    if (!p) throw new CodecError('NO_BACKEND', 'LAME: no memory for the parameters');
    this.views();
    const w = p >> 2;
    this.heapI32[w] = MP3_CHANNELS;
    this.heapI32[w + 1] = MP3_SAMPLE_RATE;
    this.heapI32[w + 2] = bitrate / 1000;
    this.heapF32[w + 3] = -1;
    this.heapI32[w + 4] = MP3_SAMPLE_RATE;
    try {
      this.ref = lame.enc_init(p);
    } finally {
      lame.free(p);
    }
    if (!this.ref) throw new CodecError('NO_BACKEND', 'LAME: encoder initialization failed');
  }

  /** Rebuilds the heap views when the WASM memory grew (rare: its buffer is replaced). */
  private views(): void {
    const buf = this.lame!.memory.buffer;
    if (buf === this.heapBuffer) return;
    this.heapBuffer = buf;
    this.heapU8 = new Uint8Array(buf);
    this.heapF32 = new Float32Array(buf);
    this.heapI32 = new Int32Array(buf);
  }

  /**
   * Encodes `frames` samples of both channels; writes the whole MP3 frames completed so far (at
   * most `maxBytes` of them; the rest wait for the next call) into `out` at `offset` and returns
   * their byte count (0 when no frame completed yet). The bytes written start with a frame header.
   */
  encode(
    left: Float32Array,
    right: Float32Array,
    frames: number,
    out: Uint8Array,
    offset: number,
    maxBytes = out.length - offset,
  ): number {
    const lame = this.lame;
    if (!lame) throw new CodecError('BAD_ARGUMENT', 'MP3 encoder is closed');
    try {
      return this.encodeWith(lame, left, right, frames, out, offset, maxBytes);
    } catch (err) {
      // The shared instance's state is unknown now: encoders made from here on get a new one.
      if (sharedLame === lame) sharedLame = null;
      throw err;
    }
  }

  private encodeWith(
    lame: LameExports,
    left: Float32Array,
    right: Float32Array,
    frames: number,
    out: Uint8Array,
    offset: number,
    maxBytes: number,
  ): number {
    const channels = lame.enc_get_pcm(this.ref, frames);
    if (!channels) throw new CodecError('BUFFER_TOO_SMALL', 'LAME: no memory for the PCM buffer');
    this.views();
    const l = this.heapI32[channels >> 2]! >> 2;
    const r = this.heapI32[(channels >> 2) + 1]! >> 2;
    const f32 = this.heapF32;
    // No view is made for the usual whole-array call.
    f32.set(frames === left.length ? left : left.subarray(0, frames), l);
    f32.set(frames === right.length ? right : right.subarray(0, frames), r);
    const n = lame.enc_encode(this.ref, frames);
    if (n < 0) throw new CodecError('BAD_PAYLOAD', `LAME: encoding failed (${n})`);
    if (n > 0) {
      const pending = this.pending;
      if (this.pendingBytes + n > pending.length)
        throw new CodecError('BUFFER_TOO_SMALL', `LAME output of ${n} bytes does not fit`);
      this.views();
      const at = lame.enc_get_out_buf(this.ref);
      const heap = this.heapU8;
      const base = this.pendingBytes;
      for (let i = 0; i < n; i++) pending[base + i] = heap[at + i]!;
      this.pendingBytes += n;
    }
    return this.takeWholeFrames(out, offset, Math.min(maxBytes, out.length - offset));
  }

  /** Moves the whole frames at the start of `pending` (up to `maxBytes`) to `out`; keeps the rest. */
  private takeWholeFrames(out: Uint8Array, offset: number, maxBytes: number): number {
    const pending = this.pending;
    const end = this.pendingBytes;
    let whole = 0;
    while (whole < end) {
      const len = mp3FrameLength(pending, whole, end);
      if (len === 0) {
        if (end - whole < 4) break;
        throw new CodecError('BAD_PAYLOAD', `LAME output is not at a frame header (byte ${whole} of ${end})`);
      }
      if (whole + len > end || whole + len > maxBytes) break;
      whole += len;
    }
    if (whole === 0) return 0;
    // Byte loops rather than subarray views: nothing is allocated per chunk (a few KB to copy).
    for (let i = 0; i < whole; i++) out[offset + i] = pending[i]!;
    pending.copyWithin(0, whole, end);
    this.pendingBytes = end - whole;
    return whole;
  }

  /**
   * Ends the stream: LAME encodes the samples it still holds (padded to a whole frame) and every
   * remaining frame is written to `out` at `offset` (at most `maxBytes`); returns their byte count.
   * For a file that ends (offline render); a live stream never ends. Encode nothing after it.
   */
  flush(out: Uint8Array, offset: number, maxBytes = out.length - offset): number {
    const lame = this.lame;
    if (!lame) throw new CodecError('BAD_ARGUMENT', 'MP3 encoder is closed');
    const n = lame.enc_flush(this.ref);
    if (n < 0) throw new CodecError('BAD_PAYLOAD', `LAME: flushing failed (${n})`);
    if (this.pendingBytes + n > this.pending.length)
      throw new CodecError('BUFFER_TOO_SMALL', `LAME output of ${n} bytes does not fit`);
    this.views();
    const at = lame.enc_get_out_buf(this.ref);
    this.pending.set(this.heapU8.subarray(at, at + n), this.pendingBytes);
    this.pendingBytes += n;
    const end = this.pendingBytes;
    if (end > maxBytes || end > out.length - offset)
      throw new CodecError('BUFFER_TOO_SMALL', `${end} bytes of final MP3 frames do not fit in ${maxBytes}`);
    out.set(this.pending.subarray(0, end), offset);
    this.pendingBytes = 0;
    return end;
  }

  /** Frees this encoder's state in the LAME instance; the object is unusable afterwards. Idempotent. */
  close(): void {
    if (!this.lame) return;
    try {
      this.lame.enc_free(this.ref);
    } catch {
      // Only a broken instance throws here (see encode()); it is dropped with its last encoder.
      if (sharedLame === this.lame) sharedLame = null;
    } finally {
      this.lame = null;
      this.heapBuffer = null;
      this.heapU8 = new Uint8Array(0);
      this.heapF32 = new Float32Array(0);
      this.heapI32 = new Int32Array(0);
    }
  }
}
