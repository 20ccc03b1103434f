/**
 * EBU R128 loudness (ITU-R BS.1770-4 K-weighting and gating; EBU Tech 3341/3342):
 * momentary (400 ms), short-term (3 s), integrated (gated) loudness in LUFS and the loudness
 * range (LRA) in LU.
 *
 * Streaming: push() stereo chunks of any size. The meter keeps one K-weighted mean square per
 * 100 ms segment (a growing list: 10 minutes is 6,000 numbers), from which every measure is
 * derived, so the 75 % block overlap of BS.1770 and the 10 Hz short-term rate of Tech 3342 come
 * for free.
 */

const LUFS_OFFSET = -0.691;
const ABSOLUTE_GATE_LUFS = -70;
const RELATIVE_GATE_INTEGRATED_LU = -10;
const RELATIVE_GATE_RANGE_LU = -20;
const SEGMENT_SECONDS = 0.1;
const MOMENTARY_SEGMENTS = 4;
const SHORT_TERM_SEGMENTS = 30;

/** Biquad coefficients of the two K-weighting stages for a sample rate (as libebur128 derives them). */
function kWeightingCoefficients(sampleRate: number): { b: number[]; a: number[] }[] {
  // Stage 1: high shelf (+4 dB above ~1.7 kHz, the head's acoustic effect).
  let f0 = 1681.974450955533;
  const gainDb = 3.999843853973347;
  let q = 0.7071752369554196;
  let k = Math.tan((Math.PI * f0) / sampleRate);
  const vh = Math.pow(10, gainDb / 20);
  const vb = Math.pow(vh, 0.4996667741545416);
  let a0 = 1 + k / q + k * k;
  const shelf = {
    b: [(vh + (vb * k) / q + k * k) / a0, (2 * (k * k - vh)) / a0, (vh - (vb * k) / q + k * k) / a0],
    a: [1, (2 * (k * k - 1)) / a0, (1 - k / q + k * k) / a0],
  };
  // Stage 2: RLB high-pass (~38 Hz).
  f0 = 38.13547087602444;
  q = 0.5003270373238773;
  k = Math.tan((Math.PI * f0) / sampleRate);
  a0 = 1 + k / q + k * k;
  const highPass = { b: [1, -2, 1], a: [1, (2 * (k * k - 1)) / a0, (1 - k / q + k * k) / a0] };
  return [shelf, highPass];
}

/** Mean square → LUFS (−Infinity for silence). */
function toLufs(meanSquare: number): number {
  return LUFS_OFFSET + 10 * Math.log10(meanSquare);
}

export interface LoudnessSummary {
  /** Gated integrated loudness, LUFS (−Infinity when everything is below the absolute gate). */
  integratedLufs: number;
  /** Loudness range (EBU Tech 3342), LU. */
  loudnessRangeLu: number;
  /** Short-term loudness (3 s windows) every 100 ms, LUFS. */
  shortTermLufs: Float64Array;
  /** Largest momentary (400 ms) loudness, LUFS. */
  maxMomentaryLufs: number;
}

export class LoudnessMeter {
  private readonly segmentFrames: number;
  private readonly coeffs: { b: number[]; a: number[] }[];
  /** Biquad states: [channel][stage][z1, z2]. */
  private readonly state = new Float64Array(2 * 2 * 2);
  private segmentSum = 0;
  private segmentFill = 0;
  /** K-weighted sum over channels of mean squares, one per completed 100 ms segment. */
  private readonly segments: number[] = [];

  constructor(readonly sampleRate: number) {
    this.segmentFrames = Math.round(sampleRate * SEGMENT_SECONDS);
    this.coeffs = kWeightingCoefficients(sampleRate);
  }

  /** Feeds count frames of a stereo signal (pass the same array twice for mono-as-dual-mono). */
  push(left: ArrayLike<number>, right: ArrayLike<number>, count = left.length): void {
    const [s1, s2] = this.coeffs;
    const b10 = s1!.b[0]!,
      b11 = s1!.b[1]!,
      b12 = s1!.b[2]!,
      a11 = s1!.a[1]!,
      a12 = s1!.a[2]!;
    const b20 = s2!.b[0]!,
      b21 = s2!.b[1]!,
      b22 = s2!.b[2]!,
      a21 = s2!.a[1]!,
      a22 = s2!.a[2]!;
    const st = this.state;
    for (let i = 0; i < count; i++) {
      let power = 0;
      for (let ch = 0; ch < 2; ch++) {
        const o = ch * 4;
        const x = ch === 0 ? left[i]! : right[i]!;
        // Transposed direct form II, two stages.
        const y1 = b10 * x + st[o]!;
        st[o] = b11 * x - a11 * y1 + st[o + 1]!;
        st[o + 1] = b12 * x - a12 * y1;
        const y2 = b20 * y1 + st[o + 2]!;
        st[o + 2] = b21 * y1 - a21 * y2 + st[o + 3]!;
        st[o + 3] = b22 * y1 - a22 * y2;
        power += y2 * y2;
      }
      this.segmentSum += power;
      if (++this.segmentFill === this.segmentFrames) {
        this.segments.push(this.segmentSum / this.segmentFrames);
        this.segmentSum = 0;
        this.segmentFill = 0;
      }
    }
  }

