// The Opus bitrate-ladder measurement behind `npm run bench:tiers` (and its test): render a station
// offline in the server's chunks, encode it with the server's encoder at each bitrate, decode it
// back, align it by cross-correlation, and compare it with the source (loudness, third-octave
// spectrum, effective bandwidth, segmental SNR, clicks), together with the bytes each tier puts on
// the wire and the encoder's time per chunk.
import { OggOpusMuxer, maxOggBytesForPayload } from '../../src/codec/ogg.ts';
import { OpusPacketDecoder } from '../../src/codec/opus-decoder.ts';
import { OPUS_CHANNELS, OPUS_SAMPLE_RATE, OpusChunkEncoder } from '../../src/codec/opus-encoder.ts';
import { OPUS_LENGTH_PREFIX_BYTES, forEachOpusPacket } from '../../src/codec/opus-wire.ts';
import { ClickDetector } from '../../src/dsp/analysis/clicks.ts';
import { measureLoudness } from '../../src/dsp/analysis/loudness.ts';
import { powerSpectrum } from '../../src/dsp/analysis/spectrum.ts';
import { stereoCorrelation } from '../../src/dsp/analysis/stereo.ts';
import { CHUNK_HEADER_BYTES, WS_PREFIX_BYTES, writeWsBinaryHeader } from '../../src/engine/ring.ts';
import { StationRenderer } from '../../src/engine/station-renderer.ts';
import { percentile } from '../../src/metrics/percentile.ts';
import { DEFAULT_PARAMS } from '../../src/music/params.ts';
import { PRESETS } from '../../src/music/presets.ts';
import type { MusicParams } from '../../src/music/types.ts';

export const SAMPLE_RATE = OPUS_SAMPLE_RATE;
/** Largest encoder delay the alignment searches (libopus' is 312 frames at 48 kHz). */
export const MAX_ALIGN_LAG_FRAMES = 2048;
/**
 * A third-octave band counts in the spectral comparison only when the source carries energy within
 * this range of its loudest band. Quieter bands sit under the codec's own noise floor: Opus spreads
 * the quantisation noise of its lowest (200 Hz wide) bands into the nearly empty third octaves
 * between the bass notes (40 Hz, 80 Hz here), which then read many dB above a source that has
 * almost nothing there. Bands above the limit show it too, less (docs/performance/tiers.md).
 */
export const BAND_RANGE_DB = 50;
/** A band is inside the level bandwidth while the decoded level is at most this far under the source's. */
export const BANDWIDTH_TOLERANCE_DB = 3;
/** A band is inside the waveform-coded bandwidth while its residual is at least this far under the source. */
export const CODED_BAND_SNR_DB = 3;
/** Segmental SNR: 20 ms segments, each clamped to [-10, 35] dB (the usual convention), silent ones skipped. */
export const SEGMENT_FRAMES = 960;
const SEG_SNR_MIN_DB = -10;
const SEG_SNR_MAX_DB = 35;
/** Segments quieter than this (mean square over both channels, dBFS) are not judged. */
const SEG_SILENCE_DB = -60;
const SPECTRUM_FFT = 16384;

export interface Band {
  /** Exact centre (base-10 third octaves, IEC 61260), Hz. */
  centreHz: number;
  /** The nominal label: 25, 31.5, 40 … 16k, 20k. */
  label: string;
  loHz: number;
  hiHz: number;
}

const NOMINAL_BANDS = [
  '25',
  '31.5',
  '40',
  '50',
  '63',
  '80',
  '100',
  '125',
  '160',
  '200',
  '250',
  '315',
  '400',
  '500',
  '630',
  '800',
  '1k',
  '1.25k',
  '1.6k',
  '2k',
  '2.5k',
  '3.15k',
  '4k',
  '5k',
  '6.3k',
  '8k',
  '10k',
  '12.5k',
  '16k',
  '20k',
];

/** Third-octave bands from 25 Hz to 20 kHz (30 bands). */
export function thirdOctaveBands(): Band[] {
  return NOMINAL_BANDS.map((label, i) => {
    const fc = 1000 * Math.pow(10, (i - 16) / 10);
    return { centreHz: fc, label, loHz: fc * Math.pow(10, -1 / 20), hiHz: fc * Math.pow(10, 1 / 20) };
  });
}

