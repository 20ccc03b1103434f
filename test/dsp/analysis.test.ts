import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/music/rng.ts';
import {
  countSpectralPeaks,
  detectClicks,
  LoudnessMeter,
  measureLoudness,
  peakAbs,
  powerSpectrum,
  rms,
  spectralCentroidHz,
  spectralFlatness,
  stereoCorrelation,
  truePeakDb,
} from '../../src/dsp/analysis/index.ts';

const SR = 48_000;

function sine(freqHz: number, amp: number, seconds: number, phase = 0): Float32Array {
  const n = Math.round(seconds * SR);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin((2 * Math.PI * freqHz * i) / SR + phase);
  return x;
}

function noise(seed: number, amp: number, seconds: number): Float32Array {
  const rng = new Rng(seed);
  const n = Math.round(seconds * SR);
  const x = new Float32Array(n);
  // Sum of uniforms: close enough to Gaussian for the detector's statistics.
  for (let i = 0; i < n; i++) x[i] = amp * (rng.next() + rng.next() + rng.next() - 1.5);
  return x;
}

test('rms and peak of a sine are amplitude/√2 and amplitude', () => {
  const x = sine(997, 0.5, 1);
  assert.ok(Math.abs(rms(x) - 0.5 / Math.SQRT2) < 1e-3);
  assert.ok(Math.abs(peakAbs(x) - 0.5) < 1e-3);
});

test('EBU Tech 3341 cases: 1 kHz stereo sine at −23 and −33 dBFS read −23 and −33 LUFS', () => {
  for (const db of [-23, -33]) {
    const x = sine(1000, Math.pow(10, db / 20), 20);
    const l = measureLoudness(x, x, SR).integratedLufs;
    assert.ok(Math.abs(l - db) < 0.1, `${db} dBFS read ${l} LUFS`);
  }
});

test('relative gate ignores quiet passages (Tech 3341 case 3: −36/−23/−36 dBFS → −23 LUFS)', () => {
  const m = new LoudnessMeter(SR);
  for (const [db, s] of [
    [-36, 10],
    [-23, 60],
    [-36, 10],
  ] as const) {
    const x = sine(1000, Math.pow(10, db / 20), s);
    m.push(x, x);
  }
  assert.ok(Math.abs(m.integratedLufs() - -23) < 0.1, `read ${m.integratedLufs()}`);
});

test('loudness range of 20 s at −20 then 20 s at −30 dBFS is 10 LU (Tech 3342 case 1)', () => {
  const m = new LoudnessMeter(SR);
  for (const db of [-20, -30]) {
    const x = sine(1000, Math.pow(10, db / 20), 20);
    m.push(x, x);
  }
  assert.ok(Math.abs(m.loudnessRangeLu() - 10) < 1, `LRA ${m.loudnessRangeLu()}`);
  const st = m.shortTermLufs();
  assert.ok(Math.abs(st[50]! - -20) < 0.2 && Math.abs(st[st.length - 1]! - -30) < 0.2);
});

test('true peak finds the inter-sample peak of a sine at fs/4 sampled at ±45°', () => {
  const x = sine(SR / 4, 0.5, 0.5, Math.PI / 4);
  const samplePeakDb = 20 * Math.log10(peakAbs(x));
  const tp = truePeakDb(x);
  assert.ok(Math.abs(samplePeakDb - -9.03) < 0.1, `sample peak ${samplePeakDb}`);
  assert.ok(Math.abs(tp - -6.02) < 0.25, `true peak ${tp}`);
});

test('click detector finds a 0.02 step in a quiet sine at its frame and nothing in the clean sine', () => {
  const x = sine(220, 0.3, 2);
  assert.equal(detectClicks(x, { sampleRate: SR }).length, 0);
  for (let i = 48_000; i < x.length; i++) x[i]! += 0.02;
  const clicks = detectClicks(x, { sampleRate: SR });
  assert.equal(clicks.length, 1);
  assert.ok(Math.abs(clicks[0]!.frame - 48_000) <= 1, `at ${clicks[0]!.frame}`);
});

test('click detector reports a hard note start after silence but not a 5 ms fade-in', () => {
  const hard = new Float32Array(SR);
  const soft = new Float32Array(SR);
  const fadeFrames = 240;
  for (let i = 24_000; i < SR; i++) {
    const s = 0.2 * Math.sin((2 * Math.PI * 330 * (i - 24_000)) / SR + 1);
    hard[i] = s;
    soft[i] = s * Math.min(1, (i - 24_000) / fadeFrames);
  }
  assert.equal(detectClicks(hard, { sampleRate: SR }).length, 1);
  assert.equal(detectClicks(soft, { sampleRate: SR }).length, 0);
});

test('click detector stays silent on 20 s of noise, including its faded onset', () => {
  const x = noise(7, 0.2, 20);
  for (let i = 0; i < 480; i++) x[i]! *= i / 480;
  assert.equal(detectClicks(x, { sampleRate: SR }).length, 0);
});

test('spectral measures tell a sine from a harmonic tone from noise', () => {
  const tone = sine(1000, 0.5, 2);
  const s1 = powerSpectrum(tone, SR);
  assert.ok(Math.abs(spectralCentroidHz(s1) - 1000) < 10);
  assert.equal(countSpectralPeaks(s1), 1);
  const harm = new Float32Array(2 * SR);
  for (let h = 1; h <= 5; h++) {
    const p = sine(200 * h, 0.3 / h, 2);
    for (let i = 0; i < harm.length; i++) harm[i]! += p[i]!;
  }
  assert.equal(countSpectralPeaks(powerSpectrum(harm, SR)), 5);
  const n = powerSpectrum(noise(3, 0.3, 2), SR);
  assert.ok(spectralFlatness(n) > 0.5, `noise flatness ${spectralFlatness(n)}`);
  assert.ok(spectralFlatness(s1) < 0.01, `sine flatness ${spectralFlatness(s1)}`);
});

test('stereo correlation is +1 for mono, −1 for inverted, ~0 for independent noise', () => {
  const a = noise(1, 0.3, 1);
  const b = noise(2, 0.3, 1);
  const inv = a.map((v) => -v);
  assert.ok(Math.abs(stereoCorrelation(a, a) - 1) < 1e-9);
  assert.ok(Math.abs(stereoCorrelation(a, inv) + 1) < 1e-9);
  assert.ok(Math.abs(stereoCorrelation(a, b)) < 0.05);
});
