import { findPreset, PRESETS } from './presets.ts';
import { MODES, PITCH_CLASSES, type Mode, type MusicParams, type PitchClass } from './types.ts';

/** Ranges of the musical parameters (PROTOCOL.md). One table, used by the server, the CLI and the docs. */
export const PARAM_RANGES = {
  bpm: { min: 40, max: 120 },
  intensity: { min: 0, max: 1 },
  seed: { min: 0, max: 0xffff_ffff },
} as const;

export const DEFAULT_PARAMS: MusicParams = {
  key: 'A',
  mode: 'aeolian',
  bpm: 70,
  intensity: 0.5,
  preset: null,
};

const FLATS: Record<string, PitchClass> = {
  Db: 'C#',
  Eb: 'D#',
  Gb: 'F#',
  Ab: 'G#',
  Bb: 'A#',
  Cb: 'B',
  Fb: 'E',
};
const SHARP_EXTRA: Record<string, PitchClass> = { 'E#': 'F', 'B#': 'C' };

/** `C`, `c#`, `Db`, `bb` … → canonical sharp name, or null. */
export function normalizeKey(input: string): PitchClass | null {
  if (input.length < 1 || input.length > 2) return null;
  const s = input[0]!.toUpperCase() + input.slice(1);
  if ((PITCH_CLASSES as readonly string[]).includes(s)) return s as PitchClass;
  return FLATS[s] ?? SHARP_EXTRA[s] ?? null;
}

/** A validated partial change. `seed` is only meaningful when a station is created. */
export interface ParamsPatch {
  key?: PitchClass;
  mode?: Mode;
  bpm?: number;
  intensity?: number;
  preset?: string;
  seed?: number;
  /** The sleep timer's ending (set by the server, never by validatePatch: not a listener field). */
  ending?: boolean;
}

export type PatchResult = { ok: true; patch: ParamsPatch } | { ok: false; field: string; message: string };

const FIELDS = new Set(['key', 'mode', 'bpm', 'intensity', 'preset', 'seed']);

function numberField(
  field: 'bpm' | 'intensity',
  value: unknown,
): { ok: true; value: number } | { ok: false; message: string } {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  const { min, max } = PARAM_RANGES[field];
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    return {
      ok: false,
      message: `${field} must be a number between ${min} and ${max}, got ${JSON.stringify(value)}`,
    };
  }
  if (n < min || n > max)
    return { ok: false, message: `${field} must be between ${min} and ${max}, got ${n}` };
  return { ok: true, value: n };
}

/**
 * Validates a partial parameter object as a whole. The first invalid field is reported;
 * nothing is applied unless everything is valid. Strings are accepted for numbers so that
 * query strings (`?bpm=60`) validate through the same code.
 */
export function validatePatch(
  input: unknown,
  opts: {
    allowSeed?: boolean;
    /** False on a server without a SoundFont: presets that need one are refused (undefined: not checked). */
    soundfont?: boolean;
  } = {},
): PatchResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, field: 'params', message: 'params must be an object' };
  }
  const patch: ParamsPatch = {};
  for (const [field, value] of Object.entries(input as Record<string, unknown>)) {
    if (value === undefined) continue;
    if (!FIELDS.has(field) || (field === 'seed' && !opts.allowSeed)) {
      const allowed = [...FIELDS].filter((f) => f !== 'seed' || opts.allowSeed).join(', ');
      return { ok: false, field, message: `unknown parameter ${field}; allowed: ${allowed}` };
    }
    switch (field) {
      case 'key': {
        const key = typeof value === 'string' ? normalizeKey(value) : null;
        if (!key)
          return {
            ok: false,
            field,
            message: `key must be a pitch class C, C#/Db … B, got ${JSON.stringify(value)}`,
          };
        patch.key = key;
        break;
      }
      case 'mode': {
        // Any letter case ("Lydian", "LYDIAN"), answered in the canonical lower case.
        const mode = typeof value === 'string' ? value.trim().toLowerCase() : null;
        if (mode === null || !(MODES as readonly string[]).includes(mode)) {
          return {
            ok: false,
            field,
            message: `mode must be one of ${MODES.join(', ')}, got ${JSON.stringify(value)}`,
          };
        }
        patch.mode = mode as Mode;
        break;
      }
      case 'bpm':
      case 'intensity': {
        const r = numberField(field, value);
        if (!r.ok) return { ok: false, field, message: r.message };
        patch[field] = r.value;
        break;
      }
      case 'preset': {
        const preset = typeof value === 'string' ? findPreset(value.trim().toLowerCase()) : undefined;
        if (!preset) {
          const names = PRESETS.map((p) => p.name).join(', ');
          return {
            ok: false,
            field,
            message: `preset must be one of ${names}, got ${JSON.stringify(value)}`,
          };
        }
        if (opts.soundfont === false && preset.sampled) {
          return {
            ok: false,
            field,
            message: `preset ${preset.name} needs a SoundFont and this server has none: start it with --soundfont PATH (or install timgm6mb-soundfont)`,
          };
        }
        patch.preset = preset.name;
        break;
      }
      case 'seed': {
        const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > PARAM_RANGES.seed.max) {
          return {
            ok: false,
            field,
            message: `seed must be an integer between 0 and 4294967295, got ${JSON.stringify(value)}`,
          };
        }
        patch.seed = n;
        break;
      }
    }
  }
  return { ok: true, patch };
}

/** The parameters after a validated patch: a preset's values first, explicit fields override them. */
export function applyPatch(current: MusicParams, patch: ParamsPatch): MusicParams {
  const next: MusicParams = { ...current };
  if (patch.preset !== undefined) {
    const preset = findPreset(patch.preset)!;
    Object.assign(next, preset.params);
    next.preset = preset.name;
  }
  if (patch.key !== undefined) next.key = patch.key;
  if (patch.mode !== undefined) next.mode = patch.mode;
  if (patch.bpm !== undefined) next.bpm = patch.bpm;
  if (patch.intensity !== undefined) next.intensity = patch.intensity;
  if (patch.ending !== undefined) next.ending = patch.ending;
  return next;
}
