import { OpusChunkEncoder } from '../codec/opus-encoder.ts';

/**
 * Opus encoders no station uses any more, reset, for the next one that needs the same settings
 * (bounded). The native backend's state is freed only when GC finalizes its encoder, which may be
 * long after; reusing them keeps station churn and tiers switched on and off from piling them up,
 * and a WASM backend's state is freed explicitly (close()) when the pool is full.
 */
export class OpusEncoderPool {
  private readonly spare: OpusChunkEncoder[] = [];
  private readonly max: number;

  constructor(max = 8) {
    this.max = max;
  }

  /** A reset encoder with these settings, or a new one. */
  take(bitrate: number, complexity: number): OpusChunkEncoder {
    return this.takeSpare(bitrate, complexity) ?? new OpusChunkEncoder({ bitrate, complexity });
  }

  /** A reset encoder with these settings when the pool has one. */
  takeSpare(bitrate: number, complexity: number): OpusChunkEncoder | undefined {
    const i = this.spare.findIndex((e) => e.bitrate === bitrate && e.complexity === complexity);
    return i >= 0 ? this.spare.splice(i, 1)[0] : undefined;
  }

  /** Takes back an encoder (reset here), or closes it when the pool is full or it cannot be reset. */
  give(enc: OpusChunkEncoder): void {
    if (this.spare.length < this.max) {
      try {
        enc.reset();
        this.spare.push(enc);
        return;
      } catch {
        // A broken encoder is not reused.
      }
    }
    try {
      enc.close();
    } catch {
      // Already broken: dropped either way.
    }
  }

  get size(): number {
    return this.spare.length;
  }
}
