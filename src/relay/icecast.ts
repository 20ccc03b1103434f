import { randomInt } from 'node:crypto';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { monoNowMs } from '../engine/clock.ts';
import type { AuralisMetrics } from '../metrics/metrics.ts';
import type { Listener } from '../server/broadcast/listener.ts';
import { defaultTierIndex } from '../server/broadcast/tiers.ts';
import type { ServerContext } from '../server/context.ts';
import { nowPlaying, streamTitle } from '../server/now-playing.ts';
import { attachStreamListener } from '../server/transports/http-stream.ts';
import { parseIcecastTargets, type IcecastTarget } from './targets.ts';

/** First retry delay after a failed or lost source connection (ms); it doubles up to RETRY_MAX_MS. */
export const RETRY_MIN_MS = 500;
export const RETRY_MAX_MS = 30_000;
/** A connection that lasted this long (ms) resets the back-off: the next failure retries fast again. */
const STABLE_MS = 10_000;
/** Icecast must answer the source request within this long (ms), or the attempt fails. */
const ANSWER_TIMEOUT_MS = 10_000;
/** Longest answer head (and the start of an error body) read from Icecast (bytes). */
const MAX_ANSWER_BYTES = 8192;
/** Title updates of an MP3 mount: at most one per this long (ms). */
export const METADATA_MIN_INTERVAL_MS = 5000;
/** A title update that Icecast has not answered within this long (ms) is abandoned. */
const METADATA_TIMEOUT_MS = 5000;
/** Period (ms) of each relay's housekeeping: bytes sent, title changes. */
const TICK_MS = 1000;

/** What the relays log with (pino's shape: an object of fields, then the message). */
export interface RelayLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** Why an attempt failed, as logged; a repeat of the same reason is logged at debug only. */
function statusReason(status: number, body: string): string {
  const detail = body.length > 0 ? ` (${body})` : '';
  if (status === 401) return `401: wrong source user or password${detail}`;
  if (status === 403) return `403: refused, mount in use or not allowed${detail}`;
  return `HTTP ${status}${detail}`;
}

/**
 * One station pushed to one Icecast 2.4 mount, as a source. The connection to Icecast is a
 * listener of the station exactly like an HTTP `.ogg`/`.mp3` listener (the same attach path,
 * transports/http-stream.ts): the same ring bytes, Ogg headers first on every connection, the same
 * queue, lag and stall bounds (a stalled Icecast is reset like a stalled listener), counted as a
 * listener, so the station stays live while it is pushed. It reconnects with back-off after
 * refusals (wrong password, mount in use), errors and lost connections (an Icecast restart).
 *
 * The source request is written on a plain TCP socket: `PUT <mount>` with `Expect: 100-continue`,
 * Basic credentials and `ice-*` headers; after Icecast's `200` the socket carries the raw stream
 * (Icecast 2.4 reads the body as it comes and does not decode chunked transfer coding, so no
 * node:http ClientRequest, which would frame it; the pacer writes ring views to the socket itself).
 */
export class IcecastRelay {
  readonly target: IcecastTarget;
  private readonly ctx: ServerContext;
  private readonly log: RelayLog;
  private readonly metrics: AuralisMetrics | null;
  private readonly labels: { station: string; mount: string };
  private socket: Socket | null = null;
  private listener: Listener | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly tick: NodeJS.Timeout;
  private closed = false;
  /** Failed attempts since the last stable connection (the back-off exponent). */
  private failures = 0;
  /** Connection attempts made, the first included. */
  attempts = 0;
  private connectedAtMs = 0;
  private lastReason = '';
  private bytesCounted = 0;
  /** MP3 title updates: the ICY block last sent (Station.icyBlock() changes with the title), when, and the one in flight. */
  private titleBlock: Buffer | null = null;
  private titleSentMs = -Infinity;
  private titleRequest: ClientRequest | null = null;

  constructor(ctx: ServerContext, target: IcecastTarget, log: RelayLog, metrics: AuralisMetrics | null) {
    this.ctx = ctx;
    this.target = target;
    this.log = log;
    this.metrics = metrics;
    this.labels = { station: target.station, mount: target.mount };
    metrics?.relayConnected.set(this.labels, 0);
    metrics?.relayReconnectsTotal.inc(this.labels, 0);
    metrics?.relayBytesSentTotal.inc(this.labels, 0);
    this.tick = setInterval(() => this.housekeeping(), TICK_MS);
  }

