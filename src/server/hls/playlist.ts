/**
 * HLS playlist text (RFC 8216), pure functions: the master playlist of a station's renditions and
 * the live media playlist of its segment window.
 */

/** The protocol version the playlists declare (6: EXT-X-INDEPENDENT-SEGMENTS in a master, PDT, ...). */
export const HLS_VERSION = 6;
export const PLAYLIST_CONTENT_TYPE = 'application/vnd.apple.mpegurl';
/** CODECS of MP3 (MPEG-1/2 Layer III, as RFC 6381 names it for HLS). */
export const MP3_CODECS = 'mp4a.40.34';
/** CODECS of Opus in fragmented MP4. */
export const OPUS_CODECS = 'opus';

export interface Rendition {
  /** URI of its media playlist, relative to the master playlist. */
  uri: string;
  /** Peak bits per second, container overhead included. */
  bandwidth: number;
  averageBandwidth: number;
  codecs: string;
  /** Shown as a comment above the rendition (EXT-X-STREAM-INF has no name attribute). */
  name: string;
}

export function masterPlaylist(renditions: readonly Rendition[]): string {
  let out = `#EXTM3U\n#EXT-X-VERSION:${HLS_VERSION}\n#EXT-X-INDEPENDENT-SEGMENTS\n`;
  for (const r of renditions) {
    out +=
      `# ${r.name}\n` +
      `#EXT-X-STREAM-INF:BANDWIDTH=${Math.ceil(r.bandwidth)},AVERAGE-BANDWIDTH=${Math.ceil(r.averageBandwidth)},` +
      `CODECS="${r.codecs}"\n${r.uri}\n`;
  }
  return out;
}

export interface PlaylistSegment {
  /** Media sequence number. */
  msn: number;
  /** URI relative to the media playlist. */
  uri: string;
  /** Exact duration (seconds) of the audio it holds. */
  durationS: number;
  /** Unix ms of its first sample. */
  programDateMs: number;
  /** A discontinuity (a gap in the audio, a new encoder) comes before it. */
  discontinuity: boolean;
  /** Discontinuities before and at this segment since its segmenter began. */
  discontinuitySeq: number;
}

/**
 * The target duration (s) for segments of at most `maxSegmentS`: RFC 8216 wants every EXTINF,
 * rounded to the nearest integer, at most the target duration.
 */
export function targetDurationFor(maxSegmentS: number): number {
  return Math.max(1, Math.round(maxSegmentS));
}

/**
 * A live (sliding window) media playlist of `segments`, oldest first, consecutive media sequence
 * numbers: no EXT-X-ENDLIST, a PROGRAM-DATE-TIME per segment, exact EXTINF durations.
 */
export function mediaPlaylist(
  segments: readonly PlaylistSegment[],
  targetDurationS: number,
  initUri: string | null = null,
): string {
  const first = segments[0];
  let out =
    `#EXTM3U\n#EXT-X-VERSION:${HLS_VERSION}\n#EXT-X-TARGETDURATION:${targetDurationS}\n` +
    `#EXT-X-MEDIA-SEQUENCE:${first?.msn ?? 0}\n`;
  if (first) {
    const before = first.discontinuitySeq - (first.discontinuity ? 1 : 0);
    if (before > 0) out += `#EXT-X-DISCONTINUITY-SEQUENCE:${before}\n`;
  }
  out += '#EXT-X-INDEPENDENT-SEGMENTS\n';
  if (initUri !== null) out += `#EXT-X-MAP:URI="${initUri}"\n`;
  for (const s of segments) {
    if (s.discontinuity) out += '#EXT-X-DISCONTINUITY\n';
    out +=
      `#EXT-X-PROGRAM-DATE-TIME:${new Date(s.programDateMs).toISOString()}\n` +
      `#EXTINF:${s.durationS.toFixed(3)},\n${s.uri}\n`;
  }
  return out;
}
