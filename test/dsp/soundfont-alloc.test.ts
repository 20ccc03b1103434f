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

/**
 * In a process with no V8 flags of its own (a server's engine worker, a render), the library's
 * steady state stays small: loading a bank turns V8's on-stack replacement off, which otherwise
 * (in about half the processes here, a compilation race) leaves the library's per-sample filter
 * loop boxing a heap number per sample and voice. Measured with these notes: 650–680 B a period
 * with the flag (the library boxes its clock as an argument per voice, and a few values); in the
 * processes that took the boxed path without it, 11.5–12.8 KB a period. The bound is 5 KB. The
 * young generation is large enough (64 MB) for the window to pass without a collection at the
 * small rate; any collection inside it fails. ~3 s.
 */
const STEADY = fileURLToPath(new URL('./fixtures/sampled-steady.ts', import.meta.url));

test(
  'the sampled layer’s steady state allocates little in a process without special V8 flags',
  { skip: path === null ? NO_SOUNDFONT : false, timeout: 120_000 },
  async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--expose-gc',
        '--min-semi-space-size=64',
        '--max-semi-space-size=64',
        '--import',
        'tsx',
        STEADY,
        path!,
      ],
      { timeout: 110_000 },
    );
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as {
      periods: number;
      bytesPerPeriod: number;
      collections: number;
      notes: number;
      maxVoices: number;
    };
    // The precondition: the layer played notes through the window, several at once.
    assert.ok(r.notes >= 50, `notes played in the window: ${r.notes}`);
    assert.ok(r.maxVoices >= 4, `voices sounding at once: ${r.maxVoices}`);
    assert.equal(
      r.collections,
      0,
      `collections inside the window (${r.bytesPerPeriod.toFixed(0)} B a period)`,
    );
    assert.ok(r.bytesPerPeriod < 5000, `${r.bytesPerPeriod.toFixed(0)} B a period`);
  },
);