  /** True while Icecast accepts the stream. */
  get connected(): boolean {
    return this.listener !== null;
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.closed) return;
    this.attempts++;
    if (this.attempts > 1) this.metrics?.relayReconnectsTotal.inc(this.labels);
    const t = this.target;
    if (!this.ctx.registry.get(t.station)) {
      this.failed(`station ${t.station} does not exist (removed?)`);
      return;
    }
    const socket = connect({ host: t.host, port: t.port });
    this.socket = socket;
    this.bytesCounted = 0;
    socket.setNoDelay(true);
    let answer: Buffer = Buffer.alloc(0);
    let settled = false;
    const timer = setTimeout(
      () => socket.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`)),
      ANSWER_TIMEOUT_MS,
    );
    const settle = (reason: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      if (reason === null) {
        this.attach(socket);
        return;
      }
      this.countBytes(socket);
      socket.destroy();
      if (this.socket === socket) this.socket = null;
      this.failed(reason);
    };
    const onData = (data: Buffer): void => {
      answer = answer.length === 0 ? data : Buffer.concat([answer, data]);
      for (;;) {
        const end = answer.indexOf('\r\n\r\n');
        if (end < 0) {
          if (answer.length > MAX_ANSWER_BYTES) settle('an answer head longer than 8 KiB');
          return;
        }
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(answer.toString('latin1', 0, Math.min(end, 64)));
        if (!m) {
          settle('not an HTTP answer (is this an Icecast server?)');
          return;
        }
        const status = Number(m[1]);
        if (status >= 100 && status < 200) {
          // `100 Continue` (Icecast adds Content-Length: 0): the final answer follows.
          answer = answer.subarray(end + 4);
          continue;
        }
        if (status === 200) settle(null);
        else {
          const body = answer
            .toString('utf8', end + 4, Math.min(answer.length, end + 4 + 120))
            .replace(/[^\x20-\x7e]+/g, ' ')
            .trim();
          settle(statusReason(status, body));
        }
        return;
      }
    };
    socket.on('data', onData);
    socket.on('error', (err: NodeJS.ErrnoException) => settle(err.code ?? err.message));
    socket.on('close', () => settle('connection closed before an answer'));
    socket.once('connect', () => {
      const auth = Buffer.from(`${t.user}:${t.password}`).toString('base64');
      const mp3 = t.kind === 'mp3';
      socket.write(
        `PUT ${encodeURI(t.mount)} HTTP/1.1\r\n` +
          `Host: ${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}\r\n` +
          `Authorization: Basic ${auth}\r\n` +
          'User-Agent: Auralis\r\n' +
          `Content-Type: ${mp3 ? 'audio/mpeg' : 'application/ogg'}\r\n` +
          `Ice-Name: Auralis ${t.station}\r\n` +
          'Ice-Description: generative ambient music\r\n' +
          'Ice-Genre: ambient\r\n' +
          'Ice-Public: 0\r\n' +
          (mp3 ? `Ice-Audio-Info: bitrate=${this.ctx.config.mp3Bitrate / 1000}\r\n` : '') +
          'Expect: 100-continue\r\n\r\n',
      );
    });
  }

  /** Icecast accepted the source: from now on the socket is a listener of the station. */
  private attach(socket: Socket): void {
    const st = this.ctx.registry.get(this.target.station);
    if (this.closed || !st) {
      socket.destroy();
      if (!this.closed) this.failed(`station ${this.target.station} does not exist (removed?)`);
      return;
    }
    this.connectedAtMs = monoNowMs();
    this.lastReason = '';
    this.titleBlock = null;
    this.titleSentMs = -Infinity;
    this.listener = attachStreamListener(this.ctx, st, this.target.kind, socket, {
      tier: defaultTierIndex(this.ctx.config),
      icy: false,
    });
    // Icecast sends nothing more on a source connection; anything it does send is ignored.
    socket.resume();
    socket.on('close', () => this.disconnected(socket));
    this.metrics?.relayConnected.set(this.labels, 1);
    this.log.info(
      { station: this.target.station, mount: this.target.mount, attempt: this.attempts },
      `icecast: pushing station ${this.target.station} to ${this.target.safeUrl}`,
    );
    this.housekeeping();
  }

  private disconnected(socket: Socket): void {
    if (this.socket !== socket) return;
    this.countBytes(socket);
    this.socket = null;
    this.listener = null;
    this.metrics?.relayConnected.set(this.labels, 0);
    if (this.closed) return;
    const lastedMs = monoNowMs() - this.connectedAtMs;
    if (lastedMs >= STABLE_MS) this.failures = 0;
    this.log.info(
      { station: this.target.station, mount: this.target.mount, lastedMs: Math.round(lastedMs) },
      `icecast: connection to ${this.target.safeUrl} lost after ${Math.round(lastedMs / 1000)} s; reconnecting`,
    );
    this.lastReason = 'connection lost';
    this.scheduleRetry();
  }

  /** An attempt failed: logged at warn the first time for this reason (debug after), then retried. */
  private failed(reason: string): void {
    if (this.closed) return;
    const fields = { station: this.target.station, mount: this.target.mount, attempt: this.attempts };
    const message = `icecast: source connection to ${this.target.safeUrl} failed: ${reason}; retrying`;
    if (reason !== this.lastReason) this.log.warn(fields, message);
    else this.log.debug(fields, message);
    this.lastReason = reason;
    this.failures++;
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    const base = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.max(0, this.failures - 1));
    const delay = Math.round((base * randomInt(800, 1201)) / 1000);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private countBytes(socket: Socket): void {
    const n = socket.bytesWritten - this.bytesCounted;
    if (n > 0) this.metrics?.relayBytesSentTotal.inc(this.labels, n);
    this.bytesCounted = socket.bytesWritten;
  }

  /** Once a second: bytes sent, and the title of an MP3 mount when it changed (rate-limited). */
  private housekeeping(): void {
    const socket = this.socket;
    if (socket) this.countBytes(socket);
    if (this.target.kind !== 'mp3' || !this.listener || this.titleRequest) return;
    const st = this.ctx.registry.get(this.target.station);
    if (!st) return;
    const block = st.icyBlock();
    const now = monoNowMs();
    if (block === this.titleBlock || now - this.titleSentMs < METADATA_MIN_INTERVAL_MS) return;
    this.titleBlock = block;
    this.titleSentMs = now;
    this.sendTitle(streamTitle(nowPlaying(st)));
  }

  /**
   * `GET /admin/metadata?mode=updinfo` with the source credentials: Icecast 2.4 takes title updates
   * this way for MP3 mounts only (an Ogg mount answers "Mountpoint will not accept URL updates").
   */
  private sendTitle(title: string): void {
    const t = this.target;
    const path =
      `/admin/metadata?mount=${encodeURIComponent(t.mount)}&mode=updinfo` +
      `&song=${encodeURIComponent(title)}&charset=UTF-8`;
    const req = httpRequest({
      host: t.host,
      port: t.port,
      path,
      method: 'GET',
      headers: { Authorization: `Basic ${Buffer.from(`${t.user}:${t.password}`).toString('base64')}` },
      timeout: METADATA_TIMEOUT_MS,
    });
    this.titleRequest = req;
    let body = '';
    const done = (ok: boolean, why: string): void => {
      if (this.titleRequest !== req) return;
      this.titleRequest = null;
      this.metrics?.relayMetadataUpdatesTotal.inc({ result: ok ? 'ok' : 'failed' });
      this.log.debug(
        { station: t.station, mount: t.mount, ok },
        ok
          ? `icecast: title of ${t.mount} set to ${JSON.stringify(title)}`
          : `icecast: title update of ${t.mount} failed: ${why}`,
      );
    };
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 4096) body += d;
      });
      res.on('end', () =>
        done(res.statusCode === 200 && body.includes('<return>1</return>'), `HTTP ${res.statusCode}`),
      );
      res.on('error', (err) => done(false, err.message));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${METADATA_TIMEOUT_MS} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
    req.end();
  }

  /** Stops pushing: no retry; the source connection ends (destroyed if it still queues ring bytes). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.tick);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.titleRequest?.destroy();
    this.titleRequest = null;
    const socket = this.socket;
    if (socket) this.countBytes(socket);
    if (this.listener) this.listener.kick('shutdown');
    else socket?.destroy();
    this.socket = null;
    this.listener = null;
    this.metrics?.relayConnected.set(this.labels, 0);
  }
}

/** The `--icecast` pushes of one server; owned by it and closed with it. */
export class IcecastRelays {
  readonly relays: IcecastRelay[];

  constructor(ctx: ServerContext, log: RelayLog, metrics: AuralisMetrics | null) {
    const targets = parseIcecastTargets(ctx.config.icecast);
    // loadConfig has validated them already.
    if (typeof targets === 'string') throw new Error(targets);
    this.relays = targets.map((t) => new IcecastRelay(ctx, t, log, metrics));
  }

  /** The stations pushed (a station that does not exist yet is created before start()). */
  get stations(): string[] {
    return [...new Set(this.relays.map((r) => r.target.station))];
  }

  start(): void {
    for (const r of this.relays) r.start();
  }

  close(): void {
    for (const r of this.relays) r.close();
  }
}
