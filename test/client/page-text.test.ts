import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REGION_NAMES } from '../../src/music/region.ts';
import { PRESETS } from '../../src/music/presets.ts';
import { describePreset, presetTooltip } from '../../client/src/ui/preset-text.ts';
import { describeNextChange } from '../../client/src/ui/schedule-text.ts';
import { explainSection } from '../../client/src/ui/sections.ts';
import { parseServerMessage } from '../../client/src/protocol/messages.ts';

const sleep = PRESETS.find((p) => p.name === 'sleep')!;
const info = {
  name: sleep.name,
  character: sleep.character,
  description: sleep.description,
  params: sleep.params,
};

describe('the mood line (describePreset)', () => {
  it('names the preset and gives its one-line character while its values play', () => {
    const d = describePreset({ key: 'D', ...sleep.params, preset: 'sleep', modified: false }, info);
    assert.deepEqual(d, { label: 'Sleep', note: sleep.character, modified: false });
    // An older server without `character`: the description.
    const old = describePreset(
      { key: 'D', ...sleep.params, preset: 'sleep', modified: false },
      { ...info, character: undefined },
    );
    assert.equal(old.note, sleep.description);
  });

  it("a chip's tooltip gives the character line, then the details", () => {
    assert.equal(presetTooltip(info), `${sleep.character}\n${sleep.description}`);
    assert.equal(presetTooltip({ ...info, character: undefined }), sleep.description);
  });

  it('says "Sleep, modified" with the values playing once the server says so', () => {
    const d = describePreset(
      { key: 'D', mode: 'phrygian', bpm: 52, intensity: 0.3, preset: 'sleep', modified: true },
      info,
    );
    assert.equal(d.label, 'Sleep, modified');
    assert.match(d.note, /D phrygian, 52 BPM, intensity 30 %/);
    assert.ok(!d.note.includes('40 BPM'));
  });

  it('works it out from the preset when the server did not say (an older server, or offline)', () => {
    const changed = describePreset({ ...sleep.params, bpm: 41, preset: 'sleep' }, info);
    assert.equal(changed.label, 'Sleep, modified');
    // The key is free: a preset does not fix one.
    const keyOnly = describePreset({ key: 'F#', ...sleep.params, preset: 'sleep' }, info);
    assert.equal(keyOnly.label, 'Sleep');
    // The server's word wins over the page's reckoning.
    assert.equal(
      describePreset({ ...sleep.params, bpm: 41, preset: 'sleep', modified: false }, info).label,
      'Sleep',
    );
  });

  it('says "Custom" with the values when no preset is set', () => {
    const d = describePreset({ key: 'A', mode: 'aeolian', bpm: 70, intensity: 0.5, preset: null }, undefined);
    assert.equal(d.label, 'Custom');
    assert.match(d.note, /A aeolian, 70 BPM, intensity 50 %/);
  });
});

describe('section words (explainSection)', () => {
  it('explains every section word the composer uses, naming it', () => {
    for (const name of REGION_NAMES) {
      const text = explainSection(name);
      assert.ok(text.includes(`“${name}”`), text);
      assert.match(text, /30–90 s/);
    }
    assert.match(explainSection('intro'), /first moments/);
  });
});

describe('params messages as the page reads them', () => {
  it('keep modified and effectiveAtMs', () => {
    const msg = parseServerMessage(
      JSON.stringify({
        type: 'params',
        params: { key: 'A', mode: 'phrygian', bpm: 52, intensity: 0.12, preset: 'sleep', modified: true },
        effectiveAt: 96_000,
        effectiveAtMs: 1_796_000_000_000,
        source: 'api',
      }),
    );
    assert.ok(msg?.type === 'params');
    assert.equal(msg.params.modified, true);
    assert.equal(msg.effectiveAtMs, 1_796_000_000_000);
  });
});

describe('the next change of a schedule (describeNextChange)', () => {
  it('names the preset, the local time and the time left, counted down', () => {
    const next = { localTime: '22:00', preset: 'sleep', inMs: (2 * 60 + 5) * 60_000 + 30_000 };
    assert.equal(describeNextChange(next, 0), 'Next: Sleep at 22:00 (in 2 h 5 min)');
    assert.equal(describeNextChange(next, 5 * 60_000), 'Next: Sleep at 22:00 (in 2 h)');
    assert.equal(describeNextChange(next, 2 * 3600_000), 'Next: Sleep at 22:00 (in 5 min)');
    assert.equal(describeNextChange(next, next.inMs - 10_000), 'Next: Sleep at 22:00 (in under a minute)');
    assert.equal(
      describeNextChange({ localTime: '07:00', preset: null, inMs: 90 * 60_000 }, 0),
      'Next: new settings at 07:00 (in 1 h 30 min)',
    );
  });
});
