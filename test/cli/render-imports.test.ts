import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { findDefaultSoundFont } from '../../src/dsp/soundfont-file.ts';
import { packagesIn, runBinRecorded, writeImportRecorder } from './import-recorder.ts';

// What `npx auralis render` loads, whether it runs the TypeScript through tsx or the compiled
// modules of `npm run build`: every module URL the process resolves is recorded (the second test
// shows that the recorder sees packages). A render of a built-in preset must not load the server
// stack or the SoundFont player: their start-up cost is part of every render's CPU time.

const NOT_FOR_A_RENDER = [
  'spessasynth_core',
  'fastify',
  '@fastify',
  'ws',
  'prom-client',
  'ioredis',
  '@evan/opus',
  'opusscript',
  'wasm-media-encoders',
];

let dir = '';
let preload = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'auralis-imports-'));
  preload = writeImportRecorder(dir);
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('a render of a built-in preset loads the engine but not the server stack or the SoundFont player', async () => {
  const r = await runBinRecorded(preload, join(dir, 'a.log'), [
    'render',
    '--seconds',
    '0.2',
    '--out',
    join(dir, 'a.wav'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  // The precondition: the recorder saw the render's own modules (src/…ts or dist/cli/…js).
  for (const m of ['cli/render.', 'engine/station-renderer.', 'dsp/synth.']) {
    assert.ok(
      r.urls.some((u) => /\/(src|dist\/cli)\//.test(u) && u.includes(m)),
      `${m} was not seen loading`,
    );
  }
  const loaded = packagesIn(r.urls);
  for (const p of NOT_FOR_A_RENDER) {
    const hit = [...loaded].filter((l) => l === p || l.startsWith(`${p}/`));
    assert.deepEqual(hit, [], `a render loaded ${p}`);
  }
});

test('a sampled preset does load the SoundFont player (the recorder sees packages)', async (t) => {
  if (findDefaultSoundFont() === null) return t.skip('no SoundFont installed (Debian: timgm6mb-soundfont)');
  const r = await runBinRecorded(preload, join(dir, 'b.log'), [
    'render',
    '--seconds',
    '0.2',
    '--preset',
    'piano',
    '--out',
    join(dir, 'b.wav'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(packagesIn(r.urls).has('spessasynth_core'), 'spessasynth_core was not seen loading');
});
