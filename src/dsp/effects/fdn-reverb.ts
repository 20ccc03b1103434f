/**
 * A long stereo reverb: an 8-line feedback delay network with a Hadamard mixing matrix, one-pole
 * damping in every line (highs die first), a pre-delay and two diffusing all-passes in front.
 *
 * It runs at half the sample rate: its damped tail holds almost nothing above 8 kHz, and halving
 * the rate halves its cost (the synth's budget is ~100 ns per frame for everything). The input
 * is averaged in pairs and the output interpolated back (4-point half-band midpoints); pairs are aligned to absolute
 * frame parity through `odd`, so any chunking of process() calls gives identical samples.
 */

/** Line lengths at the reverb's rate (24 kHz for 48 kHz): mutually prime, 49–120 ms. */
const LINE_LENGTHS_AT_24K = [1171, 1427, 1663, 1901, 2137, 2399, 2633, 2887];
const LINES = 8;
/**
 * Buffers are Float64 (320 KB in all, still cache-resident): no float conversion on the 18 reads
 * and writes per reverb sample. One buffer per line; 4,096 frames covers the longest line at rates up to 2 × 48 kHz / 2 · 1.4. */
const LINE_FRAMES = 4096;
const LINE_MASK = LINE_FRAMES - 1;
const ALLPASS_LENGTHS_AT_24K = [113, 337];
const ALLPASS_GAIN = 0.6;
const ALLPASS_FRAMES = 1024;
const PRE_DELAY_FRAMES = 4096;
/** Damping low-pass corner inside the loop. */
const DAMPING_HZ = 5200;
/** Output matrix: cross-feed 0.25, both scaled by 0.5/√(1 + 0.25²) to keep the level. */
const WIDTH_CROSS = (0.25 * 0.5) / Math.sqrt(1.0625);
const WIDTH_MAIN = 0.5 / Math.sqrt(1.0625);
/**
 * Anti-denormal: a constant offset on the input keeps every state of the network (all-passes,
 * damping, lines: nothing in it blocks DC) near 1e-18 × its DC gain instead of decaying towards
 * subnormals in silence. Cheaper than flushing each write (16 adds a sample); the DC it leaves
 * at the output (~1e-17) is removed by the synth's high-pass.
 */
const ANTI_DENORMAL_DC = 1e-18;
/** 1/√8: makes the Hadamard matrix orthogonal; folded into the line gains. */
const HADAMARD_SCALE = 0.35355339059327373;

export class FdnReverb {
  private readonly rate: number;
  private readonly lines = new Float64Array(LINES * LINE_FRAMES);
  private readonly lengths = new Int32Array(LINES);
  private readonly gains = new Float64Array(LINES);
  private readonly damp = new Float64Array(LINES);
  private readonly allpass = new Float64Array(2 * ALLPASS_FRAMES);
  private readonly allpassLengths = new Int32Array(2);
  private readonly preDelay = new Float64Array(PRE_DELAY_FRAMES);
  private readonly preDelayFrames: number;
  private readonly dampCoef: number;
  private write = 0;
  private apWrite = 0;
  private preWrite = 0;
  private decaySeconds = -1;
  // Half-rate bridging state.
  private odd = false;
  private pendingIn = 0;
  // The last four reverb samples per channel (h0 oldest), for the 4-point midpoint.
  private h0L = 0;
  private h1L = 0;
  private h2L = 0;
  private h3L = 0;
  private h0R = 0;
  private h1R = 0;
  private h2R = 0;
  private h3R = 0;

  constructor(sampleRate: number, decaySeconds: number, preDelaySeconds: number) {
    this.rate = sampleRate / 2;
    const scale = this.rate / 24_000;
    for (let k = 0; k < LINES; k++) {
      this.lengths[k] = Math.min(LINE_FRAMES - 1, Math.round(LINE_LENGTHS_AT_24K[k]! * scale));
    }
    for (let k = 0; k < 2; k++) {
      this.allpassLengths[k] = Math.min(ALLPASS_FRAMES - 1, Math.round(ALLPASS_LENGTHS_AT_24K[k]! * scale));
    }
    this.preDelayFrames = Math.min(
      PRE_DELAY_FRAMES - 1,
      Math.max(1, Math.round(preDelaySeconds * this.rate)),
    );
    this.dampCoef = 1 - Math.exp((-2 * Math.PI * DAMPING_HZ) / this.rate);
    this.setDecaySeconds(decaySeconds);
  }