  /** Mean squares of the sliding blocks of `n` segments (hop one segment). */
  private blocks(n: number): Float64Array {
    const seg = this.segments;
    const count = Math.max(0, seg.length - n + 1);
    const out = new Float64Array(count);
    let run = 0;
    for (let i = 0; i < seg.length; i++) {
      run += seg[i]!;
      if (i >= n) run -= seg[i - n]!;
      if (i >= n - 1) out[i - n + 1] = Math.max(0, run) / n;
    }
    return out;
  }

  /** Gated integrated loudness (BS.1770-4) of everything pushed so far, LUFS. */
  integratedLufs(): number {
    const blocks = this.blocks(MOMENTARY_SEGMENTS);
    const absGate = Array.from(blocks).filter((z) => toLufs(z) > ABSOLUTE_GATE_LUFS);
    if (absGate.length === 0) return -Infinity;
    const relGate = toLufs(absGate.reduce((s, z) => s + z, 0) / absGate.length) + RELATIVE_GATE_INTEGRATED_LU;
    const gated = absGate.filter((z) => toLufs(z) > relGate);
    return toLufs(gated.reduce((s, z) => s + z, 0) / gated.length);
  }

  /** Loudness range (EBU Tech 3342): 10th to 95th percentile of gated short-term loudness, LU. */
  loudnessRangeLu(): number {
    const st = Array.from(this.blocks(SHORT_TERM_SEGMENTS)).filter((z) => toLufs(z) > ABSOLUTE_GATE_LUFS);
    if (st.length === 0) return 0;
    const relGate = toLufs(st.reduce((s, z) => s + z, 0) / st.length) + RELATIVE_GATE_RANGE_LU;
    const gated = st
      .map(toLufs)
      .filter((l) => l > relGate)
      .sort((a, b) => a - b);
    if (gated.length === 0) return 0;
    const pick = (p: number): number =>
      gated[Math.min(gated.length - 1, Math.round(p * (gated.length - 1)))]!;
    return pick(0.95) - pick(0.1);
  }

  /** Short-term loudness (3 s) every 100 ms, LUFS. */
  shortTermLufs(): Float64Array {
    return this.blocks(SHORT_TERM_SEGMENTS).map(toLufs);
  }

  /** Momentary loudness (400 ms) every 100 ms, LUFS. */
  momentaryLufs(): Float64Array {
    return this.blocks(MOMENTARY_SEGMENTS).map(toLufs);
  }

  /** Loudness of the segments in [startSeconds, endSeconds) taken as one ungated block, LUFS. */
  windowLufs(startSeconds: number, endSeconds: number): number {
    const a = Math.max(0, Math.round(startSeconds / SEGMENT_SECONDS));
    const b = Math.min(this.segments.length, Math.round(endSeconds / SEGMENT_SECONDS));
    let s = 0;
    for (let i = a; i < b; i++) s += this.segments[i]!;
    return b > a ? toLufs(s / (b - a)) : -Infinity;
  }

  summary(): LoudnessSummary {
    const momentary = this.momentaryLufs();
    let maxMomentary = -Infinity;
    for (const m of momentary) if (m > maxMomentary) maxMomentary = m;
    return {
      integratedLufs: this.integratedLufs(),
      loudnessRangeLu: this.loudnessRangeLu(),
      shortTermLufs: this.shortTermLufs(),
      maxMomentaryLufs: maxMomentary,
    };
  }
}

/** Loudness measures of a stereo signal held in memory. */
export function measureLoudness(
  left: ArrayLike<number>,
  right: ArrayLike<number>,
  sampleRate: number,
): LoudnessSummary {
  const m = new LoudnessMeter(sampleRate);
  m.push(left, right);
  return m.summary();
}
