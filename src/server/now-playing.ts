import { findPreset } from '../music/presets.ts';
import type { MusicParams } from '../music/types.ts';
import type { Station } from './station.ts';

/** The next change of what is sounding: where (frames) and when (Unix ms) it plays. */
export interface NowNext {
  position: number;
  at: number;
  /** `scheduled`: the engine has rendered it already (certain); `forecast`: the composer's plan. */
  kind: 'scheduled' | 'forecast';
  /** The next chord, when it is scheduled; null for a forecast. */
  chord: string | null;
}

/**
 * What a station is sounding now: the one source for the WebSocket `now` message, the JSON route
 * `GET /api/stations/:id/now` and its event stream (PROTOCOL.md, "Now playing").
 */
export interface NowPlaying {
  station: string;
  personal: boolean;
  /** The preset, while the parameters are still exactly its own; null when changed or none. */
  preset: string | null;
  key: string;
  mode: string;
  /** Null until the first chord of the station has been announced. */
  chord: string | null;
  section: string | null;
  /** Position (frames) from which this has been sounding; null before the first chord. */
  position: number | null;
  /** Unix ms at which `position` played (the station clock); null before the first chord. */
  at: number | null;
  next: NowNext | null;
}

/** The preset name while the parameters equal its values (key is free), else null. */
export function effectivePreset(p: MusicParams): string | null {
  if (p.preset === null) return null;
  const preset = findPreset(p.preset);
  if (!preset) return null;
  const q = preset.params;
  if (q.mode !== undefined && q.mode !== p.mode) return null;
  if (q.bpm !== undefined && q.bpm !== p.bpm) return null;
  if (q.intensity !== undefined && Math.abs(q.intensity - p.intensity) > 1e-9) return null;
  return preset.name;
}

/** Unix ms at which a station position (frames) plays on the station's clock. */
function playTimeMs(st: Station, position: number): number {
  const e = st.engine;
  return Math.round(e.startMonoMs + e.wallOffsetMs + (position * e.chunkMs) / e.chunkFrames);
}

/** Builds what `st` is sounding now (see NowPlaying). */
export function nowPlaying(st: Station): NowPlaying {
  const now = st.lastNow;
  const upcoming = st.upcomingNow();
  let next: NowNext | null = null;
  if (upcoming !== null) {
    next = {
      position: upcoming.position,
      at: playTimeMs(st, upcoming.position),
      kind: 'scheduled',
      chord: upcoming.chord,
    };
  } else if (now !== null && now.next !== null && now.next > st.positionFrames) {
    next = { position: now.next, at: playTimeMs(st, now.next), kind: 'forecast', chord: null };
  }
  return {
    station: st.id,
    personal: st.personal,
    preset: effectivePreset(st.params),
    key: now?.key ?? st.params.key,
    mode: now?.mode ?? st.params.mode,
    chord: now?.chord ?? null,
    section: now?.section ?? null,
    position: now?.position ?? null,
    at: now === null ? null : playTimeMs(st, now.position),
    next,
  };
}

/**
 * The stream title of what a station is sounding, e.g. `Auralis default: focus, D dorian, chord Dm7`
 * (`custom` when no preset applies; no chord before the first): the one format for ICY
 * `StreamTitle` (MP3 stream) and the HLS segments' ID3 `TIT2`. A personal session's id is a
 * capability and players may show or scrobble titles, so it is never in one.
 */
export function streamTitle(np: NowPlaying): string {
  const name = np.personal ? 'personal session' : np.station;
  const chord = np.chord === null ? '' : `, chord ${np.chord}`;
  return `Auralis ${name}: ${np.preset ?? 'custom'}, ${np.key} ${np.mode}${chord}`;
}

/** The WebSocket `now` message: the NowPlaying object with `type: 'now'` (fields only ever added). */
export function nowMessage(st: Station): string {
  return JSON.stringify({ type: 'now', ...nowPlaying(st) });
}
