import { DriftController } from './drift-controller.ts';
import { GainRamp } from './gain-ramp.ts';
import { JitterTarget } from './jitter-target.ts';

/**
 * The player's adaptive jitter buffer: decoded stereo frames in, speaker frames out.
 *
 * - Frames are placed by their station position, never by arrival time: a gap in positions, a
 *   discontinuity flag or a new stream becomes a "splice", played as a short V-shaped fade
 *   (SPLICE_FADE_MS down, then up) so the jump never clicks; duplicates are dropped.
 * - Playback starts (and restarts after an underrun) once the fill reaches the target
 *   (jitter-target.ts), fading in.
 * - When the fill is about to run out, the output fades to zero using the last frames it has
 *   (never a hard stop), counts one underrun, and waits for the target again.
 * - Clock drift is corrected by resampling at 1 ± 0.5 % (drift-controller.ts), with 4-point
 *   Hermite interpolation.
 * - A fill far above the target (a burst after a stall) is cut back with a fade-out/jump/fade-in;
 *   in the first seconds after a start, anything much beyond the start-up cushion already is.
 *
 * Pure TypeScript with no platform API: the AudioWorklet wraps it, and node tests drive it with
 * simulated networks. render() allocates nothing.
 */
export const DEFAULT_SAMPLE_RATE = 48_000;
/** 2^18 frames = 5.46 s at 48 kHz; a power of two so ring indices are a mask. */
export const DEFAULT_CAPACITY_FRAMES = 1 << 18;
export const SPLICE_FADE_MS = 5;
/** Length of the fade-out when the buffer runs dry (shorter if fewer frames are left). */
export const STARVE_FADE_MS = 6;
export const UNDERRUN_FADE_IN_MS = 40;
/** Playback starts with at most this much buffered (the rest of a connect burst is skipped). */
export const START_MAX_FILL_MS = 400;
/** Fill beyond target + this is cut back (the drift correction alone would take minutes). */
export const EXCESS_SKIP_MS = 1500;
/**
 * For this long after playback (re)starts, a fill beyond the start-up cushion
 * (max(target, START_MAX_FILL_MS)) + START_EXCESS_MS is cut back to the cushion: a burst that
 * lands just after the start (a decoder catching up in a cold browser) would otherwise add its
 * length to the lag behind live for a minute or more.
 */
export const START_SETTLE_S = 3;
export const START_EXCESS_MS = 150;
export const MAX_SPLICES = 64;
/** Short, so that stats().rms says what is sounding now (silence shows within ~1 s). */
export const RMS_TIME_CONSTANT_S = 0.1;
/** Hermite interpolation reads one frame behind and two ahead of the read position. */
const LOOKAHEAD_FRAMES = 3;

export const PlayoutState = { Buffering: 0, Playing: 1, Starving: 2, Skipping: 3 } as const;
export type PlayoutState = (typeof PlayoutState)[keyof typeof PlayoutState];

export interface PlayoutStats {
  state: PlayoutState;
  bufferedMs: number;
  targetMs: number;
  underruns: number;
  playedFrames: number;
  rms: number;
  ratio: number;
  droppedFrames: number;
  /** Joins played as fades (gaps, discontinuities, new streams, skips). */
  splices: number;
  /**
   * Station position (frames) at the read head, i.e. what is sounding now; NaN while nothing is
   * playing. Derived from the newest push, so just after a splice it is off by the gap's size
   * until the older frames have played out.
   */
  positionFrames: number;
}

export class PlayoutBuffer {
  /** The stream's sample rate (positions, fill); the output may run at another rate. */
  readonly sampleRate: number;
  readonly outputSampleRate: number;
  /** Stream frames per output frame before drift correction (1 when both run at 48 kHz). */
  private readonly rateRatio: number;
  private readonly ringL: Float32Array;
  private readonly ringR: Float32Array;
  private readonly mask: number;
  /** Absolute frame counters into the ring (monotonic); the read index is fractional. */
  private writeIndex = 0;
  private readIndex = 0;
  /** Station position expected for the next pushed frame, once a stream is mapped. */
  private nextPositionFrames = 0;
  private mapped = false;
  private newStreamPending = false;

  private readonly splices: Float64Array;
  private spliceHead = 0;
  private spliceCount = 0;
  private lastSpliceIndex = -Infinity;
  private readonly spliceFadeFrames: number;

