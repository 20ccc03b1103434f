import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { findDefaultSoundFont } from '../../src/dsp/soundfont.ts';
import { NO_SOUNDFONT } from './render.ts';

/**
 * The sampled layer's own code allocates nothing per control period: the same `piano` notes over
 * the same 3000 periods (16 s) after a warm-up, rendered through a SampledLayer and by replaying
 * to a bare spessasynth_core processor the events the layer sent, grow the heap by the same
 * amount (the library's own allocation, made identical in both by running with V8's on-stack
 * replacement and background compilation off; see docs/ARCHITECTURE.md, "Allocation"). Rendering
 * through the library's `process()` (two arrays a period) measured +138 B a period here against
 * 30–36 B of difference that does not grow with the window (compiled code, caches: over 9000
 * periods it is 0 B a period); the bound is 90 B a period. ~4 s.
 */
const path = findDefaultSoundFont();
const FIXTURE = fileURLToPath(new URL('./fixtures/sampled-alloc.ts', import.meta.url));
const BOUND_BYTES_PER_PERIOD = 90;

test(
  'the sampled layer adds no allocation per period to the library’s own',
  { skip: path === null ? NO_SOUNDFONT : false, timeout: 120_000 },
  async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--expose-gc',
        '--no-use-osr',
        '--no-concurrent-recompilation',
        '--min-semi-space-size=64',
        '--import',
        'tsx',
        FIXTURE,
        path!,
      ],
      { timeout: 110_000 },
    );
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as {
      periods: number;
      layerBytes: number[];
      bareBytes: number[];
      collections: number;
      notes: number;
      maxVoices: number;
    };
    // The precondition: the sampled layer played notes in the measured window, and no collection
    // there hid what was allocated.
    assert.ok(r.notes >= 50, `notes played in the window: ${r.notes}`);
    assert.ok(r.maxVoices >= 4, `voices sounding at once: ${r.maxVoices}`);
    assert.equal(r.collections, 0, 'no garbage collection inside a measured window');
    const bare = Math.min(...r.bareBytes);
    const layer = Math.min(...r.layerBytes);
    assert.ok(bare > 0, 'the library allocates in the window (the measurement sees allocation)');
    const perPeriod = (layer - bare) / r.periods;
    assert.ok(
      perPeriod < BOUND_BYTES_PER_PERIOD,
      `the layer allocates ${perPeriod.toFixed(1)} B a period beyond the library (layer ${layer} B, bare ${bare} B over ${r.periods} periods)`,
    );
  },
);
