/**
 * Audio analysis helpers for tests and benchmarks (pure, no platform APIs):
 *
 * - levels: `rms`, `rmsDb`, `peakAbs`, `toDb`, `fromDb`, `countNonFinite`, `countSubnormal`
 * - clicks: `ClickDetector` (streaming), `detectClicks` — second difference against local RMS
 * - loudness: `LoudnessMeter` (streaming), `measureLoudness` — EBU R128 integrated, short-term,
 *   momentary, loudness range
 * - true peak: `TruePeakMeter` (streaming), `truePeakDb` — 4× oversampled
 * - spectrum: `fft`, `powerSpectrum`, `spectralCentroidHz`, `spectralFlatness`,
 *   `countSpectralPeaks`, `bandPowerFraction`
 * - stereo: `StereoCorrelationMeter` (streaming), `stereoCorrelation`
 */
export * from './levels.ts';
export * from './clicks.ts';
export * from './loudness.ts';
export * from './true-peak.ts';
export * from './spectrum.ts';
export * from './stereo.ts';
