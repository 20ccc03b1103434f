/**
 * What the Media Session shows for what is sounding (no DOM here: the page and the tests share it).
 */

/** What the page knows of what is sounding: a `now` message, or the parameters before the first. */
export interface NowShown {
  /** The station's name as the page shows it (a station id, or "My own session"). */
  station: string;
  chord?: string | null;
  section?: string | null;
  key?: string | null;
  mode?: string | null;
  preset?: string | null;
}

export interface MediaMetadataFields {
  title: string;
  artist: string;
  album: string;
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/**
 * Title: the chord and section (the station's name until a chord is known); artist:
 * "Auralis — <station>"; album: the preset (when the station plays one), key and mode.
 */
export function mediaMetadataFor(now: NowShown): MediaMetadataFields {
  const chord = now.chord ?? '';
  const section = now.section ?? '';
  const title =
    chord && section
      ? `${chord} · ${capitalize(section)}`
      : chord || (section ? capitalize(section) : now.station);
  const keyMode = [now.key ?? '', now.mode ? capitalize(now.mode) : ''].filter((s) => s !== '').join(' ');
  const album = [now.preset ? capitalize(now.preset) : '', keyMode].filter((s) => s !== '').join(' · ');
  return { title, artist: `Auralis — ${now.station}`, album: album || 'Auralis' };
}
