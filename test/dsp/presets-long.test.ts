import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClickDetector,
  countNonFinite,
  LoudnessMeter,
  peakAbs,
  StereoCorrelationMeter,
  TruePeakMeter,
} from '../../src/dsp/analysis/index.ts';
import { DSP_DEFAULTS } from '../../src/dsp/config.ts';
import { PRESETS } from '../../src/music/presets.ts';
import { NO_SOUNDFONT, renderStation, SR, testSoundFont } from './render.ts';

/** Ten minutes per preset, through the composer (StationRenderer), as a listener hears it. */
const SECONDS = 600;
const LOUDNESS_WINDOW_LUFS = { min: -24, max: -16 };
const CEILING = Math.pow(10, DSP_DEFAULTS.limiterCeilingDb / 20);

const soundfont = testSoundFont();

for (const preset of PRESETS.map((p) => p.name)) {
  // Sampled presets are measured as they are meant to sound: with the SoundFont layer.
  const sampled = PRESETS.find((p) => p.name === preset)!.sampled !== undefined;
  test(`${preset}: 10 minutes stay below the ceiling, click-free, in the loudness window, steady, mono-compatible`, (t) => {
    if (sampled && soundfont === null) return t.skip(NO_SOUNDFONT);
    const loud = new LoudnessMeter(SR);
    const tpL = new TruePeakMeter();
    const tpR = new TruePeakMeter();
    const clicksL = new ClickDetector({ sampleRate: SR });
    const clicksR = new ClickDetector({ sampleRate: SR });
    const corr = new StereoCorrelationMeter();
    let peak = 0;
    let nonFinite = 0;
    renderStation({
      preset,
      seconds: SECONDS,
      soundfont: sampled ? soundfont : null,
      visit: (L, R) => {
        peak = Math.max(peak, peakAbs(L), peakAbs(R));
        nonFinite += countNonFinite(L) + countNonFinite(R);
        loud.push(L, R);
        tpL.push(L);
        tpR.push(R);
        clicksL.push(L);
        clicksR.push(R);
        corr.push(L, R);
      },
    });
    clicksL.finish();
    clicksR.finish();

    assert.equal(nonFinite, 0, 'NaN or Infinity in the output');
    assert.ok(peak <= 1, `sample beyond ±1: ${peak}`);
    assert.ok(peak <= CEILING + 1e-6, `sample peak ${peak} above the limiter ceiling ${CEILING}`);
    const truePeakDb = Math.max(tpL.truePeakDb, tpR.truePeakDb);
    assert.ok(truePeakDb < -1, `true peak ${truePeakDb.toFixed(2)} dBTP is not below −1 dBTP`);
    const at = (c: { frame: number }): string => `${(c.frame / SR).toFixed(3)} s`;
    assert.equal(clicksL.totalClicks, 0, `clicks (left) at ${clicksL.clicks.map(at).join(', ')}`);
    assert.equal(clicksR.totalClicks, 0, `clicks (right) at ${clicksR.clicks.map(at).join(', ')}`);

    const integrated = loud.integratedLufs();
    assert.ok(
      integrated >= LOUDNESS_WINDOW_LUFS.min && integrated <= LOUDNESS_WINDOW_LUFS.max,
      `integrated loudness ${integrated.toFixed(1)} LUFS outside ${LOUDNESS_WINDOW_LUFS.min}…${LOUDNESS_WINDOW_LUFS.max}`,
    );
    // Stable over time: every 30 s window after the first (the fade-in) within ±4 LU of the whole.
    for (let s = 30; s + 30 <= SECONDS; s += 30) {
      const w = loud.windowLufs(s, s + 30);
      assert.ok(
        Math.abs(w - integrated) <= 4,
        `${s}–${s + 30} s at ${w.toFixed(1)} LUFS vs ${integrated.toFixed(1)}`,
      );
    }
    // Breathing, not pumping: a loudness range of a few LU, and short-term loudness (3 s) never
    // moving more than 4 LU within one second.
    const lra = loud.loudnessRangeLu();
    assert.ok(lra > 0.3 && lra < 8, `loudness range ${lra.toFixed(1)} LU`);
    const st = loud.shortTermLufs();
    let maxStep = 0;
    for (let i = 10; i < st.length; i++) {
      if (Number.isFinite(st[i]!) && Number.isFinite(st[i - 10]!)) {
        maxStep = Math.max(maxStep, Math.abs(st[i]! - st[i - 10]!));
      }
    }
    assert.ok(maxStep < 4, `short-term loudness moved ${maxStep.toFixed(1)} LU within 1 s`);
    assert.ok(
      corr.correlation > 0.2,
      `stereo correlation ${corr.correlation.toFixed(2)} (mono-compatible needs > 0)`,
    );
  });
}
