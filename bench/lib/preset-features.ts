/**
 * What a preset sounds like, measured: renders a station through StationRenderer (composer + synth,
 * the whole mix a listener hears) with a fixed seed and reports the features that tell presets
 * apart. Used by bench/presets.ts (the table in docs/performance/presets.md) and by
 * test/music/preset-distinct.test.ts (the rule that every pair of presets differs audibly).
 */
import {
  bandPowerFraction,
  LoudnessMeter,
  powerSpectrum,
  spectralCentroidHz,
  StereoCorrelationMeter,
} from '../../src/dsp/analysis/index.ts';
import type { SoundFontBank } from '../../src/dsp/soundfont.ts';
import { StationRenderer } from '../../src/engine/station-renderer.ts';
import { applyPatch, DEFAULT_PARAMS } from '../../src/music/params.ts';
import { PRESETS } from '../../src/music/presets.ts';
import { INSTRUMENTS, SAMPLE_RATE, type Instrument, type Mode } from '../../src/music/types.ts';

export interface PresetFeatures {
  preset: string;
  mode: Mode;
  bpm: number;
  intensity: number;
  seconds: number;
  /** Power-weighted mean frequency of the mono mix, 20 Hz … 20 kHz. */
  centroidHz: number;
  /** Share of the mix's power below 250 Hz and above 2 kHz. */
  lowShare: number;
  highShare: number;
  integratedLufs: number;
  loudnessRangeLu: number;
  /** L/R correlation (1 = mono, 0 = unrelated): lower is wider. */
  correlation: number;
  /** Note events per minute, all instruments. */
  eventsPerMinute: number;
  /** Note events per minute, per instrument. */
  perInstrument: Record<Instrument, number>;
  /** The voices: `synth` (built-in) or the sampled layer's GM programs, e.g. `GM 0+89`. */
  voices: string;
  /** Mean MIDI note of the pitched instruments (pad, keys, drone, texture), velocity-weighted. */
  meanMidi: number;
}

/**
 * Measures one preset over `seconds` of audio after `skipSeconds` (the fade-in and the first
 * phrase, which every preset shares). Memory: one mono Float32Array of the measured span.
 */
export function measurePreset(opts: {
  preset: string;
  seconds: number;
  seed?: number;
  skipSeconds?: number;
  soundfont?: SoundFontBank | null;
}): PresetFeatures {
  // As a listener choosing it gets them: the defaults, then the preset's values.
  const params = applyPatch(DEFAULT_PARAMS, { preset: opts.preset });
  const sampled = PRESETS.find((p) => p.name === opts.preset)!.sampled;
  const programs = [sampled?.keys?.program, sampled?.pad?.program].filter((x) => x !== undefined);
  const voices = sampled && opts.soundfont ? `GM ${programs.join('+')}` : 'synth';
  const skip = Math.round((opts.skipSeconds ?? 10) * SAMPLE_RATE);
  const total = Math.round(opts.seconds * SAMPLE_RATE);
  const counts = Object.fromEntries(INSTRUMENTS.map((i) => [i, 0])) as Record<Instrument, number>;
  let midiSum = 0;
  let midiWeight = 0;
  let measuring = false;
  const r = new StationRenderer({
    seed: opts.seed ?? 11,
    params,
    soundfont: opts.soundfont ?? null,
    onEvent: (e) => {
      // Events are scheduled a little ahead of the audio; counting them from the first measured
      // chunk on is the same span within that lead.
      if (!measuring) return;
      counts[e.instrument]++;
      if (e.instrument !== 'perc') {
        midiSum += e.midi * e.velocity;
        midiWeight += e.velocity;
      }
    },
  });
  const chunk = SAMPLE_RATE / 10;
  const L = new Float32Array(chunk);
  const R = new Float32Array(chunk);
  for (let pos = 0; pos < skip; pos += chunk) r.render(L, R, chunk);
  measuring = true;
  const mono = new Float32Array(total);
  const loud = new LoudnessMeter(SAMPLE_RATE);
  const corr = new StereoCorrelationMeter();
  for (let pos = 0; pos < total; pos += chunk) {
    const n = Math.min(chunk, total - pos);
    r.render(L, R, chunk);
    loud.push(L, R, n);
    corr.push(L, R, n);
    for (let i = 0; i < n; i++) mono[pos + i] = 0.5 * (L[i]! + R[i]!);
  }
  const spec = powerSpectrum(mono, SAMPLE_RATE, { fftSize: 4096 });
  const minutes = opts.seconds / 60;
  const perInstrument = Object.fromEntries(INSTRUMENTS.map((i) => [i, counts[i] / minutes])) as Record<
    Instrument,
    number
  >;
  return {
    preset: opts.preset,
    mode: params.mode,
    bpm: params.bpm,
    intensity: params.intensity,
    seconds: opts.seconds,
    centroidHz: spectralCentroidHz(spec, 20, 20_000),
    lowShare: bandPowerFraction(spec, 20, 250),
    highShare: bandPowerFraction(spec, 2000, 20_000),
    integratedLufs: loud.integratedLufs(),
    loudnessRangeLu: loud.loudnessRangeLu(),
    correlation: corr.correlation,
    eventsPerMinute: INSTRUMENTS.reduce((s, i) => s + perInstrument[i], 0),
    perInstrument,
    voices,
    meanMidi: midiWeight > 0 ? midiSum / midiWeight : 0,
  };
}