/** The nominal label of the band whose exact centre is `hz` (as reported in SpectralComparison). */
export function bandLabel(hz: number): string {
  if (!(hz > 0)) return 'none';
  const i = Math.round(10 * Math.log10(hz / 1000)) + 16;
  return NOMINAL_BANDS[i] ?? `${hz.toFixed(0)} Hz`;
}

export interface Stereo {
  l: Float32Array;
  r: Float32Array;
}

/** The station of a preset (the parameters and timbre the server gives it), as the server builds it. */
export function presetParams(preset: string): MusicParams {
  const p = PRESETS.find((x) => x.name === preset);
  if (p === undefined) {
    throw new Error(`unknown preset ${JSON.stringify(preset)} (${PRESETS.map((x) => x.name).join(', ')})`);
  }
  return { ...DEFAULT_PARAMS, ...p.params, preset: p.name };
}

/** Renders `chunks` chunks of `chunkFrames` from the station's start, chunk by chunk like the engine worker. */
export function renderStation(preset: string, seed: number, chunks: number, chunkFrames: number): Stereo {
  const renderer = new StationRenderer({ seed, params: presetParams(preset) });
  const frames = chunks * chunkFrames;
  const l = new Float32Array(frames);
  const r = new Float32Array(frames);
  const cl = new Float32Array(chunkFrames);
  const cr = new Float32Array(chunkFrames);
  for (let c = 0; c < chunks; c++) {
    renderer.render(cl, cr, chunkFrames);
    l.set(cl, c * chunkFrames);
    r.set(cr, c * chunkFrames);
  }
  return { l, r };
}

export interface EncodedRun {
  decoded: Stereo;
  backend: string;
  /** The encoder's own lookahead (what the server writes as the OpusHead pre-skip). */
  preSkipFrames: number;
  /** Per chunk: bytes of the wire payload (u16 length + packet, repeated), as encode() returned them. */
  payloadBytes: Int32Array;
  /** Per chunk: the Opus packets alone (payload minus the length prefixes). */
  packetBytes: Int32Array;
  /** Per chunk: the whole WebSocket frame (frame header + 32-byte chunk header + payload). */
  wsFrameBytes: Int32Array;
  /** Per chunk: the Ogg page(s) the muxer wrote for it. */
  oggBytes: Int32Array;
  /** The OpusHead + OpusTags pages a listener gets once. */
  oggHeaderBytes: number;
  /** Wall time of each encode() call (one chunk), ms. */
  encodeMs: Float64Array;
}

/**
 * Encodes the signal chunk by chunk with one OpusChunkEncoder (as the engine worker does), muxes
 * each chunk into Ogg and frames it for the WebSocket exactly as the ring does, and decodes the
 * payloads back with one decoder. The decoded signal still carries the encoder's delay.
 */
