import assert from 'node:assert/strict';
import { it } from 'node:test';
import { findDefaultSoundFont, loadSoundFont } from '../../src/dsp/soundfont.ts';
import { ChunkRing, WS_PREFIX_BYTES } from '../../src/engine/ring.ts';
import { StationRenderer } from '../../src/engine/station-renderer.ts';
import { WorkerStation } from '../../src/engine/worker-station.ts';
import { applyPatch, DEFAULT_PARAMS } from '../../src/music/params.ts';

/**
 * An engine worker's station plays the sampled layer from the SoundFont path of its `add`
 * message: its PCM is the offline renderer's with that SoundFont (to 16-bit rounding), and not the
 * built-in synth's.
 */
const CHUNK_FRAMES = 4800;
const CHUNKS = 30;
const installed = findDefaultSoundFont();

function workerPcm(soundfont: string | null): Float32Array {
  const ring = ChunkRing.create(CHUNKS + 2, CHUNK_FRAMES, 128_000);
  const st = new WorkerStation({
    type: 'add',
    id: 'piano',
    seed: 5,
    params: applyPatch(DEFAULT_PARAMS, { preset: 'piano' }),
    chunkFrames: CHUNK_FRAMES,
    startSeq: 0,
    startMonoMs: 1_000_000,
    wallOffsetMs: 1_790_000_000_000,
    ring: ring.sab,
    layout: ring.layout,
    discontinuity: false,
    opusBitrate: 96_000,
    opusComplexity: 0,
    mp3Bitrate: 128_000,
    wish: { mp3: false, tiers: 0 },
    soundfont,
  });
  const out = new Float32Array(CHUNKS * CHUNK_FRAMES);
  for (let seq = 0; seq < CHUNKS; seq++) {
    st.renderNext();
    const pcm = Buffer.from(ring.sab, ring.pcmRegion(seq) + WS_PREFIX_BYTES + 32, CHUNK_FRAMES * 4);
    for (let i = 0; i < CHUNK_FRAMES; i++) out[seq * CHUNK_FRAMES + i] = pcm.readInt16LE(i * 4) / 32768;
  }
  return out;
}

function offline(soundfont: boolean): Float32Array {
  const r = new StationRenderer({
    seed: 5,
    params: applyPatch(DEFAULT_PARAMS, { preset: 'piano' }),
    soundfont: soundfont ? loadSoundFont(installed!) : null,
  });
  const out = new Float32Array(CHUNKS * CHUNK_FRAMES);
  const L = new Float32Array(CHUNK_FRAMES);
  const R = new Float32Array(CHUNK_FRAMES);
  for (let c = 0; c < CHUNKS; c++) {
    r.render(L, R, CHUNK_FRAMES);
    out.set(L, c * CHUNK_FRAMES);
  }
  return out;
}

it(
  'a worker station with a SoundFont path plays the sampled piano, as the offline renderer does',
  {
    skip:
      installed === null
        ? 'no SoundFont in /usr/share/sounds/sf2 (apt-get install timgm6mb-soundfont)'
        : false,
  },
  () => {
    const got = workerPcm(installed);
    const sampled = offline(true);
    const builtIn = offline(false);
    let energy = 0;
    let maxSampled = 0;
    let dBuiltIn = 0;
    for (let i = 0; i < got.length; i++) {
      energy += got[i]! ** 2;
      maxSampled = Math.max(maxSampled, Math.abs(got[i]! - sampled[i]!));
      dBuiltIn += (got[i]! - builtIn[i]!) ** 2;
    }
    assert.ok(energy > 1e-3, `silent: ${energy}`);
    assert.ok(maxSampled <= 2 / 32768, `differs from the offline sampled render by up to ${maxSampled}`);
    assert.ok(dBuiltIn > 0.1 * energy, 'the worker played the built-in synth');
    // Without a path the worker plays the built-in synth.
    const none = workerPcm(null);
    let maxBuiltIn = 0;
    for (let i = 0; i < none.length; i++) maxBuiltIn = Math.max(maxBuiltIn, Math.abs(none[i]! - builtIn[i]!));
    assert.ok(maxBuiltIn <= 2 / 32768, `no SoundFont: differs from the built-in render by ${maxBuiltIn}`);
  },
);
