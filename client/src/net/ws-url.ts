import type { ParamsPatch } from '../protocol/messages.ts';

/** What to listen to: a shared station, or a personal session (optionally resumed). */
export type Listening =
  | { kind: 'station'; station: string }
  | {
      kind: 'personal';
      initial: ParamsPatch & { preset?: string };
      resumeToken?: string;
      /** A moment token (the page's `?moment=`): the session continues that moment (PROTOCOL.md, "Moments"). */
      moment?: string;
    };

/** Builds the `/ws` URL of PROTOCOL.md relative to the page (http → ws, https → wss). */
export function webSocketUrl(
  pageUrl: string,
  listening: Listening,
  codec: 'opus' | 'pcm',
  token?: string,
  /** The bitrate tier to start with (kb/s, one of the welcome's `tiers`); absent: the default. */
  bitrateKbps?: number | null,
  /** Ask for the station's notes (`events=1`, PROTOCOL.md "The live score"). */
  events?: boolean,
): string {
  const url = new URL('/ws', pageUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = '';
  if (listening.kind === 'station') {
    url.searchParams.set('station', listening.station);
  } else {
    url.searchParams.set('personal', '1');
    if (listening.resumeToken) url.searchParams.set('resume', listening.resumeToken);
    // A moment carries its own seed and parameters; once the session exists, `resume` takes it back.
    else if (listening.moment) url.searchParams.set('moment', listening.moment);
    if (!listening.moment || listening.resumeToken) {
      for (const [name, value] of Object.entries(listening.initial)) {
        if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
      }
    }
  }
  url.searchParams.set('codec', codec);
  if (token) url.searchParams.set('token', token);
  if (typeof bitrateKbps === 'number') url.searchParams.set('bitrate', String(bitrateKbps));
  if (events) url.searchParams.set('events', '1');
  return url.toString();
}
