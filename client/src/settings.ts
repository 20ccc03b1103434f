import { MODES, PITCH_CLASSES } from '../../src/music/types.ts';
import { PARAM_RANGES } from '../../src/music/params.ts';

/**
 * What the player remembers between visits (localStorage). Loading validates every field and
 * falls back to defaults, so a stale or hand-edited entry can never break the page.
 */
export const SETTINGS_KEY = 'auralis.player.v1';

export interface PersonalParams {
  key: string;
  mode: string;
  bpm: number;
  intensity: number;
  preset: string | null;
}

export interface Settings {
  /** A station id, or null for a personal session. */
  station: string | null;
  /** The personal session's parameters, re-applied on reload. */
  personal: PersonalParams;
  /** 0…1. */
  volume: number;
  /** Playing when the page was left: autoplay on return if the browser allows. */
  wasPlaying: boolean;
  /** `auto`: the low-latency worklet where available; `stream`: the `<audio>` element. */
  engine: 'auto' | 'stream';
}

export const DEFAULT_SETTINGS: Settings = {
  station: 'default',
  personal: { key: 'A', mode: 'aeolian', bpm: 70, intensity: 0.5, preset: null },
  volume: 0.8,
  wasPlaying: false,
  engine: 'auto',
};

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

const inRange = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;

export function loadSettings(store: KeyValueStore | null): Settings {
  let raw: unknown = null;
  try {
    const text = store?.getItem(SETTINGS_KEY);
    raw = text ? JSON.parse(text) : null;
  } catch {
    raw = null;
  }
  const s = structuredClone(DEFAULT_SETTINGS);
  if (typeof raw !== 'object' || raw === null) return s;
  const r = raw as Record<string, unknown>;
  if (r.station === null || (typeof r.station === 'string' && /^[a-z0-9-]{1,32}$/.test(r.station))) {
    s.station = r.station;
  }
  if (inRange(r.volume, 0, 1)) s.volume = r.volume;
  if (typeof r.wasPlaying === 'boolean') s.wasPlaying = r.wasPlaying;
  if (r.engine === 'auto' || r.engine === 'stream') s.engine = r.engine;
  const p = (typeof r.personal === 'object' && r.personal !== null ? r.personal : {}) as Record<
    string,
    unknown
  >;
  if (typeof p.key === 'string' && (PITCH_CLASSES as readonly string[]).includes(p.key))
    s.personal.key = p.key;
  if (typeof p.mode === 'string' && (MODES as readonly string[]).includes(p.mode)) s.personal.mode = p.mode;
  if (inRange(p.bpm, PARAM_RANGES.bpm.min, PARAM_RANGES.bpm.max)) s.personal.bpm = p.bpm;
  if (inRange(p.intensity, PARAM_RANGES.intensity.min, PARAM_RANGES.intensity.max))
    s.personal.intensity = p.intensity;
  if (typeof p.preset === 'string' && /^[a-z0-9-]{1,32}$/.test(p.preset)) s.personal.preset = p.preset;
  return s;
}

export function saveSettings(store: KeyValueStore | null, settings: Settings): void {
  try {
    store?.setItem(SETTINGS_KEY, JSON.stringify(settings));
  } catch {
    // Private mode or a full quota: the player works without memory.
  }
}