export function encodeDecode(
  src: Stereo,
  opts: { bitrate: number; complexity: number; chunkFrames: number },
): EncodedRun {
  const { chunkFrames } = opts;
  const chunks = Math.floor(src.l.length / chunkFrames);
  const enc = new OpusChunkEncoder({ bitrate: opts.bitrate, complexity: opts.complexity });
  const dec = new OpusPacketDecoder();
  const muxer = new OggOpusMuxer({
    serial: 0x7469_6572,
    preSkipFrames: enc.preSkipFrames,
    sampleRate: SAMPLE_RATE,
    channels: OPUS_CHANNELS,
    vendor: enc.backend,
    title: 'tiers',
  });
  const headerAt = WS_PREFIX_BYTES;
  const payloadAt = headerAt + CHUNK_HEADER_BYTES;
  const frameBuf = new Uint8Array(payloadAt + OpusChunkEncoder.maxBytes(chunkFrames));
  const oggBuf = new Uint8Array(maxOggBytesForPayload(OpusChunkEncoder.maxBytes(chunkFrames)));
  const cl = new Float32Array(chunkFrames);
  const cr = new Float32Array(chunkFrames);
  const payloadBytes = new Int32Array(chunks);
  const packetBytes = new Int32Array(chunks);
  const wsFrameBytes = new Int32Array(chunks);
  const oggBytes = new Int32Array(chunks);
  const encodeMs = new Float64Array(chunks);
  const outL = new Float32Array(chunks * chunkFrames);
  const outR = new Float32Array(chunks * chunkFrames);
  let decodedFrames = 0;
  try {
    for (let c = 0; c < chunks; c++) {
      cl.set(src.l.subarray(c * chunkFrames, (c + 1) * chunkFrames));
      cr.set(src.r.subarray(c * chunkFrames, (c + 1) * chunkFrames));
      const t0 = performance.now();
      const n = enc.encode(cl, cr, chunkFrames, frameBuf, payloadAt);
      encodeMs[c] = performance.now() - t0;
      const payload = frameBuf.subarray(payloadAt, payloadAt + n);
      payloadBytes[c] = n;
      packetBytes[c] = n - OPUS_LENGTH_PREFIX_BYTES * forEachOpusPacket(payload);
      // The ring writes the WebSocket frame header just before the 32-byte chunk header.
      const wsStart = writeWsBinaryHeader(frameBuf, headerAt, CHUNK_HEADER_BYTES + n);
      wsFrameBytes[c] = payloadAt + n - wsStart;
      oggBytes[c] = muxer.writePageForChunk(payload, (c + 1) * chunkFrames, oggBuf, 0);
      const d = dec.decodePayload(payload);
      outL.set(d.l, decodedFrames);
      outR.set(d.r, decodedFrames);
      decodedFrames += d.l.length;
    }
  } finally {
    enc.close();
  }
  if (decodedFrames !== chunks * chunkFrames) {
    throw new Error(`decoded ${decodedFrames} frames from ${chunks * chunkFrames} encoded`);
  }
  return {
    decoded: { l: outL, r: outR },
    backend: enc.backend,
    preSkipFrames: enc.preSkipFrames,
    payloadBytes,
    packetBytes,
    wsFrameBytes,
    oggBytes,
    oggHeaderBytes: muxer.headerPages().length,
    encodeMs,
  };
}

/**
 * The lag (frames, 0 … maxLag) by which `y` trails `x`: the maximum of the normalised
 * cross-correlation of the mid signals, summed over `windows` windows of `windowFrames` spread
 * evenly over [start, end). Returns the lag and the correlation there (1 = identical shape).
 */
export function findDelay(
  x: Stereo,
  y: Stereo,
  opts: { start: number; end: number; maxLag?: number; windows?: number; windowFrames?: number },
): { lagFrames: number; correlation: number } {
  const maxLag = opts.maxLag ?? MAX_ALIGN_LAG_FRAMES;
  const windows = opts.windows ?? 4;
  const w = opts.windowFrames ?? 12_000;
  const span = opts.end - maxLag - w - opts.start;
  if (span < 0) throw new RangeError(`findDelay: [${opts.start}, ${opts.end}) is too short`);
  const mx = mid(x);
  const my = mid(y);
  const starts: number[] = [];
  for (let k = 0; k < windows; k++) starts.push(opts.start + Math.floor((span * (k + 0.5)) / windows));
  let ex = 0;
  for (const s of starts) for (let i = s; i < s + w; i++) ex += mx[i]! * mx[i]!;
  let best = -Infinity;
  let bestLag = 0;
  for (let lag = 0; lag <= maxLag; lag++) {
    let xy = 0;
    let ey = 0;
    for (const s of starts) {
      for (let i = s; i < s + w; i++) {
        const v = my[i + lag]!;
        xy += mx[i]! * v;
        ey += v * v;
      }
    }
    const c = ex > 0 && ey > 0 ? xy / Math.sqrt(ex * ey) : 0;
    if (c > best) {
      best = c;
      bestLag = lag;
    }
  }
  return { lagFrames: bestLag, correlation: best };
}

function mid(s: Stereo): Float32Array {
  const m = new Float32Array(s.l.length);
  for (let i = 0; i < m.length; i++) m[i] = 0.5 * (s.l[i]! + s.r[i]!);
  return m;
}

