/**
 * Which stream the `<audio>` fallback plays: Ogg/Opus where the element decodes it (Chromium,
 * Firefox, recent Safari), else HLS where the browser plays it natively (Safari and iOS without
 * Ogg), else MP3, which every browser plays. Ogg comes first because Chromium (156) answers
 * `maybe` for HLS yet fails on its MP3 segments (packed audio: "stream parsing failed"), while
 * it plays the Ogg stream. A personal session is never asked for over HLS (the server refuses:
 * HLS URLs would spread its id, a capability).
 */
export type StreamKind = 'hls' | 'ogg' | 'mp3';

/** What the choice needs of a media element (`HTMLMediaElement.canPlayType`). */
export interface CanPlay {
  canPlayType(type: string): string;
}

export const HLS_TYPE = 'application/vnd.apple.mpegurl';
export const OGG_OPUS_TYPE = 'audio/ogg; codecs=opus';

/** A personal session's id: `p-` and 30 hex digits (src/server/stations.ts). */
export function isPersonalSessionId(station: string): boolean {
  return /^p-[0-9a-f]{30}$/.test(station);
}

export function chooseStream(media: CanPlay, personal: boolean): StreamKind {
  if (media.canPlayType(OGG_OPUS_TYPE) !== '') return 'ogg';
  if (!personal && media.canPlayType(HLS_TYPE) !== '') return 'hls';
  return 'mp3';
}

/** The path of `station`'s stream of that kind. */
export function streamPath(kind: StreamKind, station: string): string {
  const id = encodeURIComponent(station);
  return kind === 'hls' ? `/hls/${id}.m3u8` : `/stream/${id}.${kind}`;
}
