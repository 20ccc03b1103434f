/**
 * `--icecast STATION=URL` items: which station is pushed to which Icecast mount, with the source
 * credentials. Parsing and redaction only (no I/O), so the configuration table can validate items
 * without loading the relay. No message built here ever contains the password.
 */

/** What replaces the password of a `user:password@` URL in every message and log line. */
export const REDACTED_PASSWORD = '[redacted]';

/** The station ids the server accepts (src/server/stations.ts); repeated here to keep this module I/O-free. */
const STATION_ID = /^[a-z0-9-]{1,32}$/;

export interface IcecastTarget {
  /** The station pushed. */
  readonly station: string;
  /** `ogg` (Ogg/Opus, the station's default tier) or `mp3` (a mount path ending in `.mp3`). */
  readonly kind: 'ogg' | 'mp3';
  readonly host: string;
  readonly port: number;
  /** The mount path, e.g. `/auralis.ogg`. */
  readonly mount: string;
  readonly user: string;
  readonly password: string;
  /** The URL with the password replaced by REDACTED_PASSWORD: the only form logs and errors show. */
  readonly safeUrl: string;
}

/** `text` with the password of every `scheme://user:password@` in it replaced by REDACTED_PASSWORD. */
export function redactCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]*@/gi, `$1:${REDACTED_PASSWORD}@`);
}

/** Parses one `STATION=URL` item: the target, or a problem (a message without the password). */
export function parseIcecastTarget(item: string): IcecastTarget | string {
  const eq = item.indexOf('=');
  if (eq <= 0) {
    // Not echoed: a malformed item may hold the password in any form.
    return 'expected STATION=URL (e.g. default=http://source:PASSWORD@127.0.0.1:8000/auralis.ogg), got an item without "STATION="';
  }
  const station = item.slice(0, eq).trim();
  const raw = item.slice(eq + 1).trim();
  const safe = redactCredentials(raw);
  if (!STATION_ID.test(station)) {
    return `station ${JSON.stringify(station)} must match [a-z0-9-]{1,32}`;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `${station}: the value is not a URL (not shown: it may hold the password); use http://source:PASSWORD@host:port/mount.ogg`;
  }
  if (url.protocol !== 'http:') {
    return `${station}: ${JSON.stringify(safe)} must be an http:// URL (an Icecast 2.4 source connection)`;
  }
  if (url.password === '') {
    return `${station}: ${JSON.stringify(safe)} has no source password; use http://source:PASSWORD@host:port/mount`;
  }
  const mount = decodeURIComponent(url.pathname);
  if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]{1,200}$/.test(mount) || mount.endsWith('/')) {
    return `${station}: ${JSON.stringify(safe)} needs a mount path such as /auralis.ogg or /auralis.mp3`;
  }
  if (url.search !== '' || url.hash !== '') {
    return `${station}: ${JSON.stringify(safe)} must not have a query or fragment`;
  }
  return {
    station,
    kind: mount.toLowerCase().endsWith('.mp3') ? 'mp3' : 'ogg',
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 80 : Number(url.port),
    mount,
    user: url.username === '' ? 'source' : decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    safeUrl: safe,
  };
}

/** For the configuration table: why an item is not acceptable, or null. */
export function icecastTargetProblem(item: string): string | null {
  const t = parseIcecastTarget(item);
  return typeof t === 'string' ? t : null;
}

/**
 * Every item parsed, or the problem of the first bad one; two items pushing to the same mount of
 * the same server are refused (Icecast takes one source per mount).
 */
export function parseIcecastTargets(items: readonly string[]): IcecastTarget[] | string {
  const out: IcecastTarget[] = [];
  for (const item of items) {
    const t = parseIcecastTarget(item);
    if (typeof t === 'string') return t;
    const same = out.find((o) => o.host === t.host && o.port === t.port && o.mount === t.mount);
    if (same) return `${same.station} and ${t.station} both push to ${t.safeUrl}: one source per mount`;
    out.push(t);
  }
  return out;
}

/** The source passwords of `--icecast` items, for the log scrubber (every line is scrubbed of them). */
export function icecastSecrets(items: readonly string[]): string[] {
  const targets = parseIcecastTargets(items);
  return typeof targets === 'string' ? [] : targets.map((t) => t.password);
}