/** Energy per band (both channels' power spectra summed) of s[start, start + frames). */
export function bandEnergies(s: Stereo, start: number, frames: number, bands: readonly Band[]): Float64Array {
  const opts = { fftSize: SPECTRUM_FFT, start, end: start + frames };
  const pl = powerSpectrum(s.l, SAMPLE_RATE, opts).power;
  const pr = powerSpectrum(s.r, SAMPLE_RATE, opts).power;
  const hzPerBin = SAMPLE_RATE / SPECTRUM_FFT;
  const out = new Float64Array(bands.length);
  bands.forEach((b, i) => {
    const lo = Math.max(1, Math.ceil(b.loHz / hzPerBin));
    const hi = Math.min(pl.length - 1, Math.floor(b.hiHz / hzPerBin));
    let e = 0;
    for (let k = lo; k <= hi; k++) e += pl[k]! + pr[k]!;
    out[i] = e;
  });
  return out;
}

export interface SpectralComparison {
  /** Per band, decoded minus source level, dB (null when the band does not count: see BAND_RANGE_DB). */
  diffDb: (number | null)[];
  /** Per band, source level over residual level (source − aligned decoded), dB (null as above). */
  bandSnrDb: (number | null)[];
  /** Mean |difference| over the bands that count, dB. */
  meanAbsDiffDb: number;
  /** The band with the largest |difference| and that difference, dB. */
  worstBandHz: number;
  worstBandDiffDb: number;
  /**
   * Level bandwidth: centre of the highest counted band whose decoded level is no more than 3 dB
   * under the source's (the band's energy reaches the listener).
   */
  bandwidthHz: number;
  /**
   * Waveform-coded bandwidth: centre of the highest counted band whose residual is at least 3 dB
   * under the source (band SNR ≥ 3 dB). A band Opus fills with folded noise of the right energy
   * (what it does with the bands it has no bits for) scores about −3 dB: right level, wrong detail.
   */
  codedBandwidthHz: number;
  /** Centre of the highest band that counts at all (the source's own top, bounded by BAND_RANGE_DB). */
  sourceTopHz: number;
  bandsCounted: number;
}

/** Compares per-band energies of the source, the aligned decoded signal and their difference (the residual). */
export function compareBands(
  src: Float64Array,
  dec: Float64Array,
  residual: Float64Array,
  bands: readonly Band[],
): SpectralComparison {
  let maxSrc = 0;
  for (const e of src) maxSrc = Math.max(maxSrc, e);
  const floor = maxSrc * Math.pow(10, -BAND_RANGE_DB / 10);
  const db = (a: number, b: number): number => Math.max(-120, Math.min(120, 10 * Math.log10(a / b)));
  const tiny = 1e-300;
  const out: SpectralComparison = {
    diffDb: [],
    bandSnrDb: [],
    meanAbsDiffDb: Number.NaN,
    worstBandHz: Number.NaN,
    worstBandDiffDb: Number.NaN,
    bandwidthHz: 0,
    codedBandwidthHz: 0,
    sourceTopHz: 0,
    bandsCounted: 0,
  };
  let sum = 0;
  bands.forEach((b, i) => {
    if (!(src[i]! > floor)) {
      out.diffDb.push(null);
      out.bandSnrDb.push(null);
      return;
    }
    // A band the codec emptied entirely scores −120 dB rather than −∞.
    const d = db(Math.max(dec[i]!, tiny), src[i]!);
    const snr = db(src[i]!, Math.max(residual[i]!, tiny));
    out.diffDb.push(d);
    out.bandSnrDb.push(snr);
    sum += Math.abs(d);
    out.bandsCounted++;
    out.sourceTopHz = b.centreHz;
    if (!(Math.abs(d) <= Math.abs(out.worstBandDiffDb))) {
      out.worstBandDiffDb = d;
      out.worstBandHz = b.centreHz;
    }
    if (d >= -BANDWIDTH_TOLERANCE_DB) out.bandwidthHz = b.centreHz;
    if (snr >= CODED_BAND_SNR_DB) out.codedBandwidthHz = b.centreHz;
  });
  if (out.bandsCounted > 0) out.meanAbsDiffDb = sum / out.bandsCounted;
  return out;
}

/** x[xStart…] − y[yStart…] over `frames`: what the codec changed, once aligned. */
export function residual(x: Stereo, xStart: number, y: Stereo, yStart: number, frames: number): Stereo {
  const l = new Float32Array(frames);
  const r = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    l[i] = x.l[xStart + i]! - y.l[yStart + i]!;
    r[i] = x.r[xStart + i]! - y.r[yStart + i]!;
  }
  return { l, r };
}

