import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countSpectralPeaks, powerSpectrum, spectralCentroidHz } from '../../src/dsp/analysis/index.ts';
import type { PowerSpectrum } from '../../src/dsp/analysis/index.ts';
import { renderStation, SR } from './render.ts';

const SECONDS = 45;

function stationSpectrum(preset: string): PowerSpectrum {
  const mono = new Float32Array(SECONDS * SR);
  renderStation({
    preset,
    seconds: SECONDS,
    visit: (L, R, pos) => {
      for (let i = 0; i < L.length && pos + i < mono.length; i++) mono[pos + i] = 0.5 * (L[i]! + R[i]!);
    },
  });
  // Skip the first 10 s (fade-in of the first chord).
  return powerSpectrum(mono, SR, { start: 10 * SR });
}

const spectra = new Map<string, PowerSpectrum>();
const spectrum = (preset: string): PowerSpectrum => {
  if (!spectra.has(preset)) spectra.set(preset, stationSpectrum(preset));
  return spectra.get(preset)!;
};

for (const preset of ['sleep', 'focus', 'bright']) {
  test(`${preset}: the spectrum is rich (many partials), not a few sines`, () => {
    // Measured: 45 (sleep) … 97 (bright) peaks 6 dB above their surroundings within 60 dB
    // of the strongest; a few detuned sines would give a handful.
    const peaks = countSpectralPeaks(spectrum(preset));
    assert.ok(peaks >= 20, `only ${peaks} spectral peaks`);
  });
}

test('sleep is darker than focus, and focus darker than or close to bright (spectral centroid)', () => {
  // Above 150 Hz, so the shared drone does not dominate the measure.
  const sleep = spectralCentroidHz(spectrum('sleep'), 150);
  const focus = spectralCentroidHz(spectrum('focus'), 150);
  const bright = spectralCentroidHz(spectrum('bright'), 150);
  assert.ok(sleep < bright * 0.9, `sleep ${sleep.toFixed(0)} Hz vs bright ${bright.toFixed(0)} Hz`);
  assert.ok(sleep < focus, `sleep ${sleep.toFixed(0)} Hz vs focus ${focus.toFixed(0)} Hz`);
  assert.ok(focus < bright * 1.05, `focus ${focus.toFixed(0)} Hz vs bright ${bright.toFixed(0)} Hz`);
});
