import { INSTRUMENTS } from '../../src/music/types.ts';
import type { PresetFeatures } from './preset-features.ts';

/**
 * When two presets sound clearly different: at least one of these, each set well above what a
 * listener can just tell apart (so that the difference is heard, not only measured).
 */
export const DISTINCT = {
  /** Brightness: centroids apart by this ratio (~1/3 octave; the just-noticeable change is ~5–10 %). */
  centroidRatio: 1.25,
  /**
   * Air: the share of power above 2 kHz (bell partials, noise bands, the pad's open filter) apart
   * by this ratio (3 dB), where the larger share is at least `airFloor`. The centroid follows the
   * bass and drone; this is what "brighter" is heard as.
   */
  airRatio: 2,
  airFloor: 0.005,
  /** Activity: note events per minute apart by this ratio (half as many notes again). */
  densityRatio: 1.5,
  /** Pulse and colour: another mode and a tempo apart by this ratio (a change a listener taps). */
  tempoRatio: 1.15,
  /** Instrumentation: one instrument's share of the events apart by this many points, or another sampled voice. */
  shareDelta: 0.15,
  /** Register: velocity-weighted mean pitch apart by this many semitones (a fourth). */
  registerSemitones: 5,
} as const;

const ratio = (a: number, b: number): number => Math.max(a, b) / Math.max(1e-9, Math.min(a, b));

/** Which of the rule's criteria separate a and b (empty: not clearly different). */
export function distinctBy(a: PresetFeatures, b: PresetFeatures): string[] {
  const why: string[] = [];
  const c = ratio(a.centroidHz, b.centroidHz);
  if (c >= DISTINCT.centroidRatio) why.push(`centroid ×${c.toFixed(2)}`);
  const air = ratio(a.highShare, b.highShare);
  if (Math.max(a.highShare, b.highShare) >= DISTINCT.airFloor && air >= DISTINCT.airRatio)
    why.push(`air (>2 kHz) ×${air.toFixed(1)}`);
  const d = ratio(a.eventsPerMinute, b.eventsPerMinute);
  if (d >= DISTINCT.densityRatio) why.push(`density ×${d.toFixed(2)}`);
  const t = ratio(a.bpm, b.bpm);
  if (a.mode !== b.mode && t >= DISTINCT.tempoRatio)
    why.push(`${a.mode}/${b.mode} at tempo ×${t.toFixed(2)}`);
  if (a.voices !== b.voices) why.push(`voices ${a.voices} / ${b.voices}`);
  for (const i of INSTRUMENTS) {
    const sa = a.eventsPerMinute > 0 ? a.perInstrument[i] / a.eventsPerMinute : 0;
    const sb = b.eventsPerMinute > 0 ? b.perInstrument[i] / b.eventsPerMinute : 0;
    if (Math.abs(sa - sb) >= DISTINCT.shareDelta) {
      why.push(`${i} share ${Math.round(sa * 100)} % / ${Math.round(sb * 100)} %`);
      break;
    }
  }
  const m = Math.abs(a.meanMidi - b.meanMidi);
  if (m >= DISTINCT.registerSemitones) why.push(`register ${m.toFixed(1)} semitones`);
  return why;
}
