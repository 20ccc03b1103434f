/**
 * Logging that can never hang or crash the service.
 *
 * `LogSink` is the one destination of every log line (fastify's pino logger and the CLI's own
 * lines). It writes to stdout asynchronously through a queue bounded in bytes and in age, one batch
 * in flight at a time. When the reader is slow or stalled the queue fills and new lines are dropped
 * and counted (`auralis_log_lines_dropped_total`); when the pipe is closed (EPIPE) every later line
 * is dropped and counted. It never writes synchronously to a pipe and registers no exit hook, so
 * `process.exit` cannot block on it (pino's own destination flushes synchronously at exit and loops
 * on EAGAIN for as long as the reader stalls).
 *
 * Secrets never reach the log: the request serializer replaces the values of secret query
 * parameters (`token`, `resume`, …) with `[redacted]`, pino's `redact` censors authorization and
 * token fields, and every finished line is scrubbed once more (secret query values, `Bearer …`, and
 * the configured control token itself wherever it appears) before it is queued.
 */
import type { Writable } from 'node:stream';
import { LogController, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';

/** What replaces a secret in a log line. */
export const REDACTED = '[redacted]';

/** Query parameters whose values are secrets (compared case-insensitively). */
export const SECRET_QUERY_PARAMS: readonly string[] = [
  'token',
  'resume',
  'access_token',
  'password',
  'secret',
];

/** A queued line older than this when its turn comes is dropped (and counted), not written late. */
export const LOG_MAX_AGE_MS = 30_000;

/** At most this many bytes are handed to the stream in one write. */
const BATCH_BYTES = 64 * 1024;

export interface LogSinkOptions {
  /** Bytes queued or in flight before new lines are dropped. */
  maxBytes: number;
  /** Age (ms) past which a queued line is dropped instead of written. Default LOG_MAX_AGE_MS. */
  maxAgeMs?: number;
  /** Rewrite JSON lines as readable ones (prettyLine) before queueing them. */
  pretty?: boolean;
}

export interface LogSinkStats {
  /** Lines handed to the stream and acknowledged by it. */
  written: number;
  /** Lines dropped: queue full, too old, pipe closed, or sink closed. */
  dropped: number;
  /** Bytes queued or in flight. */
  queuedBytes: number;
  /** The stream failed (EPIPE, …): every later line is dropped. */
  broken: boolean;
}

type Out = Pick<Writable, 'write' | 'on' | 'off'>;

/**
 * A pino-compatible destination (`write(line)`) over a stream (normally `process.stdout`), bounded
 * in bytes and age, that drops rather than blocks and survives the stream failing. Owned by whoever
 * makes it; `close()` drops what is still queued and detaches from the stream.
 */
export class LogSink {
  private readonly out: Out;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private lines: string[] = [];
  private sizes: number[] = [];
  private times: number[] = [];
  private head = 0;
  private queued = 0;
  private inFlight = false;
  private failed = false;
  private closed = false;
  private droppedLines = 0;
  private writtenLines = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly onError = (err: Error): void => this.fail(err);
  private readonly pretty: boolean;

  constructor(out: Out, opts: LogSinkOptions) {
    if (!Number.isInteger(opts.maxBytes) || opts.maxBytes < 1)
      throw new RangeError(`maxBytes must be a positive integer, got ${opts.maxBytes}`);
    this.out = out;
    this.maxBytes = opts.maxBytes;
    this.maxAgeMs = opts.maxAgeMs ?? LOG_MAX_AGE_MS;
    this.pretty = opts.pretty ?? false;
    out.on('error', this.onError);
  }

  /** Queues one line (it must end with a newline). False when it was dropped. Never throws. */
  write(text: string): boolean {
    if (this.failed || this.closed) {
      this.droppedLines++;
      return false;
    }
    const line = this.pretty ? prettyLine(text) : text;
    const size = Buffer.byteLength(line);
    if (this.queued + size > this.maxBytes) {
      this.droppedLines++;
      return false;
    }
    this.lines.push(line);
    this.sizes.push(size);
    this.times.push(Date.now());
    this.queued += size;
    this.pump();
    return true;
  }

  get dropped(): number {
    return this.droppedLines;
  }

  stats(): LogSinkStats {
    return {
      written: this.writtenLines,
      dropped: this.droppedLines,
      queuedBytes: this.queued,
      broken: this.failed,
    };
  }

  /**
   * Resolves true once everything queued has been written, false if that did not happen within
   * `timeoutMs` (a stalled reader) or the stream failed. Never waits longer than `timeoutMs`.
   */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.idle()) return Promise.resolve(!this.failed);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(this.idle() && !this.failed);
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      this.idleWaiters.push(done);
    });
  }

  /** Stops accepting lines, drops (and counts) what is queued, and detaches from the stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropQueued();
    this.out.off('error', this.onError);
    this.wakeIdle();
  }

  private idle(): boolean {
    return !this.inFlight && this.head === this.lines.length;
  }

  private pump(): void {
    if (this.inFlight || this.failed || this.closed) return;
    const now = Date.now();
    while (this.head < this.lines.length && now - this.times[this.head]! > this.maxAgeMs) {
      this.queued -= this.sizes[this.head]!;
      this.head++;
      this.droppedLines++;
    }
    if (this.head === this.lines.length) {
      this.compact();
      this.wakeIdle();
      return;
    }
    let batch = '';
    let bytes = 0;
    let count = 0;
    while (this.head < this.lines.length && (count === 0 || bytes + this.sizes[this.head]! <= BATCH_BYTES)) {
      batch += this.lines[this.head]!;
      bytes += this.sizes[this.head]!;
      this.head++;
      count++;
    }
    this.compact();
    this.inFlight = true;
    let settled = false;
    const settle = (err: Error | null | undefined): void => {
      if (settled) return;
      settled = true;
      this.inFlight = false;
      this.queued -= bytes;
      if (err) {
        this.droppedLines += count;
        this.fail(err);
        return;
      }
      this.writtenLines += count;
      this.pump();
    };
    try {
      this.out.write(batch, settle);
    } catch (err) {
      // A synchronous stream (a file) can throw (ENOSPC, EBADF); Node's stream is then stuck, so
      // the sink treats it as failed like an EPIPE.
      settle(err as Error);
    }
  }

  /** The stream failed (EPIPE, a destroyed stream, a throwing write): every later line is dropped. */
  private fail(_err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.dropQueued();
    this.wakeIdle();
  }

  private dropQueued(): void {
    for (let i = this.head; i < this.lines.length; i++) {
      this.queued -= this.sizes[i]!;
      this.droppedLines++;
    }
    this.head = this.lines.length;
    this.compact();
  }

  /** Drops consumed entries from the front of the queue arrays (amortized O(1) per line). */
  private compact(): void {
    if (this.head === this.lines.length) {
      this.lines = [];
      this.sizes = [];
      this.times = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines = this.lines.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }

  private wakeIdle(): void {
    if (!this.idle() && !this.failed && !this.closed) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

export { guardStdio } from './stdio.ts';

/** Escapes a string as it appears inside a JSON string literal. */
function jsonInner(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const SECRET_PARAM_SET = new Set(SECRET_QUERY_PARAMS);

/**
 * A URL with the values of secret query parameters replaced by `[redacted]`; the parameter names
 * and every other parameter stay as they were.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash < 0 ? undefined : hash);
  const parts = query.split('&').map((part) => {
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    let name: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      name = rawName;
    }
    return eq >= 0 && SECRET_PARAM_SET.has(name.trim().toLowerCase()) ? `${rawName}=${REDACTED}` : part;
  });
  return `${url.slice(0, q + 1)}${parts.join('&')}${hash < 0 ? '' : url.slice(hash)}`;
}

// In a finished JSON line: `token=<value>` inside a string (a value ends at &, #, whitespace or the
// closing quote; escape sequences belong to the value), and `Bearer <credentials>`.
const SECRET_QUERY_IN_LINE = new RegExp(
  `((?:^|[?&;\\s"])(?:${SECRET_QUERY_PARAMS.map(escapeRegExp).join('|')})=)(?:[^"\\\\&#\\s]|\\\\.)*`,
  'gi',
);
const BEARER_IN_LINE = /(\b(?:Bearer|Basic)\s+)(?:[^"\\\s,]|\\.)+/gi;
// A personal session's id (`p-` + 30 hex digits, src/server/stations.ts) is a capability: whoever
// knows it may listen. The log keeps its first 4 digits (to tell sessions apart), not the rest.
const PERSONAL_ID_IN_LINE = /\bp-([0-9a-f]{4})[0-9a-f]{26}(?![0-9a-f])/g;

/** A secret's fragments of this many characters or more are scrubbed too (a truncated echo). */
export const SECRET_FRAGMENT_CHARS = 8;

/**
 * Replaces every occurrence of `secret` in `line`, and every run of SECRET_FRAGMENT_CHARS or more
 * characters that matches part of it (a parser's error message quotes a truncated snippet of the
 * input), with `[redacted]`.
 */
function scrubSecret(line: string, secret: string): string {
  let out = line.includes(secret) ? line.split(secret).join(REDACTED) : line;
  const k = SECRET_FRAGMENT_CHARS;
  if (secret.length <= k) return out;
  for (let i = 0; i + k <= secret.length; i++) {
    const fragment = secret.slice(i, i + k);
    let at = out.indexOf(fragment);
    while (at >= 0) {
      // Grow the match to the whole run the line shares with the secret around this fragment.
      let from = at;
      let to = at + k;
      for (let j = i - 1; j >= 0 && from > 0 && out[from - 1] === secret[j]; j--) from--;
      for (let j = i + k; j < secret.length && to < out.length && out[to] === secret[j]; j++) to++;
      out = out.slice(0, from) + REDACTED + out.slice(to);
      at = out.indexOf(fragment, from + REDACTED.length);
    }
  }
  return out;
}

/**
 * Scrubs one finished log line: secret query values, `Bearer`/`Basic` credentials, personal
 * session ids (all but their first 4 hex digits), and each of
 * `secrets` (raw, JSON-escaped and percent-encoded) wherever it occurs, whole or as a fragment of
 * SECRET_FRAGMENT_CHARS or more characters.
 */
export function scrubLine(line: string, secrets: readonly string[] = []): string {
  let out = line
    .replace(SECRET_QUERY_IN_LINE, `$1${REDACTED}`)
    .replace(BEARER_IN_LINE, `$1${REDACTED}`)
    .replace(PERSONAL_ID_IN_LINE, `p-$1${REDACTED}`);
  for (const s of secrets) {
    if (s.length === 0) continue;
    for (const form of new Set([s, jsonInner(s), encodeURIComponent(s), jsonInner(encodeURIComponent(s))])) {
      out = scrubSecret(out, form);
    }
  }
  return out;
}

/** Fields censored by pino wherever they appear in a log object (one level deep, and in req). */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'token',
  'controlToken',
  'resumeToken',
  '*.authorization',
  '*.token',
  '*.controlToken',
  '*.resumeToken',
];

interface RequestLike {
  method?: string;
  url?: string;
  ip?: string;
  host?: string;
  socket?: { remotePort?: number } | null;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug';

/**
 * fastify's `logger` options: pino at `level`, writing to `sink`, with the redaction above.
 * `secrets` (the control token) are scrubbed from every line.
 */
export function fastifyLoggerOptions(
  level: LogLevel,
  sink: { write(line: string): unknown },
  secrets: readonly string[] = [],
): NonNullable<Exclude<FastifyServerOptions['logger'], boolean>> {
  const kept = secrets.filter((s) => s.length > 0);
  return {
    level,
    stream: sink,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: {
      req: (req: RequestLike) => ({
        method: req.method,
        url: typeof req.url === 'string' ? redactUrl(req.url) : req.url,
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket ? req.socket.remotePort : undefined,
      }),
    },
    hooks: { streamWrite: (s: string) => scrubLine(s, kept) },
  } as NonNullable<Exclude<FastifyServerOptions['logger'], boolean>>;
}

/**
 * A plain-text line for operators (`auralis: serving on …`), written through the sink whatever
 * the log level (it is how scripts find the URL), scrubbed like every log line.
 */
export function announce(sink: LogSink, text: string, secrets: readonly string[] = []): boolean {
  return sink.write(`${scrubLine(text, secrets)}\n`);
}

/**
 * Fastify's per-request lines (incoming, completed, route not found) at debug instead of info: at
 * info an operator reads what happened to the service (stations, changes, listeners, restarts),
 * not one line per HTTP request. A request that errored is still logged at error.
 */
export class RequestLinesAtDebug extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }
  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (error) super.requestCompleted(error, request, reply);
    else reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
  override routeNotFound(request: FastifyRequest): void {
    request.log.debug(`route ${request.raw.method} ${request.raw.url} not found`);
  }
}

/** Whether log lines go out readable: `pretty`, or `auto` on a terminal. */
export function wantsPretty(format: 'auto' | 'json' | 'pretty', out: { isTTY?: boolean }): boolean {
  return format === 'pretty' || (format === 'auto' && out.isTTY === true);
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO ',
  40: 'WARN ',
  50: 'ERROR',
  60: 'FATAL',
};
/** Fields a readable line leaves out (they are in its prefix, or noise on a terminal). */
const PRETTY_SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/**
 * One JSON log line (pino's) as a readable one for a terminal:
 * `14:03:07.512 INFO  station study created: focus, A dorian, 66 BPM (station=study seed=42)`.
 * Lines that are not JSON (the CLI's `auralis: …` lines) pass through unchanged. Already scrubbed:
 * this only rearranges what the JSON line holds.
 */
export function prettyLine(line: string): string {
  if (line.charCodeAt(0) !== 123 /* { */) return line;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const t = typeof o.time === 'number' ? new Date(o.time) : new Date();
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${String(t.getMilliseconds()).padStart(3, '0')}`;
  const level = LEVEL_NAMES[o.level as number] ?? String(o.level);
  const fields: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (PRETTY_SKIP.has(k) || v === undefined) continue;
    if (k === 'err' && typeof v === 'object' && v !== null && 'message' in v) {
      fields.push(`err=${JSON.stringify((v as { message: unknown }).message)}`);
    } else fields.push(`${k}=${typeof v === 'string' && /^[\w./:@-]+$/.test(v) ? v : JSON.stringify(v)}`);
  }
  return `${time} ${level} ${typeof o.msg === 'string' ? o.msg : ''}${fields.length > 0 ? ` (${fields.join(' ')})` : ''}\n`;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
