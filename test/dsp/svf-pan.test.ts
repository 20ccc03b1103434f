import { test } from 'node:test';
import assert from 'node:assert/strict';
import { panLeft, panRight } from '../../src/dsp/pan.ts';
import { setSvf, svfG, type SvfCoefficients } from '../../src/dsp/svf.ts';

const SR = 48_000;

/** Steady-state gain (dB) of the SVF's low, band (×k) and high outputs for a sine at `hz`. */
function svfGainsDb(cutoffHz: number, k: number, hz: number): { low: number; band: number; high: number } {
  const c: SvfCoefficients = { a1: 0, a2: 0, a3: 0 };
  setSvf(c, cutoffHz, k, SR);
  let ic1 = 0;
  let ic2 = 0;
  const sums = { x: 0, low: 0, band: 0, high: 0 };
  const n = SR; // 1 s; the second half is measured (settled)
  for (let i = 0; i < n; i++) {
    const x = Math.sin((2 * Math.PI * hz * i) / SR);
    const v3 = x - ic2;
    const v1 = c.a1 * ic1 + c.a2 * v3;
    const v2 = ic2 + c.a2 * ic1 + c.a3 * v3;
    ic1 = 2 * v1 - ic1;
    ic2 = 2 * v2 - ic2;
    if (i < n / 2) continue;
    sums.x += x * x;
    sums.low += v2 * v2;
    sums.band += k * v1 * (k * v1);
    const h = x - k * v1 - v2;
    sums.high += h * h;
  }
  const db = (s: number): number => 10 * Math.log10(s / sums.x);
  return { low: db(sums.low), band: db(sums.band), high: db(sums.high) };
}

test('setSvf: 12 dB/oct low- and high-pass around the cutoff, unity band-pass at the centre', () => {
  const k = Math.SQRT2; // Q 0.707
  const below = svfGainsDb(1000, k, 100);
  assert.ok(Math.abs(below.low) < 0.1, `low-pass passes a decade below: ${below.low.toFixed(2)} dB`);
  assert.ok(below.high < -38, `high-pass stops a decade below: ${below.high.toFixed(1)} dB`);
  const above = svfGainsDb(1000, k, 10_000);
  assert.ok(above.low < -38, `low-pass stops a decade above: ${above.low.toFixed(1)} dB`);
  assert.ok(Math.abs(above.high) < 0.2, `high-pass passes a decade above: ${above.high.toFixed(2)} dB`);
  const at = svfGainsDb(1000, k, 1000);
  assert.ok(Math.abs(at.low + 3) < 0.2, `−3 dB at the cutoff: ${at.low.toFixed(2)} dB`);
  const centre = svfGainsDb(2000, 0.4, 2000);
  assert.ok(Math.abs(centre.band) < 0.1, `k·band has unity gain at its centre: ${centre.band.toFixed(2)} dB`);
  const off = svfGainsDb(2000, 0.4, 500);
  assert.ok(off.band < -15, `narrow band-pass (Q 2.5) two octaves off: ${off.band.toFixed(1)} dB`);
});

test('svfG keeps the cutoff inside 5 Hz … 0.45 × the sample rate', () => {
  assert.equal(svfG(1, SR), svfG(5, SR));
  assert.equal(svfG(40_000, SR), svfG(0.45 * SR, SR));
  assert.ok(Number.isFinite(svfG(1e9, SR)));
  assert.ok(svfG(1000, SR) < svfG(2000, SR));
});

test('equal-power pan: L² + R² = level², centre equal, the ends one-sided', () => {
  for (let pan = -1; pan <= 1; pan += 0.125) {
    const l = panLeft(pan, 0.5);
    const r = panRight(pan, 0.5);
    assert.ok(Math.abs(l * l + r * r - 0.25) < 1e-12, `pan ${pan}`);
    assert.ok(l >= -1e-12 && r >= -1e-12, `pan ${pan}: gains are not negative`);
  }
  assert.ok(Math.abs(panLeft(0, 1) - Math.SQRT1_2) < 1e-12);
  assert.ok(Math.abs(panRight(0, 1) - Math.SQRT1_2) < 1e-12);
  assert.ok(Math.abs(panLeft(-1, 1) - 1) < 1e-12 && Math.abs(panRight(-1, 1)) < 1e-12);
  assert.ok(Math.abs(panRight(1, 1) - 1) < 1e-12 && Math.abs(panLeft(1, 1)) < 1e-12);
  assert.ok(panLeft(-0.5, 1) > panRight(-0.5, 1), 'negative pans lean left');
});
