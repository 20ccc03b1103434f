/**
 * Spectra: an in-place radix-2 FFT, a Welch-averaged power spectrum (Hann window), and the
 * summary measures the tests use: spectral centroid, spectral flatness and a count of peaks.
 */

/** In-place complex FFT of re/im (length a power of two). */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  if ((n & (n - 1)) !== 0) throw new RangeError(`fft size must be a power of two, got ${n}`);
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i]!;
      re[i] = re[j]!;
      re[j] = t;
      t = im[i]!;
      im[i] = im[j]!;
      im[j] = t;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      const half = len >> 1;
      for (let k = 0; k < half; k++) {
        const a = i + k;
        const b = a + half;
        const xr = re[b]! * cr - im[b]! * ci;
        const xi = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a] = re[a]! + xr;
        im[a] = im[a]! + xi;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

export interface PowerSpectrum {
  /** Mean power per bin, bins 0 … fftSize/2 (bin k is k·sampleRate/fftSize Hz). */
  power: Float64Array;
  fftSize: number;
  sampleRate: number;
}

/**
 * Welch-averaged power spectrum of x[start, end) with a Hann window and 50 % overlap.
 * Pass a mono signal (e.g. (L+R)/2) or one channel.
 */
export function powerSpectrum(
  x: ArrayLike<number>,
  sampleRate: number,
  opts: { fftSize?: number; start?: number; end?: number } = {},
): PowerSpectrum {
  const fftSize = opts.fftSize ?? 8192;
  const start = opts.start ?? 0;
  const end = opts.end ?? x.length;
  const hop = fftSize >> 1;
  const win = new Float64Array(fftSize);
  for (let i = 0; i < fftSize; i++) win[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / fftSize);
  const re = new Float64Array(fftSize);
  const im = new Float64Array(fftSize);
  const power = new Float64Array(fftSize / 2 + 1);
  let frames = 0;
  for (let pos = start; pos + fftSize <= end; pos += hop) {
    for (let i = 0; i < fftSize; i++) {
      re[i] = x[pos + i]! * win[i]!;
      im[i] = 0;
    }
    fft(re, im);
    for (let k = 0; k <= fftSize / 2; k++) power[k] += re[k]! * re[k]! + im[k]! * im[k]!;
    frames++;
  }
  if (frames > 0) for (let k = 0; k < power.length; k++) power[k]! /= frames;
  return { power, fftSize, sampleRate };
}

function binRange(s: PowerSpectrum, loHz: number, hiHz: number): [number, number] {
  const hzPerBin = s.sampleRate / s.fftSize;
  const lo = Math.max(1, Math.ceil(loHz / hzPerBin));
  const hi = Math.min(s.power.length - 1, Math.floor(hiHz / hzPerBin));
  return [lo, hi];
}

/** Power-weighted mean frequency in Hz over [loHz, hiHz] (default 20 Hz … Nyquist). */
export function spectralCentroidHz(s: PowerSpectrum, loHz = 20, hiHz = s.sampleRate / 2): number {
  const [lo, hi] = binRange(s, loHz, hiHz);
  const hzPerBin = s.sampleRate / s.fftSize;
  let num = 0;
  let den = 0;
  for (let k = lo; k <= hi; k++) {
    num += k * hzPerBin * s.power[k]!;
    den += s.power[k]!;
  }
  return den > 0 ? num / den : 0;
}

/**
 * Spectral flatness (geometric mean / arithmetic mean of power) over [loHz, hiHz]: 1 for white
 * noise, near 0 for a few pure partials.
 */
export function spectralFlatness(s: PowerSpectrum, loHz = 50, hiHz = 8000): number {
  const [lo, hi] = binRange(s, loHz, hiHz);
  let logSum = 0;
  let sum = 0;
  const tiny = 1e-30;
  for (let k = lo; k <= hi; k++) {
    logSum += Math.log(s.power[k]! + tiny);
    sum += s.power[k]! + tiny;
  }
  const n = hi - lo + 1;
  return n > 0 && sum > 0 ? Math.exp(logSum / n) / (sum / n) : 0;
}

/**
 * Number of local maxima over [loHz, hiHz] that rise at least minProminenceDb above the lowest
 * point on both sides within ±neighbourHz, and lie within rangeDb of the strongest bin.
 */
export function countSpectralPeaks(
  s: PowerSpectrum,
  opts: {
    loHz?: number;
    hiHz?: number;
    minProminenceDb?: number;
    rangeDb?: number;
    neighbourHz?: number;
  } = {},
): number {
  const [lo, hi] = binRange(s, opts.loHz ?? 50, opts.hiHz ?? 8000);
  const prom = opts.minProminenceDb ?? 6;
  const range = opts.rangeDb ?? 60;
  const nb = Math.max(1, Math.round((opts.neighbourHz ?? 30) / (s.sampleRate / s.fftSize)));
  const db = new Float64Array(s.power.length);
  let max = -Infinity;
  for (let k = 0; k < db.length; k++) {
    db[k] = 10 * Math.log10(s.power[k]! + 1e-30);
    if (k >= lo && k <= hi && db[k]! > max) max = db[k]!;
  }
  let peaks = 0;
  for (let k = lo; k <= hi; k++) {
    const v = db[k]!;
    if (v < max - range || v < db[k - 1]! || v < (db[k + 1] ?? -Infinity)) continue;
    let minL = v;
    let minR = v;
    for (let j = 1; j <= nb; j++) {
      if (k - j >= 0) minL = Math.min(minL, db[k - j]!);
      if (k + j < db.length) minR = Math.min(minR, db[k + j]!);
    }
    if (v - minL >= prom && v - minR >= prom) peaks++;
  }
  return peaks;
}

/** Power in [loHz, hiHz] as a fraction of the power over the whole spectrum (bins ≥ 1). */
export function bandPowerFraction(s: PowerSpectrum, loHz: number, hiHz: number): number {
  const [lo, hi] = binRange(s, loHz, hiHz);
  let band = 0;
  let total = 0;
  for (let k = 1; k < s.power.length; k++) {
    total += s.power[k]!;
    if (k >= lo && k <= hi) band += s.power[k]!;
  }
  return total > 0 ? band / total : 0;
}