/**
 * Segmental SNR (mean over 20 ms segments of 10·log10(signal/residual), clamped to [-10, 35] dB,
 * segments under −60 dBFS skipped) and the overall residual level relative to the source, dB, of
 * y[yStart…] against x[xStart…] over `frames`, both channels together.
 */
export function waveformError(
  x: Stereo,
  xStart: number,
  y: Stereo,
  yStart: number,
  frames: number,
): { segSnrDb: number; residualDb: number; segments: number } {
  const silence = Math.pow(10, SEG_SILENCE_DB / 10) * 2 * SEGMENT_FRAMES;
  let totalSig = 0;
  let totalErr = 0;
  let snrSum = 0;
  let segments = 0;
  for (let s = 0; s + SEGMENT_FRAMES <= frames; s += SEGMENT_FRAMES) {
    let sig = 0;
    let err = 0;
    for (let i = s; i < s + SEGMENT_FRAMES; i++) {
      const a = x.l[xStart + i]!;
      const b = x.r[xStart + i]!;
      const ea = a - y.l[yStart + i]!;
      const eb = b - y.r[yStart + i]!;
      sig += a * a + b * b;
      err += ea * ea + eb * eb;
    }
    totalSig += sig;
    totalErr += err;
    if (sig < silence) continue;
    const snr = err > 0 ? 10 * Math.log10(sig / err) : SEG_SNR_MAX_DB;
    snrSum += Math.min(SEG_SNR_MAX_DB, Math.max(SEG_SNR_MIN_DB, snr));
    segments++;
  }
  return {
    segSnrDb: segments > 0 ? snrSum / segments : Number.NaN,
    residualDb: totalSig > 0 ? 10 * Math.log10(totalErr / totalSig) : Number.NaN,
    segments,
  };
}

/** Clicks in s[from, to) (both channels), the detector having run from frame 0 so `from` is not a start-up edge. */
export function countClicks(s: Stereo, from: number, to: number): number {
  let n = 0;
  for (const ch of [s.l, s.r]) {
    const d = new ClickDetector({ sampleRate: SAMPLE_RATE });
    d.push(ch, to);
    d.finish();
    n += d.clicks.filter((c) => c.frame >= from && c.frame < to).length;
  }
  return n;
}

export interface TierResult {
  preset: string;
  kbps: number;
  backend: string;
  complexity: number;
  measuredSeconds: number;
  /** Encoder lookahead (OpusHead pre-skip) and the delay the cross-correlation found, frames. */
  preSkipFrames: number;
  delayFrames: number;
  alignCorrelation: number;
  sourceLufs: number;
  decodedLufs: number;
  loudnessDiffLu: number;
  spectral: SpectralComparison;
  segSnrDb: number;
  residualDb: number;
  /** Left/right correlation of the source and of the decoded signal (Opus narrows the image at low rates). */
  sourceStereoCorrelation: number;
  decodedStereoCorrelation: number;
  /** Rates over the measured chunks, kb/s (1000 bit/s). */
  opusKbps: number;
  wsKbps: number;
  oggKbps: number;
  /** Totals over the measured chunks, bytes. */
  chunks: number;
  payloadBytes: number;
  packetBytes: number;
  wsBytes: number;
  oggBytes: number;
  oggHeaderBytes: number;
  encodeMsMean: number;
  encodeMsP95: number;
  decodedClicks: number;
  sourceClicks: number;
}

export interface MeasureOptions {
  preset: string;
  seed: number;
  /** Measured length, s (whole chunks). */
  seconds: number;
  /** Encoded but not measured, s, from the station's start (whole chunks). */
  warmupSeconds: number;
  bitratesKbps: readonly number[];
  complexity: number;
  chunkFrames: number;
  /** Called after each bitrate (progress). */
  onResult?: (r: TierResult) => void;
}

