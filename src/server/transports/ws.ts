import type { Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { validatePatch, type ParamsPatch } from '../../music/params.ts';
import { CHANNELS, SAMPLE_RATE } from '../../music/types.ts';
import type { Listener, WireCodec } from '../broadcast/listener.ts';
import { publicParams, type ControlSource } from '../control.ts';
import { ApiError, CLOSE, type ErrorCode } from '../errors.ts';
import type { ServerContext } from '../context.ts';
import { nowMessage, type Station, type WsPeer } from '../station.ts';

/** Messages that arrive while a personal session is being created wait here (bounded). */
const MAX_EARLY_MESSAGES = 16;
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
  nextSeq = 0;
  discontinuity = false;
  overSinceMs = 0;
  skipped = 0;
  sent = 0;
  personalOwner = false;
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

  kick(reason: 'stalled' | 'shutdown' | 'station-removed'): void {
    if (this.closed) return;
    this.closed = true;
    if (reason === 'stalled') this.ws.terminate();
    else if (reason === 'shutdown') this.ws.close(CLOSE.GOING_AWAY, 'server shutting down');
    else this.ws.close(CLOSE.UNKNOWN_STATION, 'station removed');
  }
}

function sendError(ws: WebSocket, code: ErrorCode, message: string, field?: string): void {
  if (ws.readyState === 1)
    ws.send(JSON.stringify({ type: 'error', code, message, ...(field ? { field } : {}) }));
}

function refuse(ws: WebSocket, close: number, code: ErrorCode, message: string, field?: string): void {
  sendError(ws, code, message, field);
  ws.close(close, message.slice(0, 120));
}

const QUERY_PARAM_FIELDS = ['key', 'mode', 'bpm', 'intensity', 'seed', 'preset'] as const;

