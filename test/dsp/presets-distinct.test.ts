import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measurePreset, type PresetFeatures } from '../../bench/lib/preset-features.ts';
import { DISTINCT, distinctBy } from '../../bench/lib/preset-rule.ts';
import { PRESETS } from '../../src/music/presets.ts';
import { NO_SOUNDFONT, testSoundFont } from './render.ts';

/**
 * Every preset sounds clearly different from every other, by measurement (bench/lib/preset-rule.ts:
 * brightness, air, density, mode and tempo, instrumentation or register apart by more than a
 * listener needs to hear it), and each stays in the loudness window. Shorter renders than
 * bench/presets.ts (the docs' table): 45 s per preset after the same 10 s lead-in, same seed.
 */
const SECONDS = 45;
const LOUDNESS_WINDOW_LUFS = { min: -24, max: -16 };
const soundfont = testSoundFont();

test('every pair of presets differs audibly by the measured rule; each stays in the loudness window', (t) => {
  assert.ok(PRESETS.length >= 8, `${PRESETS.length} presets`);
  const measured: PresetFeatures[] = [];
  for (const p of PRESETS) {
    if (p.sampled && soundfont === null) {
      t.diagnostic(`${p.name} left out: ${NO_SOUNDFONT}`);
      continue;
    }
    measured.push(
      measurePreset({ preset: p.name, seconds: SECONDS, soundfont: p.sampled ? soundfont : null }),
    );
  }
  for (const f of measured) {
    t.diagnostic(
      `${f.preset}: ${f.mode} ${f.bpm} BPM, centroid ${Math.round(f.centroidHz)} Hz, >2 kHz ${(f.highShare * 100).toFixed(1)} %, ` +
        `${f.eventsPerMinute.toFixed(0)} events/min, ${f.integratedLufs.toFixed(1)} LUFS, LRA ${f.loudnessRangeLu.toFixed(1)} LU`,
    );
    assert.ok(
      f.integratedLufs >= LOUDNESS_WINDOW_LUFS.min && f.integratedLufs <= LOUDNESS_WINDOW_LUFS.max,
      `${f.preset}: ${f.integratedLufs.toFixed(1)} LUFS outside ${LOUDNESS_WINDOW_LUFS.min}…${LOUDNESS_WINDOW_LUFS.max}`,
    );
    assert.ok(
      f.loudnessRangeLu > 0.3 && f.loudnessRangeLu < 8,
      `${f.preset}: LRA ${f.loudnessRangeLu.toFixed(1)} LU`,
    );
    // The rule can fail: a preset is never "clearly different" from itself.
    assert.deepEqual(distinctBy(f, f), [], `${f.preset} vs itself`);
  }
  // Every built-in preset is measured (the sampled ones need the SoundFont).
  assert.ok(measured.length >= PRESETS.filter((p) => !p.sampled).length);
  const same: string[] = [];
  for (let i = 0; i < measured.length; i++) {
    for (let j = i + 1; j < measured.length; j++) {
      const why = distinctBy(measured[i]!, measured[j]!);
      if (why.length === 0) same.push(`${measured[i]!.preset} / ${measured[j]!.preset}`);
    }
  }
  assert.deepEqual(same, [], `not clearly different by ${JSON.stringify(DISTINCT)}`);
});

test('each preset has a one-line character, distinct from the others', () => {
  const seen = new Set<string>();
  for (const p of PRESETS) {
    assert.ok(
      p.character.length >= 20 && p.character.length <= 100,
      `${p.name}: ${p.character.length} chars`,
    );
    assert.ok(!p.character.includes('\n'), `${p.name}: one line`);
    assert.ok(!seen.has(p.character), `${p.name} repeats a character line`);
    seen.add(p.character);
  }
});