  /** Sets the RT60 (seconds); cheap to call every control period, recomputes only on change. */
  setDecaySeconds(seconds: number): void {
    const s = Math.min(30, Math.max(0.3, seconds));
    if (Math.abs(s - this.decaySeconds) < 1e-3) return;
    this.decaySeconds = s;
    for (let k = 0; k < LINES; k++) {
      this.gains[k] = HADAMARD_SCALE * Math.pow(10, (-3 * this.lengths[k]!) / (s * this.rate));
    }
  }

  /** Clears every buffer and state (after a non-finite sample reached the bus). */
  reset(): void {
    this.lines.fill(0);
    this.allpass.fill(0);
    this.preDelay.fill(0);
    this.damp.fill(0);
    this.pendingIn = 0;
    this.h0L = this.h1L = this.h2L = this.h3L = 0;
    this.h0R = this.h1R = this.h2R = this.h3R = 0;
  }

  /** Reverberates input[0, n) (mono send) into outL/outR[0, n), OVERWRITE. */
  process(input: Float64Array, outL: Float64Array, outR: Float64Array, n: number): void {
    const lines = this.lines;
    const gains = this.gains;
    const damp = this.damp;
    const lengths = this.lengths;
    const ap = this.allpass;
    const pre = this.preDelay;
    const dc = this.dampCoef;
    const ap0 = this.allpassLengths[0]!;
    const ap1 = this.allpassLengths[1]!;
    const preFrames = this.preDelayFrames;
    const g0 = gains[0]!,
      g1 = gains[1]!,
      g2 = gains[2]!,
      g3 = gains[3]!;
    const g4 = gains[4]!,
      g5 = gains[5]!,
      g6 = gains[6]!,
      g7 = gains[7]!;
    const l0 = lengths[0]!,
      l1 = lengths[1]!,
      l2 = lengths[2]!,
      l3 = lengths[3]!;
    const l4 = lengths[4]!,
      l5 = lengths[5]!,
      l6 = lengths[6]!,
      l7 = lengths[7]!;
    let d0 = damp[0]!,
      d1 = damp[1]!,
      d2 = damp[2]!,
      d3 = damp[3]!;
    let d4 = damp[4]!,
      d5 = damp[5]!,
      d6 = damp[6]!,
      d7 = damp[7]!;
    let w = this.write;
    let apw = this.apWrite;
    let pw = this.preWrite;
    let odd = this.odd;
    let pending = this.pendingIn;
    let h0L = this.h0L;
    let h1L = this.h1L;
    let h2L = this.h2L;
    let h3L = this.h3L;
    let h0R = this.h0R;
    let h1R = this.h1R;
    let h2R = this.h2R;
    let h3R = this.h3R;
    let i = 0;
    if (!odd && n > 0) {
      pending = input[0]!;
      // Between two reverb samples: the 4-point half-band midpoint (as in the pad).
      outL[0] = 0.5625 * (h1L + h2L) - 0.0625 * (h0L + h3L);
      outR[0] = 0.5625 * (h1R + h2R) - 0.0625 * (h0R + h3R);
      odd = true;
      i = 1;
    }
    // From here frames come in pairs: odd (a new reverb sample), then even (a midpoint).
    for (; i < n; i += 2) {
      const x = 0.5 * (pending + input[i]!) + ANTI_DENORMAL_DC;
      // Pre-delay.
      pre[pw] = x;
      let u = pre[(pw - preFrames) & (PRE_DELAY_FRAMES - 1)]!;
      pw = (pw + 1) & (PRE_DELAY_FRAMES - 1);
      // Two Schroeder all-passes smear the onset so the first reflections are not a flam.
      let r = ap[(apw - ap0) & (ALLPASS_FRAMES - 1)]!;
      let t = u + ALLPASS_GAIN * r;
      ap[apw] = t;
      u = r - ALLPASS_GAIN * t;
      r = ap[ALLPASS_FRAMES + ((apw - ap1) & (ALLPASS_FRAMES - 1))]!;
      t = u + ALLPASS_GAIN * r;
      ap[ALLPASS_FRAMES + apw] = t;
      u = r - ALLPASS_GAIN * t;
      apw = (apw + 1) & (ALLPASS_FRAMES - 1);
      // Line outputs, damped and scaled for the decay time (and the Hadamard's 1/√8).
      const o0 = lines[(w - l0) & LINE_MASK]!;
      const o1 = lines[LINE_FRAMES + ((w - l1) & LINE_MASK)]!;
      const o2 = lines[2 * LINE_FRAMES + ((w - l2) & LINE_MASK)]!;
      const o3 = lines[3 * LINE_FRAMES + ((w - l3) & LINE_MASK)]!;
      const o4 = lines[4 * LINE_FRAMES + ((w - l4) & LINE_MASK)]!;
      const o5 = lines[5 * LINE_FRAMES + ((w - l5) & LINE_MASK)]!;
      const o6 = lines[6 * LINE_FRAMES + ((w - l6) & LINE_MASK)]!;
      const o7 = lines[7 * LINE_FRAMES + ((w - l7) & LINE_MASK)]!;
      d0 += dc * (o0 - d0);
      d1 += dc * (o1 - d1);
      d2 += dc * (o2 - d2);
      d3 += dc * (o3 - d3);
      d4 += dc * (o4 - d4);
      d5 += dc * (o5 - d5);
      d6 += dc * (o6 - d6);
      d7 += dc * (o7 - d7);
      const x0 = d0 * g0,
        x1 = d1 * g1,
        x2 = d2 * g2,
        x3 = d3 * g3;
      const x4 = d4 * g4,
        x5 = d5 * g5,
        x6 = d6 * g6,
        x7 = d7 * g7;
      // Fast Walsh–Hadamard transform (orthogonal with the 1/√8 in the gains): every line feeds every other.
      const a0 = x0 + x1,
        a1 = x0 - x1,
        a2 = x2 + x3,
        a3 = x2 - x3;
      const a4 = x4 + x5,
        a5 = x4 - x5,
        a6 = x6 + x7,
        a7 = x6 - x7;
      const b0 = a0 + a2,
        b1 = a1 + a3,
        b2 = a0 - a2,
        b3 = a1 - a3;
      const b4 = a4 + a6,
        b5 = a5 + a7,
        b6 = a4 - a6,
        b7 = a5 - a7;
      lines[w] = b0 + b4 + u;
      lines[LINE_FRAMES + w] = b1 + b5 - u;
      lines[2 * LINE_FRAMES + w] = b2 + b6 + u;
      lines[3 * LINE_FRAMES + w] = b3 + b7 - u;
      lines[4 * LINE_FRAMES + w] = b0 - b4 + u;
      lines[5 * LINE_FRAMES + w] = b1 - b5 - u;
      lines[6 * LINE_FRAMES + w] = b2 - b6 + u;
      lines[7 * LINE_FRAMES + w] = b3 - b7 - u;
      w = (w + 1) & LINE_MASK;
      // Output sign patterns orthogonal to each other and to the input pattern (+−+−…), so left
      // and right are decorrelated and neither starts with an image of the dry signal.
      const yl = o0 + o1 - o2 - o3 + o4 + o5 - o6 - o7;
      const yr = o0 - o1 - o2 + o3 + o4 - o5 - o6 + o7;
      // Some of each side in the other: alone, the two taps were anti-correlated at low
      // frequencies (−0.32 measured on a pad-like input), which thins the mix in mono.
      h0L = h1L;
      h1L = h2L;
      h2L = h3L;
      h3L = WIDTH_MAIN * yl + WIDTH_CROSS * yr;
      h0R = h1R;
      h1R = h2R;
      h2R = h3R;
      h3R = WIDTH_MAIN * yr + WIDTH_CROSS * yl;
      outL[i] = h1L;
      outR[i] = h1R;
      if (i + 1 === n) {
        odd = false;
        break;
      }
      pending = input[i + 1]!;
      outL[i + 1] = 0.5625 * (h1L + h2L) - 0.0625 * (h0L + h3L);
      outR[i + 1] = 0.5625 * (h1R + h2R) - 0.0625 * (h0R + h3R);
    }
    damp[0] = d0;
    damp[1] = d1;
    damp[2] = d2;
    damp[3] = d3;
    damp[4] = d4;
    damp[5] = d5;
    damp[6] = d6;
    damp[7] = d7;
    this.write = w;
    this.apWrite = apw;
    this.preWrite = pw;
    this.odd = odd;
    this.pendingIn = pending;
    this.h0L = h0L;
    this.h1L = h1L;
    this.h2L = h2L;
    this.h3L = h3L;
    this.h0R = h0R;
    this.h1R = h1R;
    this.h2R = h2R;
    this.h3R = h3R;
  }
}
