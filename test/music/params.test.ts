import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validatePatch } from '../../src/music/params.ts';
import { loadConfig, ConfigError } from '../../src/server/config.ts';

describe('parameter spelling', () => {
  it('accepts modes and presets in any letter case and answers in the canonical form', () => {
    for (const [input, canonical] of [
      ['Lydian', 'lydian'],
      ['LYDIAN', 'lydian'],
      [' dorian ', 'dorian'],
      ['aeolian', 'aeolian'],
    ] as const) {
      const r = validatePatch({ mode: input });
      assert.ok(r.ok, `${input}: ${JSON.stringify(r)}`);
      assert.equal(r.ok && r.patch.mode, canonical);
    }
    const p = validatePatch({ preset: 'Sleep' });
    assert.ok(p.ok);
    assert.equal(p.ok && p.patch.preset, 'sleep');
    // Keys were already case-insensitive; their canonical form is upper case with # for sharps.
    const k = validatePatch({ key: 'c#' });
    assert.equal(k.ok && k.patch.key, 'C#');
  });

  it('still refuses what is not a mode or preset, naming the field', () => {
    const m = validatePatch({ mode: 'lydianish' });
    assert.equal(m.ok, false);
    assert.equal(!m.ok && m.field, 'mode');
    assert.match(!m.ok ? m.message : '', /^mode must be one of .*lydian.*, got "lydianish"$/);
    const n = validatePatch({ mode: 7 });
    assert.equal(!n.ok && n.field, 'mode');
    const p = validatePatch({ preset: 'SLEEPY' });
    assert.equal(!p.ok && p.field, 'preset');
  });

  it('accepts configuration choices in any letter case, stored as the table spells them', () => {
    assert.equal(loadConfig({ logLevel: 'INFO' }).logLevel, 'info');
    assert.throws(
      () => loadConfig({ logLevel: 'loud' }),
      (e: unknown) => e instanceof ConfigError && e.setting === 'logLevel',
    );
  });
});