  private state: PlayoutState = PlayoutState.Buffering;
  private readonly userGain = new GainRamp(1);
  private readonly flowGain = new GainRamp(0);
  private readonly drift = new DriftController();
  private readonly target: JitterTarget;
  private chunkMs: number;
  /** Seconds since playback last (re)started. */
  private sincePlayS = Infinity;

  private underrunsCount = 0;
  private playedFramesCount = 0;
  private droppedFramesCount = 0;
  private splicesCount = 0;
  private meanSquare = 0;

  constructor(
    opts: { sampleRate?: number; outputSampleRate?: number; capacityFrames?: number; chunkMs?: number } = {},
  ) {
    this.sampleRate = opts.sampleRate ?? DEFAULT_SAMPLE_RATE;
    this.outputSampleRate = opts.outputSampleRate ?? this.sampleRate;
    this.rateRatio = this.sampleRate / this.outputSampleRate;
    const capacity = opts.capacityFrames ?? DEFAULT_CAPACITY_FRAMES;
    if ((capacity & (capacity - 1)) !== 0) throw new Error('capacityFrames must be a power of two');
    this.ringL = new Float32Array(capacity);
    this.ringR = new Float32Array(capacity);
    this.mask = capacity - 1;
    this.splices = new Float64Array(MAX_SPLICES);
    this.spliceFadeFrames = Math.round((SPLICE_FADE_MS / 1000) * this.sampleRate);
    this.chunkMs = opts.chunkMs ?? 100;
    this.target = new JitterTarget(this.chunkMs);
  }

  // ---- input side -------------------------------------------------------------------------

  /** The next push starts a new stream (a new connection): its positions are not comparable. */
  newStream(): void {
    this.newStreamPending = true;
  }

  setChunkMs(chunkMs: number): void {
    this.chunkMs = chunkMs;
    this.target.setChunkMs(chunkMs);
  }

  /** p98 and largest lateness in the arrival window (jitter-target.ts). */
  setJitterMs(jitterMs: number, maxLatenessMs = jitterMs): void {
    this.target.setJitterMs(jitterMs, maxLatenessMs);
  }

  /** Adds decoded frames whose first frame is at `positionFrames` of the station's clock. */
  push(positionFrames: number, left: Float32Array, right: Float32Array, discontinuity = false): void {
    const frames = Math.min(left.length, right.length);
    let offset = 0;
    if (!this.mapped || this.newStreamPending) {
      this.addSplice(this.writeIndex);
      this.mapped = true;
      this.newStreamPending = false;
    } else {
      const deltaFrames = positionFrames - this.nextPositionFrames;
      const capacity = this.mask + 1;
      if (deltaFrames < 0 && -deltaFrames <= capacity) {
        // Already have (some of) these frames: a duplicate or an overlap.
        offset = -deltaFrames;
        if (offset >= frames) return;
        if (discontinuity) this.addSplice(this.writeIndex);
      } else if (deltaFrames !== 0 || discontinuity) {
        // Frames were skipped (or the clock jumped): join the two sides with a fade.
        this.addSplice(this.writeIndex);
      }
    }
    const count = frames - offset;
    const free = this.mask + 1 - LOOKAHEAD_FRAMES - Math.ceil(this.writeIndex - this.readIndex);
    if (count > free) {
      // Bounded: a full ring drops the newest audio (a later position gap splices it cleanly).
      this.droppedFramesCount += count;
      return;
    }
    let w = this.writeIndex;
    for (let i = offset; i < frames; i++) {
      const idx = w & this.mask;
      this.ringL[idx] = left[i];
      this.ringR[idx] = right[i];
      w++;
    }
    this.writeIndex = w;
    this.nextPositionFrames = positionFrames + frames;
  }

  private addSplice(atIndex: number): void {
    this.splicesCount++;
    if (this.spliceCount === MAX_SPLICES) {
      this.spliceHead = (this.spliceHead + 1) % MAX_SPLICES;
      this.spliceCount--;
    }
    this.splices[(this.spliceHead + this.spliceCount) % MAX_SPLICES] = atIndex;
    this.spliceCount++;
  }

  // ---- control ------------------------------------------------------------------------------

  /** Fades the whole output (play/pause/sleep) to `gain` over `ms`. */
  fadeTo(gain: number, ms: number): void {
    const fromSilence = this.userGain.value === 0 && gain > 0;
    this.userGain.rampTo(gain, (ms / 1000) * this.outputSampleRate, fromSilence ? 'easeOut' : 'smooth');
  }