/** The `/ws` handler: one listener and control peer per connection. */
export function handleWebSocket(ctx: ServerContext, ws: WebSocket, req: FastifyRequest): void {
  const q = (req.query ?? {}) as Record<string, string | undefined>;
  const { config, registry } = ctx;

  if (config.allowedOrigins.length > 0) {
    const origin = req.headers.origin;
    if (!origin || !config.allowedOrigins.includes(origin)) {
      refuse(ws, CLOSE.POLICY, 'FORBIDDEN', `origin ${origin ?? '(none)'} is not allowed`);
      return;
    }
  }
  const codecName = q.codec ?? 'opus';
  if (codecName !== 'opus' && codecName !== 'pcm') {
    refuse(
      ws,
      CLOSE.POLICY,
      'INVALID_PARAM',
      `codec must be opus or pcm, got ${JSON.stringify(codecName)}`,
      'codec',
    );
    return;
  }
  if (ctx.listenerCount() >= config.maxListeners) {
    refuse(
      ws,
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
  let ready = false;

  // Control rate: a token bucket refilled continuously; abuse strikes within a window.
  let tokens = config.controlRatePerSecond;
  let lastRefillMs = Date.now();
  let strikes: number[] = [];
  let msgWindowStartMs = Date.now();
  let msgsInWindow = 0;

  function strike(): boolean {
    const now = Date.now();
    strikes.push(now);
    if (strikes.length > ABUSE_STRIKES) strikes = strikes.filter((t) => now - t < ABUSE_WINDOW_MS);
    if (strikes.length >= ABUSE_STRIKES) {
      refuse(ws, CLOSE.POLICY, 'RATE_LIMITED', 'too many messages; closing');
      return true;
    }
    return false;
  }

  function takeControlToken(): boolean {
    const now = Date.now();
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
    if (st.personal) {
      if (!listener.personalOwner) {
        ctx.controlRejected(source, 'forbidden');
        sendError(ws, 'FORBIDDEN', `only the owner may change personal session ${st.id}`);
        return;
      }
    } else if (config.controlToken) {
      if (!q.token) {
        ctx.controlRejected(source, 'forbidden');
        sendError(
          ws,
          'UNAUTHORIZED',
          'changing a station needs the control token (token= on the WebSocket URL)',
        );
        return;
      }
      if (!tokenMatches(q.token, config.controlToken)) {
        ctx.controlRejected(source, 'forbidden');
        sendError(ws, 'FORBIDDEN', 'the control token is wrong');
        return;
      }
    }
    try {
      await ctx.controller.change(st, patch, source);
      ctx.controlAccepted(source);
    } catch (err) {
      if (err instanceof ApiError) sendError(ws, err.code, err.message, err.field);
      else sendError(ws, 'INTERNAL', `the change could not be applied: ${(err as Error).message}`);
    }
  }

  function onText(text: string): void {
    const now = Date.now();
    if (now - msgWindowStartMs >= 1000) {
      msgWindowStartMs = now;
      msgsInWindow = 0;
    }
    if (++msgsInWindow > MAX_MESSAGES_PER_SECOND) {
      if (!strike()) sendError(ws, 'RATE_LIMITED', `more than ${MAX_MESSAGES_PER_SECOND} messages a second`);
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      sendError(ws, 'BAD_MESSAGE', 'message is not valid JSON');
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      sendError(ws, 'BAD_MESSAGE', 'message must be a JSON object with a type');
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
            sendError(
              ws,
              'RATE_LIMITED',
              `more than ${config.controlRatePerSecond} control messages a second`,
            );
          return;
        }
        let input: unknown;
        if (m.type === 'set') {
          if (typeof m.params !== 'object' || m.params === null) {
            sendError(ws, 'BAD_MESSAGE', 'set needs a params object', 'params');
            return;
          }
          input = m.params;
        } else {
          if (typeof m.name !== 'string') {
            sendError(ws, 'BAD_MESSAGE', 'preset needs a name string', 'name');
            return;
          }
          input = { preset: m.name };
        }
        const v = validatePatch(input);
        if (!v.ok) {
          ctx.controlRejected(source, 'rejected');
          sendError(ws, 'INVALID_PARAM', v.message, m.type === 'preset' ? 'name' : v.field);
          return;
        }
        void control(v.patch, source);
        return;
      }
      case 'ping':
        if (ws.readyState === 1)
          ws.send(JSON.stringify({ type: 'pong', t: m.t ?? null, serverTime: Date.now() }));
        return;
      case 'stats': {
        const { bufferedMs, underruns, playedFrames } = m;
        if (
          typeof bufferedMs !== 'number' ||
          typeof underruns !== 'number' ||
          typeof playedFrames !== 'number'
        ) {
          sendError(ws, 'BAD_MESSAGE', 'stats needs numeric bufferedMs, underruns and playedFrames');
          return;
        }
        ctx.clientStats(listener, bufferedMs, underruns);
        return;
      }
      default:
        sendError(ws, 'BAD_MESSAGE', `unknown message type ${JSON.stringify(m.type)}`, 'type');
    }
  }

  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.close(CLOSE.UNSUPPORTED_DATA, 'binary messages are not accepted');
      return;
    }
    const text = data.toString();
    if (!ready) {
      if (early.length < MAX_EARLY_MESSAGES) early.push(text);
      return;
    }
    onText(text);
  });

  ws.on('close', () => {
    listener.closed = true;
    ctx.listenerLeft('ws', listener);
    if (station) {
      station.listeners.delete(listener);
      station.peers.delete(listener);
      if (station.personal && listener.personalOwner) registry.ownerLeft(station);
    }
  });
  ws.on('error', () => {
    // 'close' follows; a protocol error (e.g. 1009 too big) is answered by ws itself.
  });

  void (async () => {
    try {
      if (q.personal === '1' || q.personal === 'true') {
        if (q.resume) {
          station = registry.resume(q.resume) ?? null;
          if (!station) {
            refuse(
              ws,
              CLOSE.UNKNOWN_STATION,
              'UNKNOWN_STATION',
              'no personal session waits for this resume token',
              'resume',
            );
            return;
          }
        } else {
          const input: Record<string, string> = {};
          for (const f of QUERY_PARAM_FIELDS) if (q[f] !== undefined) input[f] = q[f]!;
          const v = validatePatch(input, { allowSeed: true });
          if (!v.ok) {
            refuse(ws, CLOSE.POLICY, 'INVALID_PARAM', v.message, v.field);
            return;
          }
          station = await registry.create({ patch: v.patch, personal: true });
        }
        listener.personalOwner = true;
      } else {
        const id = q.station ?? 'default';
        station = registry.get(id) ?? null;
        if (!station) {
          refuse(ws, CLOSE.UNKNOWN_STATION, 'UNKNOWN_STATION', `no station ${JSON.stringify(id)}`, 'station');
          return;
        }
      }
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError('INTERNAL', (err as Error).message);
      refuse(
        ws,
        e.code === 'SERVER_FULL' ? CLOSE.TRY_AGAIN_LATER : CLOSE.INTERNAL,
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
        chunkMs: st.chunkMs,
        position: st.positionFrames,
        ...(st.personal && listener.personalOwner ? { resumeToken: st.resumeToken } : {}),
      }),
    );
    if (st.lastNow) ws.send(nowMessage(st.lastNow));
    ctx.pacer.burst(st, listener, config.wsBurstChunks);
    st.listeners.add(listener);
    st.peers.add(listener);
    ready = true;
    for (const text of early.splice(0)) onText(text);
  })();
}
