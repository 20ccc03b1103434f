import type { Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { validatePatch, type ParamsPatch } from '../../music/params.ts';
import { CHANNELS, SAMPLE_RATE } from '../../music/types.ts';
import {
  closeListenerSocket,
  ListenerFlow,
  type KickReason,
  type Listener,
  type WireCodec,
} from '../broadcast/listener.ts';
import { publicParams, type ControlSource } from '../control.ts';
import { ApiError, CLOSE, type ErrorCode } from '../errors.ts';
import { quote, sameOrigin } from '../http-errors.ts';
import type { ServerContext } from '../context.ts';
import { nowMessage } from '../now-playing.ts';
import type { Station, WsPeer } from '../station.ts';
import { validateSleep, type SleepState } from '../sleep-timers.ts';
import {
  defaultTierIndex,
  joinTier,
  leaveTier,
  offeredTiers,
  parseBitrate,
  requestTier,
  switchedTier,
} from '../broadcast/tiers.ts';
import { monoNowMs, wallNowMs, wallOffsetMs } from '../../engine/clock.ts';
import { decodeMoment, MomentTokenError, type Moment } from '../../engine/moment.ts';

/**
 * Messages that arrive before the welcome (while a personal session is being created) wait here,
 * bounded in count and bytes; past either bound a message is answered with NOT_READY at once.
 */
const MAX_EARLY_MESSAGES = 16;
const MAX_EARLY_BYTES = 16 * 1024;
/** RFC 6455: a close frame's reason is at most 123 bytes of UTF-8. */
export const MAX_CLOSE_REASON_BYTES = 123;
/** Rate-limited messages within ABUSE_WINDOW_MS before the socket is closed with 1008. */
const ABUSE_STRIKES = 60;
const ABUSE_WINDOW_MS = 10_000;
/** Any message (ping, stats, junk) beyond this rate counts as abuse too. */
const MAX_MESSAGES_PER_SECOND = 100;

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

class WsListener implements Listener, WsPeer {
  readonly transport = 'ws' as const;
  readonly codec: WireCodec;
  readonly socket: Socket;
  readonly ws: WebSocket;
  readonly flow = new ListenerFlow();
  nextSeq = 0;
  discontinuity = false;
  overSinceMs = 0;
  skipped = 0;
  sent = 0;
  personalOwner = false;
  tier = 0;
  wantTier = 0;
  /** Set once the listener is on a station (the `bitrate` answer, the tier bookkeeping). */
  tierSwitched?: (fromSeq: number, fromTier: number) => void;
  private closedFlag = false;

  constructor(ws: WebSocket, codec: WireCodec) {
    this.ws = ws;
    this.codec = codec;
    this.socket = (ws as unknown as { _socket: Socket })._socket;
  }

  /** Closed as soon as a close handshake starts: no data frame may follow a close frame. */
  get closed(): boolean {
    return this.closedFlag || this.ws.readyState !== 1;
  }
  set closed(v: boolean) {
    this.closedFlag = v;
  }

  send(text: string): void {
    if (!this.closed) this.ws.send(text);
  }

  /** A close frame would queue behind ring views that then flush late: with any queued, destroy. */
  kick(reason: KickReason): void {
    if (this.closed) return;
    this.closed = true;
    const ws = this.ws;
    if (reason === 'stalled' || reason === 'expired') closeListenerSocket(this.socket, true, () => {});
    else if (reason === 'shutdown')
      closeListenerSocket(this.socket, false, () => ws.close(CLOSE.GOING_AWAY, 'server shutting down'));
    else if (reason === 'slept')
      closeListenerSocket(this.socket, false, () =>
        ws.close(CLOSE.NORMAL, 'the sleep timer ended the session'),
      );
    else closeListenerSocket(this.socket, false, () => ws.close(CLOSE.UNKNOWN_STATION, 'station removed'));
  }
}

/**
 * `text` cut to at most 123 bytes of UTF-8 (the limit of a close reason), never inside a code point.
 * Lone surrogates count as the 3 bytes of U+FFFD that they are encoded as.
 */
export function closeReason(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return text;
  let end = MAX_CLOSE_REASON_BYTES;
  // Back up over continuation bytes (10xxxxxx) to the first byte of the code point that was cut.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.toString('utf8', 0, end);
}

function sendError(ws: WebSocket, code: ErrorCode, message: string, field?: string): void {
  if (ws.readyState === 1)
    ws.send(JSON.stringify({ type: 'error', code, message, ...(field ? { field } : {}) }));
}

/** Ends a connection with an `error` message and a close code; never throws. */
function refuse(
  ws: WebSocket,
  log: FastifyRequest['log'],
  close: number,
  code: ErrorCode,
  message: string,
  field?: string,
): void {
  log.info({ code, closeCode: close, field }, `websocket refused: ${message}`);
  try {
    sendError(ws, code, message, field);
    ws.close(close, closeReason(message));
  } catch (err) {
    log.warn({ err }, 'websocket close failed; terminating the connection');
    ws.terminate();
  }
}

const QUERY_PARAM_FIELDS = ['key', 'mode', 'bpm', 'intensity', 'seed', 'preset'] as const;

/**
 * The moment of `?moment=` (with `personal=1`), verified with the server's key; or why not, as a
 * message naming the field.
 */
function momentFromQuery(ctx: ServerContext, query: Record<string, string | undefined>): Moment | string {
  if (!ctx.engine.history) return 'moment needs the optimized profile (--profile optimized)';
  const given = QUERY_PARAM_FIELDS.filter((f) => query[f] !== undefined);
  if (given.length > 0) return `moment carries the seed and parameters: leave out ${given.join(', ')}`;
  let m: Moment;
  try {
    m = decodeMoment(query.moment!, ctx.momentKey);
  } catch (e) {
    if (!(e instanceof MomentTokenError)) throw e;
    return `moment: ${e.message}`;
  }
  if (m.chunkFrames !== (ctx.config.chunkMs * SAMPLE_RATE) / 1000)
    return `moment: made with ${m.chunkFrames}-frame chunks, this server uses ${ctx.config.chunkMs} ms`;
  return m;
}

/** The `/ws` handler: one listener and control peer per connection. */
export function handleWebSocket(ctx: ServerContext, ws: WebSocket, req: FastifyRequest): void {
  try {
    openWebSocket(ctx, ws, req);
  } catch (err) {
    req.log.error({ err }, 'websocket handler failed');
    refuse(ws, req.log, CLOSE.INTERNAL, 'INTERNAL', 'internal error');
  }
}

function openWebSocket(ctx: ServerContext, ws: WebSocket, req: FastifyRequest): void {
  const q = (req.query ?? {}) as Record<string, unknown>;
  const { config, registry } = ctx;
  // The forwarded client's address behind a trusted proxy (`--trust-proxy`), else the peer's.
  const clientIp = req.ip;
  const log = req.log;
  /** A message refused: an `error` to the client, a debug line to the log (never above info). */
  const answer = (code: ErrorCode, message: string, field?: string): void => {
    log.debug({ code, field }, `websocket message refused: ${message}`);
    sendError(ws, code, message, field);
  };

  // A query parameter given twice arrives as an array: refuse it rather than guess.
  for (const [name, value] of Object.entries(q)) {
    if (typeof value !== 'string') {
      refuse(
        ws,
        log,
        CLOSE.POLICY,
        'BAD_REQUEST',
        `query parameter ${quote(name)} is given more than once`,
        name,
      );
      return;
    }
  }
  const query = q as Record<string, string | undefined>;

  const origin = req.headers.origin;
  if (config.allowedOrigins.length > 0) {
    if (!origin || !config.allowedOrigins.includes(origin)) {
      refuse(
        ws,
        log,
        CLOSE.POLICY,
        'FORBIDDEN',
        `origin ${origin === undefined ? '(none)' : quote(origin)} is not allowed`,
        'origin',
      );
      return;
    }
  }
  // A page from another site may listen (and own a personal session) but not change shared stations.
  const crossSite =
    origin !== undefined && !sameOrigin(origin, req.headers.host) && !config.allowedOrigins.includes(origin);
  const codecName = query.codec ?? 'opus';
  if (codecName !== 'opus' && codecName !== 'pcm') {
    refuse(
      ws,
      log,
      CLOSE.POLICY,
      'INVALID_PARAM',
      `codec must be opus or pcm, got ${quote(codecName)}`,
      'codec',
    );
    return;
  }
  // `events=1`: the station's notes as `notes` messages (PROTOCOL.md, "The live score").
  const events = query.events;
  if (events !== undefined && events !== '0' && events !== '1') {
    refuse(ws, log, CLOSE.POLICY, 'INVALID_PARAM', `events must be 0 or 1, got ${quote(events)}`, 'events');
    return;
  }
  if (events === '1' && !ctx.notesFeed.available) {
    refuse(
      ws,
      log,
      CLOSE.POLICY,
      'INVALID_PARAM',
      'events needs the optimized profile (--profile optimized)',
      'events',
    );
    return;
  }
  // The starting Opus tier (kb/s): one of the tiers, or auto (= absent: the default tier).
  const tiers = offeredTiers(config);
  const bitrate = parseBitrate(query.bitrate, config);
  if (
    typeof bitrate === 'string' ||
    (codecName === 'pcm' && query.bitrate !== undefined && query.bitrate !== 'auto')
  ) {
    refuse(
      ws,
      log,
      CLOSE.POLICY,
      'INVALID_PARAM',
      typeof bitrate === 'string' ? bitrate : 'bitrate applies to codec=opus only (PCM has one rate)',
      'bitrate',
    );
    return;
  }
  if (ctx.listenerCount() >= config.maxListeners) {
    refuse(
      ws,
      log,
      CLOSE.TRY_AGAIN_LATER,
      'SERVER_FULL',
      `the server has its maximum of ${config.maxListeners} listeners`,
    );
    return;
  }

  const listener = new WsListener(ws, codecName);
  ctx.listenerJoined('ws');
  let station: Station | null = null;
  const early: string[] = [];
  let earlyBytes = 0;
  let ready = false;

  // Control rate: a token bucket refilled continuously; abuse strikes within a window.
  let tokens = config.controlRatePerSecond;
  let lastRefillMs = monoNowMs();
  let strikes: number[] = [];
  let msgWindowStartMs = monoNowMs();
  let msgsInWindow = 0;

  function strike(): boolean {
    const now = monoNowMs();
    strikes.push(now);
    if (strikes.length > ABUSE_STRIKES) strikes = strikes.filter((t) => now - t < ABUSE_WINDOW_MS);
    if (strikes.length >= ABUSE_STRIKES) {
      refuse(ws, log, CLOSE.POLICY, 'RATE_LIMITED', 'too many messages; closing');
      return true;
    }
    return false;
  }

  function takeControlToken(): boolean {
    const now = monoNowMs();
    tokens = Math.min(
      config.controlRatePerSecond,
      tokens + ((now - lastRefillMs) / 1000) * config.controlRatePerSecond,
    );
    lastRefillMs = now;
    if (tokens >= 1) {
      tokens -= 1;
      return true;
    }
    return false;
  }

  async function control(patch: ParamsPatch, source: ControlSource): Promise<void> {
    const st = station!;
    if (!st.personal && crossSite) {
      ctx.controlRejected(source, 'forbidden');
      answer(
        'FORBIDDEN',
        `changes from origin ${quote(origin!)} are refused: not this server's origin and not in allowedOrigins`,
        'origin',
      );
      return;
    }
    if (st.personal) {
      if (!listener.personalOwner) {
        ctx.controlRejected(source, 'forbidden');
        answer('FORBIDDEN', `only the owner may change personal session ${st.id}`);
        return;
      }
    } else if (config.controlToken) {
      if (!query.token) {
        ctx.controlRejected(source, 'forbidden');
        answer('UNAUTHORIZED', 'changing a station needs the control token (token= on the WebSocket URL)');
        return;
      }
      if (!tokenMatches(query.token, config.controlToken)) {
        ctx.controlRejected(source, 'forbidden');
        answer('FORBIDDEN', 'the control token is wrong');
        return;
      }
    }
    try {
      await ctx.controller.change(st, patch, source);
      ctx.controlAccepted(source);
    } catch (err) {
      if (err instanceof ApiError) answer(err.code, err.message, err.field);
      else answer('INTERNAL', `the change could not be applied: ${(err as Error).message}`);
    }
  }

  /** Counts a message against the per-second cap; false (answered or closed) when over it. */
  function admit(): boolean {
    const now = monoNowMs();
    if (now - msgWindowStartMs >= 1000) {
      msgWindowStartMs = now;
      msgsInWindow = 0;
    }
    if (++msgsInWindow > MAX_MESSAGES_PER_SECOND) {
      if (!strike()) answer('RATE_LIMITED', `more than ${MAX_MESSAGES_PER_SECOND} messages a second`);
      return false;
    }
    return true;
  }

  function onText(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      answer('BAD_MESSAGE', 'message is not valid JSON');
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      answer('BAD_MESSAGE', 'message must be a JSON object with a type');
      return;
    }
    const m = msg as Record<string, unknown>;
    switch (m.type) {
      case 'set':
      case 'preset': {
        const source: ControlSource = m.type === 'preset' ? 'preset' : 'listener';
        if (!takeControlToken()) {
          ctx.controlRejected(source, 'rate_limited');
          if (!strike())
            answer('RATE_LIMITED', `more than ${config.controlRatePerSecond} control messages a second`);
          return;
        }
        if (!ctx.limits.takeControl(clientIp)) {
          ctx.controlRejected(source, 'rate_limited');
          if (!strike())
            answer(
              'RATE_LIMITED',
              `more than ${config.controlRatePerIp} control changes a second from your address`,
            );
          return;
        }
        let input: unknown;
        if (m.type === 'set') {
          if (typeof m.params !== 'object' || m.params === null) {
            answer('BAD_MESSAGE', 'set needs a params object', 'params');
            return;
          }
          input = m.params;
        } else {
          if (typeof m.name !== 'string') {
            answer('BAD_MESSAGE', 'preset needs a name string', 'name');
            return;
          }
          input = { preset: m.name };
        }
        const v = validatePatch(input, { soundfont: ctx.soundfont !== null });
        if (!v.ok) {
          ctx.controlRejected(source, 'rejected');
          answer('INVALID_PARAM', v.message, m.type === 'preset' ? 'name' : v.field);
          return;
        }
        void control(v.patch, source);
        return;
      }
      case 'bitrate': {
        // Not a control change: any listener may pick its own tier, without the control token or rate.
        const kbps = m.kbps;
        const want = typeof kbps === 'number' && listener.codec === 'opus' ? tiers.indexOf(kbps) : -1;
        if (want < 0) {
          answer(
            'INVALID_PARAM',
            listener.codec === 'opus'
              ? `kbps must be one of ${tiers.join(', ')}, got ${JSON.stringify(kbps) ?? 'nothing'}`
              : 'bitrate applies to codec=opus only (PCM has one rate)',
            'kbps',
          );
          return;
        }
        const st = station!;
        // Already on that tier: answered at once; else right before the new tier's first chunk.
        if (requestTier(ctx.engine, st, listener, want) && ws.readyState === 1) {
          ws.send(JSON.stringify({ type: 'bitrate', kbps: tiers[want], fromSeq: listener.nextSeq }));
        }
        return;
      }
      case 'sleep': {
        // A personal session's owner only: a listener must not put everyone's station to sleep.
        const st = station!;
        if (!st.personal || !listener.personalOwner) {
          answer(
            'FORBIDDEN',
            st.personal
              ? `only the owner may set the sleep timer of personal session ${st.id}`
              : 'a sleep timer ends a personal session; a shared station plays on for everyone',
          );
          return;
        }
        const v = validateSleep(m.minutes);
        if (!v.ok) {
          answer('INVALID_PARAM', v.message, 'minutes');
          return;
        }
        ctx.sleepTimers.set(st, v.minutes).then(
          (endsAt) => {
            const endsAtMs = endsAt === null ? null : Math.round(endsAt + wallNowMs() - monoNowMs());
            if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'sleep', minutes: v.minutes, endsAtMs }));
          },
          (err: unknown) => {
            if (err instanceof ApiError) answer(err.code, err.message, err.field);
            else answer('INTERNAL', `the sleep timer could not be set: ${(err as Error).message}`);
          },
        );
        return;
      }
      case 'ping':
        if (ws.readyState === 1)
          ws.send(JSON.stringify({ type: 'pong', t: m.t ?? null, serverTime: wallNowMs() }));
        return;
      case 'stats': {
        const { bufferedMs, underruns, playedFrames } = m;
        if (
          typeof bufferedMs !== 'number' ||
          typeof underruns !== 'number' ||
          typeof playedFrames !== 'number'
        ) {
          answer('BAD_MESSAGE', 'stats needs numeric bufferedMs, underruns and playedFrames');
          return;
        }
        ctx.clientStats(listener, bufferedMs, underruns);
        return;
      }
      default:
        answer(
          'BAD_MESSAGE',
          `unknown message type ${typeof m.type === 'string' ? quote(m.type) : String(m.type)}`,
          'type',
        );
    }
  }

  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.close(CLOSE.UNSUPPORTED_DATA, 'binary messages are not accepted');
      return;
    }
    const text = data.toString();
    if (!admit()) return;
    if (ready) {
      onText(text);
      return;
    }
    const bytes = Buffer.byteLength(text);
    if (early.length >= MAX_EARLY_MESSAGES || earlyBytes + bytes > MAX_EARLY_BYTES) {
      answer(
        'NOT_READY',
        `the session is still starting and already holds ${early.length} messages (${earlyBytes} bytes); ` +
          'this one was not applied: send it again after the welcome',
      );
      return;
    }
    early.push(text);
    earlyBytes += bytes;
  });

  ws.on('close', () => {
    listener.closed = true;
    ctx.listenerLeft('ws', listener);
    if (station) {
      if (station.listeners.delete(listener) && listener.codec === 'opus')
        leaveTier(ctx.engine, station, listener);
      station.peers.delete(listener);
      ctx.notesFeed.unsubscribe(station.id, listener.socket);
      if (station.personal && listener.personalOwner) registry.ownerLeft(station);
      else registry.consumersChanged(station);
    }
  });
  ws.on('error', () => {
    // 'close' follows; a protocol error (e.g. 1009 too big) is answered by ws itself.
  });

  void (async () => {
    try {
      if (query.personal === '1' || query.personal === 'true') {
        if (query.resume) {
          station = await registry.resume(query.resume);
        } else if (query.moment !== undefined) {
          // A session that continues a moment: the token must be this server's (its signature).
          const moment = momentFromQuery(ctx, query);
          if (typeof moment === 'string') {
            refuse(ws, log, CLOSE.POLICY, 'INVALID_PARAM', moment, 'moment');
            return;
          }
          station = await registry.create({ personal: true, moment });
        } else {
          const input: Record<string, string> = {};
          for (const f of QUERY_PARAM_FIELDS) if (query[f] !== undefined) input[f] = query[f]!;
          const v = validatePatch(input, { allowSeed: true, soundfont: ctx.soundfont !== null });
          if (!v.ok) {
            refuse(ws, log, CLOSE.POLICY, 'INVALID_PARAM', v.message, v.field);
            return;
          }
          station = await registry.create({ patch: v.patch, personal: true });
        }
        listener.personalOwner = true;
      } else {
        const id = query.station ?? 'default';
        station = registry.get(id) ?? null;
        if (!station) {
          refuse(ws, log, CLOSE.UNKNOWN_STATION, 'UNKNOWN_STATION', `no station ${quote(id)}`, 'station');
          return;
        }
      }
    } catch (err) {
      if (!(err instanceof ApiError)) log.error({ err }, 'websocket session could not start');
      const e = err instanceof ApiError ? err : new ApiError('INTERNAL', 'the session could not start');
      refuse(
        ws,
        log,
        e.code === 'SERVER_FULL'
          ? CLOSE.TRY_AGAIN_LATER
          : e.code === 'UNKNOWN_STATION'
            ? CLOSE.UNKNOWN_STATION
            : e.code === 'INVALID_PARAM'
              ? CLOSE.POLICY
              : CLOSE.INTERNAL,
        e.code,
        e.message,
        e.field,
      );
      return;
    }
    if (ws.readyState !== 1) {
      if (station.personal && listener.personalOwner) registry.ownerLeft(station);
      return;
    }
    const st = station;
    // An idle station wakes up before the welcome (its position) and the burst.
    registry.wake(st);
    if (listener.codec === 'opus') {
      joinTier(ctx.engine, st, listener, bitrate, Math.max(0, st.nextSeq - config.wsBurstChunks));
      listener.tierSwitched = (fromSeq, fromTier) => {
        switchedTier(ctx.engine, st, fromTier);
        ctx.tierSwitched(listener.tier > fromTier);
        listener.send(JSON.stringify({ type: 'bitrate', kbps: tiers[listener.tier], fromSeq }));
      };
    } else listener.tier = listener.wantTier = defaultTierIndex(config);
    ws.send(
      JSON.stringify({
        type: 'welcome',
        protocol: 1,
        station: st.id,
        personal: st.personal,
        params: publicParams(st.params),
        seed: st.seed,
        sampleRate: SAMPLE_RATE,
        channels: CHANNELS,
        codec: listener.codec,
        tiers: listener.codec === 'opus' ? tiers : [],
        bitrate: listener.codec === 'opus' ? tiers[listener.tier] : null,
        chunkMs: st.chunkMs,
        position: st.positionFrames,
        ...(st.personal && listener.personalOwner
          ? { resumeToken: registry.resumeToken(st), sleep: sleepWelcome(ctx.sleepTimers.state(st.id)) }
          : {}),
      }),
    );
    if (st.lastNow) ws.send(nowMessage(st));
    if (events === '1') ctx.notesFeed.subscribe(st.id, listener.socket, () => ws.readyState === 1);
    ctx.pacer.burst(st, listener, config.wsBurstChunks);
    st.listeners.add(listener);
    st.peers.add(listener);
    registry.consumersChanged(st);
    ready = true;
    earlyBytes = 0;
    for (const text of early.splice(0)) onText(text);
  })();
}

/** The welcome's `sleep`: the session's timer (a reloaded page shows it), or null. */
function sleepWelcome(s: SleepState | null): { minutes: number; endsAtMs: number } | null {
  return s && { minutes: s.minutes, endsAtMs: Math.round(s.endsAtMono + wallOffsetMs()) };
}
