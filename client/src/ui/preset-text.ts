import type { StationParams } from '../protocol/messages.ts';

/** The mood line's words (no DOM here, so that they can be tested in Node). */
export interface PresetInfo {
  name: string;
  description: string;
  /** The preset's own values (GET /api/presets), to tell "modified" where the server did not. */
  params?: Partial<StationParams>;
  /** False where the server lacks what the preset needs (`requires`, e.g. a SoundFont). */
  available?: boolean;
  requires?: string[];
}

const capitalize = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * What the mood line says: the preset's name, "Sleep, modified" once its mode, tempo or intensity
 * was changed, or "Custom" without a preset; and a note with the values actually playing.
 */
export function describePreset(
  params: Partial<StationParams>,
  preset: PresetInfo | undefined,
): { label: string; note: string; modified: boolean } {
  const name = params.preset ?? null;
  const values =
    params.mode !== undefined && params.bpm !== undefined && params.intensity !== undefined
      ? `${params.key ? `${params.key} ` : ''}${params.mode}, ${params.bpm} BPM, intensity ${Math.round(params.intensity * 100)} %`
      : null;
  if (name === null) {
    return {
      label: 'Custom',
      note: values ? `No mood chosen: ${values}.` : 'A mood sets tempo, mode, density and sound together.',
      modified: false,
    };
  }
  const own = preset?.params;
  const modified =
    params.modified ??
    (own !== undefined &&
      ((own.mode !== undefined && params.mode !== undefined && own.mode !== params.mode) ||
        (own.bpm !== undefined && params.bpm !== undefined && own.bpm !== params.bpm) ||
        (own.intensity !== undefined &&
          params.intensity !== undefined &&
          Math.abs(own.intensity - params.intensity) > 1e-6)));
  if (modified) {
    return {
      label: `${capitalize(name)}, modified`,
      note: `${capitalize(name)}'s sound, changed to ${values ?? 'other values'}.`,
      modified: true,
    };
  }
  return {
    label: capitalize(name),
    note: preset?.description ?? (values ? `${capitalize(name)}: ${values}.` : capitalize(name)),
    modified: false,
  };
}