/** Renders the preset's station once and measures every bitrate on it. */
export function measurePreset(opts: MeasureOptions): {
  source: Stereo;
  /** Where the measured span starts in `source`, frames. */
  start: number;
  results: TierResult[];
  /** Per third-octave band, the source's level relative to its loudest band, dB (null for bands that do not count). */
  sourceBandLevelsDb: (number | null)[];
} {
  const chunkSeconds = opts.chunkFrames / SAMPLE_RATE;
  const warmChunks = Math.round(opts.warmupSeconds / chunkSeconds);
  const measChunks = Math.round(opts.seconds / chunkSeconds);
  // One chunk more than measured: the decoded signal trails the source by the encoder delay.
  const source = renderStation(opts.preset, opts.seed, warmChunks + measChunks + 1, opts.chunkFrames);
  const start = warmChunks * opts.chunkFrames;
  const frames = measChunks * opts.chunkFrames;
  const bands = thirdOctaveBands();
  const srcBands = bandEnergies(source, start, frames, bands);
  const loudest = Math.max(...srcBands);
  const sourceBandLevelsDb = Array.from(srcBands, (e) =>
    e > loudest * Math.pow(10, -BAND_RANGE_DB / 10) ? 10 * Math.log10(e / loudest) : null,
  );
  const srcLufs = measureLoudness(
    source.l.subarray(start, start + frames),
    source.r.subarray(start, start + frames),
    SAMPLE_RATE,
  ).integratedLufs;
  const sourceClicks = countClicks(source, start, start + frames);
  const sourceStereoCorrelation = stereoCorrelation(
    source.l.subarray(start, start + frames),
    source.r.subarray(start, start + frames),
  );
  const results: TierResult[] = [];
  for (const kbps of opts.bitratesKbps) {
    const run = encodeDecode(source, {
      bitrate: kbps * 1000,
      complexity: opts.complexity,
      chunkFrames: opts.chunkFrames,
    });
    const align = findDelay(source, run.decoded, { start, end: start + frames });
    const delay = align.lagFrames;
    const dec = run.decoded;
    const decLufs = measureLoudness(
      dec.l.subarray(start + delay, start + delay + frames),
      dec.r.subarray(start + delay, start + delay + frames),
      SAMPLE_RATE,
    ).integratedLufs;
    const spectral = compareBands(
      srcBands,
      bandEnergies(dec, start + delay, frames, bands),
      bandEnergies(residual(source, start, dec, start + delay, frames), 0, frames, bands),
      bands,
    );
    const wave = waveformError(source, start, dec, start + delay, frames);
    const sum = (a: Int32Array): number =>
      a.subarray(warmChunks, warmChunks + measChunks).reduce((s, v) => s + v, 0);
    const seconds = measChunks * chunkSeconds;
    const kbpsOf = (bytes: number): number => (bytes * 8) / seconds / 1000;
    const payloadBytes = sum(run.payloadBytes);
    const packetBytes = sum(run.packetBytes);
    const wsBytes = sum(run.wsFrameBytes);
    const oggBytes = sum(run.oggBytes);
    const times = run.encodeMs.subarray(warmChunks, warmChunks + measChunks);
    const r: TierResult = {
      preset: opts.preset,
      kbps,
      backend: run.backend,
      complexity: opts.complexity,
      measuredSeconds: seconds,
      preSkipFrames: run.preSkipFrames,
      delayFrames: delay,
      alignCorrelation: align.correlation,
      sourceLufs: srcLufs,
      decodedLufs: decLufs,
      loudnessDiffLu: decLufs - srcLufs,
      spectral,
      segSnrDb: wave.segSnrDb,
      residualDb: wave.residualDb,
      sourceStereoCorrelation,
      decodedStereoCorrelation: stereoCorrelation(
        dec.l.subarray(start + delay, start + delay + frames),
        dec.r.subarray(start + delay, start + delay + frames),
      ),
      opusKbps: kbpsOf(packetBytes),
      wsKbps: kbpsOf(wsBytes),
      oggKbps: kbpsOf(oggBytes),
      chunks: measChunks,
      payloadBytes,
      packetBytes,
      wsBytes,
      oggBytes,
      oggHeaderBytes: run.oggHeaderBytes,
      encodeMsMean: times.reduce((s, v) => s + v, 0) / times.length,
      encodeMsP95: percentile(times, 95),
      decodedClicks: countClicks(dec, start + delay, start + delay + frames),
      sourceClicks,
    };
    results.push(r);
    opts.onResult?.(r);
  }
  return { source, start, results, sourceBandLevelsDb };
}