  /** Drops all audio (stop). The next push is a new stream; counters are kept. */
  clear(): void {
    this.readIndex = Math.ceil(this.readIndex);
    this.writeIndex = this.readIndex;
    this.spliceCount = 0;
    this.mapped = false;
    this.state = PlayoutState.Buffering;
    this.flowGain.rampTo(0, 0);
    this.drift.resetFill();
  }

  // ---- output side --------------------------------------------------------------------------

  /** Fills both outputs (OVERWRITE) with the next frames. Allocation-free. */
  render(outL: Float32Array, outR: Float32Array): void {
    const n = outL.length;
    const sr = this.sampleRate;
    const outSr = this.outputSampleRate;
    const dtS = n / outSr;
    this.target.tick(dtS);
    const targetFrames = (this.target.targetMs / 1000) * sr;
    const buffered = this.writeIndex - this.readIndex;
    let i = 0;

    if (this.state === PlayoutState.Buffering) {
      if (this.mapped && buffered >= targetFrames) {
        // Keep what a connect burst brought, up to START_MAX_FILL_MS: the first seconds are when
        // the page stalls most (measured: a 212 ms main-thread stall 0.4 s after the click, 1 run
        // in 4, which emptied a buffer trimmed to the target). The drift correction then brings
        // the fill down to the (low) target within about half a minute. Nothing is audible yet,
        // so skipping frames beyond the cap costs nothing.
        const startFrames = Math.max(targetFrames, (START_MAX_FILL_MS / 1000) * sr);
        if (buffered > startFrames + this.spliceFadeFrames) this.jumpTo(this.writeIndex - startFrames);
        this.state = PlayoutState.Playing;
        this.flowGain.rampTo(1, (UNDERRUN_FADE_IN_MS / 1000) * outSr);
        this.drift.resetFill();
        this.sincePlayS = 0;
      } else {
        outL.fill(0);
        outR.fill(0);
        this.updateRms(0, n);
        return;
      }
    }

    this.sincePlayS += dtS;
    // What a cut-back keeps: the target, or the start-up cushion just after a start.
    const settling = this.sincePlayS < START_SETTLE_S;
    const keepFrames = settling ? Math.max(targetFrames, (START_MAX_FILL_MS / 1000) * sr) : targetFrames;
    const excessFrames = ((settling ? START_EXCESS_MS : EXCESS_SKIP_MS) / 1000) * sr;
    const ratio = this.drift.update((buffered / sr) * 1000, this.target.targetMs, dtS) * this.rateRatio;
    const starveFadeFrames = (STARVE_FADE_MS / 1000) * outSr;
    const outputFramesLeft = (buffered - LOOKAHEAD_FRAMES) / ratio;
    if (this.state === PlayoutState.Playing) {
      if (buffered > keepFrames + excessFrames) {
        this.state = PlayoutState.Skipping;
        this.flowGain.rampTo(0, this.spliceFadeFrames);
      } else if (outputFramesLeft < n + starveFadeFrames) {
        this.state = PlayoutState.Starving;
        this.flowGain.rampTo(0, Math.max(1, Math.min(starveFadeFrames, Math.floor(outputFramesLeft) - 1)));
      }
    } else if (this.state === PlayoutState.Starving && outputFramesLeft >= n + 4 * starveFadeFrames) {
      // Data arrived in time: back up from wherever the fade had got to; no silence, no underrun.
      this.state = PlayoutState.Playing;
      this.flowGain.rampTo(1, (UNDERRUN_FADE_IN_MS / 1000) * outSr);
    }

    const ringL = this.ringL;
    const ringR = this.ringR;
    const mask = this.mask;
    const fade = this.spliceFadeFrames;
    let read = this.readIndex;
    let sumSquares = 0;
    for (; i < n; i++) {
      if (read + LOOKAHEAD_FRAMES > this.writeIndex) {
        this.enterUnderrun();
        break;
      }
      // Splices: fade down before the next one, up after the last one passed.
      let spliceGain = 1;
      while (this.spliceCount > 0 && this.splices[this.spliceHead] <= read) {
        this.lastSpliceIndex = this.splices[this.spliceHead];
        this.spliceHead = (this.spliceHead + 1) % MAX_SPLICES;
        this.spliceCount--;
      }
      if (this.spliceCount > 0) {
        const ahead = this.splices[this.spliceHead] - read;
        if (ahead < fade) spliceGain = raisedCosine(ahead / fade);
      }
      const since = read - this.lastSpliceIndex;
      if (since < fade) spliceGain *= raisedCosine(since / fade);

      const gain = this.userGain.next() * this.flowGain.next() * spliceGain;
      const base = Math.floor(read);
      const t = read - base;
      const l = hermite(
        ringL[(base - 1) & mask],
        ringL[base & mask],
        ringL[(base + 1) & mask],
        ringL[(base + 2) & mask],
        t,
      );
      const r = hermite(
        ringR[(base - 1) & mask],
        ringR[base & mask],
        ringR[(base + 1) & mask],
        ringR[(base + 2) & mask],
        t,
      );
      const sl = l * gain;
      const sr2 = r * gain;
      outL[i] = sl;
      outR[i] = sr2;
      sumSquares += 0.5 * (sl * sl + sr2 * sr2);
      read += ratio;
      this.playedFramesCount++;

      if (!this.flowGain.ramping && this.flowGain.value === 0) {
        if (this.state === PlayoutState.Starving) {
          this.enterUnderrun();
          i++;
          break;
        }
        if (this.state === PlayoutState.Skipping) {
          // Silent now: jump to what is kept before the newest frame and fade back in.
          this.jumpTo(Math.max(read, this.writeIndex - keepFrames));
          read = this.readIndex;
          this.state = PlayoutState.Playing;
          this.flowGain.rampTo(1, fade);
        }
      }
    }
    this.readIndex = read;
    for (let j = i; j < n; j++) {
      outL[j] = 0;
      outR[j] = 0;
    }
    this.updateRms(sumSquares, n);
  }

