import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyPatch, DEFAULT_PARAMS } from '../../src/music/params.ts';
import { PRESETS } from '../../src/music/presets.ts';
import { compose, only, SAMPLE_RATE } from './score.ts';

const MINUTES = 20;

describe('presets as characters, measured on the score', () => {
  const stats = PRESETS.map((preset) => {
    const p = applyPatch(DEFAULT_PARAMS, { preset: preset.name });
    const { events, chords } = compose(4, p, MINUTES * 60);
    const chordSeconds =
      (chords[chords.length - 1]!.startFrame - chords[0]!.startFrame) / SAMPLE_RATE / (chords.length - 1);
    return {
      name: preset.name,
      melodyPerMinute: only(events, 'keys').length / MINUTES,
      perc: only(events, 'perc').length,
      chordSeconds,
    };
  });
  const of = (name: string): (typeof stats)[number] => stats.find((s) => s.name === name)!;

  it('orders melody density sleep < meditation < focus < bright', (t) => {
    for (const s of stats) {
      t.diagnostic(
        `${s.name}: ${s.melodyPerMinute.toFixed(1)} melody notes/min, ${s.perc} perc hits, chords ${s.chordSeconds.toFixed(1)} s`,
      );
    }
    const order = ['sleep', 'meditation', 'focus', 'bright'].map((n) => of(n).melodyPerMinute);
    for (let i = 1; i < order.length; i++) assert.ok(order[i]! > order[i - 1]!, order.join(' < '));
  });

  it('keeps sleep and meditation free of percussion, and sleep has the slowest harmony', () => {
    assert.equal(of('sleep').perc, 0);
    assert.equal(of('meditation').perc, 0);
    assert.ok(of('bright').perc > 0);
    for (const other of ['meditation', 'focus', 'bright'])
      assert.ok(of('sleep').chordSeconds > of(other).chordSeconds);
  });
});
