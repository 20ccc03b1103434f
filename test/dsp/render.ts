import { findDefaultSoundFont, loadSoundFont, type SoundFontBank } from '../../src/dsp/soundfont.ts';
import { Synth } from '../../src/dsp/synth.ts';
import { StationRenderer } from '../../src/engine/station-renderer.ts';
import { DEFAULT_PARAMS } from '../../src/music/params.ts';
import { DEFAULT_TIMBRE, PRESETS } from '../../src/music/presets.ts';
import type { MusicParams, NoteEvent, Timbre } from '../../src/music/types.ts';

export const SR = 48_000;

/** Parameters of a preset (or the defaults for null), as a listener asking for it would get. */
export function presetParams(preset: string | null): MusicParams {
  const p = PRESETS.find((x) => x.name === preset);
  return { ...DEFAULT_PARAMS, ...(p?.params ?? {}), preset: p ? p.name : null };
}

/** Renders a station through the composer and the synth, handing each chunk to `visit`. */
export function renderStation(opts: {
  preset: string | null;
  seconds: number;
  seed?: number;
  chunkFrames?: number;
  visit: (left: Float32Array, right: Float32Array, startFrame: number) => void;
  /** The sampled layer's SoundFont (presets with a sampled voicing need one to sound as meant). */
  soundfont?: SoundFontBank | null;
}): StationRenderer {
  const chunk = opts.chunkFrames ?? 4800;
  const r = new StationRenderer({
    seed: opts.seed ?? 11,
    params: presetParams(opts.preset),
    soundfont: opts.soundfont ?? null,
  });
  const L = new Float32Array(chunk);
  const R = new Float32Array(chunk);
  const total = Math.round(opts.seconds * SR);
  for (let pos = 0; pos < total; pos += chunk) {
    r.render(L, R, chunk);
    opts.visit(L, R, pos);
  }
  return r;
}

/** Renders a hand-written score through a Synth into whole-length buffers. */
export function renderScore(opts: {
  events: readonly NoteEvent[];
  seconds: number;
  seed?: number;
  timbre?: Timbre;
  bpm?: number;
  chunkFrames?: number;
  synth?: Synth;
  /** Called before rendering the chunk that starts at `startFrame` (for mid-stream changes). */
  before?: (synth: Synth, startFrame: number) => void;
}): { left: Float32Array; right: Float32Array; synth: Synth } {
  const synth =
    opts.synth ??
    new Synth({
      sampleRate: SR,
      seed: opts.seed ?? 1,
      timbre: opts.timbre ?? DEFAULT_TIMBRE,
      bpm: opts.bpm ?? 70,
    });
  const chunk = opts.chunkFrames ?? 4800;
  const total = Math.round(opts.seconds * SR);
  const left = new Float32Array(total);
  const right = new Float32Array(total);
  const L = new Float32Array(chunk);
  const R = new Float32Array(chunk);
  const events = [...opts.events].sort((a, b) => a.startFrame - b.startFrame);
  let next = 0;
  for (let pos = 0; pos < total; pos += chunk) {
    const n = Math.min(chunk, total - pos);
    // Like the composer: events are scheduled shortly before the chunk that plays them.
    while (next < events.length && events[next]!.startFrame < pos + n) synth.schedule(events[next++]!);
    opts.before?.(synth, pos);
    synth.process(L, R, pos, n);
    left.set(L.subarray(0, n), pos);
    right.set(R.subarray(0, n), pos);
  }
  return { left, right, synth };
}

/** A timbre with the effects off, so a click in a voice has nothing to hide behind. */
export const DRY_TIMBRE: Timbre = { ...DEFAULT_TIMBRE, reverbMix: 0, delayMix: 0 };

/**
 * The installed SoundFont (Debian's timgm6mb-soundfont, which CI installs: scripts/test-tools.mjs),
 * parsed once, or null when none is installed (the sampled tests then skip, saying why).
 */
export function testSoundFont(): SoundFontBank | null {
  const path = findDefaultSoundFont();
  return path === null ? null : loadSoundFont(path);
}
export const NO_SOUNDFONT = 'no SoundFont in /usr/share/sounds/sf2 (apt-get install timgm6mb-soundfont)';