  /** Moves the read position forward (while silent); the frames there fade in as after a splice. */
  private jumpTo(index: number): void {
    const read = Math.floor(index);
    while (this.spliceCount > 0 && this.splices[this.spliceHead] <= read) {
      this.spliceHead = (this.spliceHead + 1) % MAX_SPLICES;
      this.spliceCount--;
    }
    this.lastSpliceIndex = read;
    this.readIndex = read;
  }

  private enterUnderrun(): void {
    if (this.state === PlayoutState.Buffering) return;
    this.state = PlayoutState.Buffering;
    this.underrunsCount++;
    this.target.onUnderrun();
    this.flowGain.rampTo(0, 0);
    this.drift.resetFill();
  }

  private updateRms(sumSquares: number, frames: number): void {
    const a = Math.exp(-frames / (RMS_TIME_CONSTANT_S * this.outputSampleRate));
    this.meanSquare = this.meanSquare * a + (sumSquares / frames) * (1 - a);
  }

  // ---- figures ------------------------------------------------------------------------------

  get bufferedMs(): number {
    return (Math.max(0, this.writeIndex - this.readIndex) / this.sampleRate) * 1000;
  }

  get targetMs(): number {
    return this.target.targetMs;
  }

  get underruns(): number {
    return this.underrunsCount;
  }

  get playedFrames(): number {
    return this.playedFramesCount;
  }

  get rms(): number {
    return Math.sqrt(this.meanSquare);
  }

  get ratio(): number {
    return this.drift.ratio;
  }

  /** See PlayoutStats.positionFrames. */
  get positionFrames(): number {
    if (!this.mapped || this.state === PlayoutState.Buffering) return NaN;
    return this.nextPositionFrames - (this.writeIndex - this.readIndex);
  }

  get playoutState(): PlayoutState {
    return this.state;
  }

  /** A snapshot for display and tests (allocates: not for process()). */
  stats(): PlayoutStats {
    return {
      state: this.state,
      bufferedMs: this.bufferedMs,
      targetMs: this.targetMs,
      underruns: this.underrunsCount,
      playedFrames: this.playedFramesCount,
      rms: this.rms,
      ratio: this.drift.ratio,
      droppedFrames: this.droppedFramesCount,
      splices: this.splicesCount,
      positionFrames: this.positionFrames,
    };
  }
}

function raisedCosine(x: number): number {
  return x <= 0 ? 0 : x >= 1 ? 1 : 0.5 - 0.5 * Math.cos(Math.PI * x);
}

/** 4-point, 3rd-order Hermite interpolation between x0 and x1 at fraction t. */
function hermite(xm1: number, x0: number, x1: number, x2: number, t: number): number {
  const c1 = 0.5 * (x1 - xm1);
  const c2 = xm1 - 2.5 * x0 + 2 * x1 - 0.5 * x2;
  const c3 = 0.5 * (x2 - xm1) + 1.5 * (x0 - x1);
  return ((c3 * t + c2) * t + c1) * t + x0;
}
