import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { streamingWavHeader } from '../../codec/wav.ts';
import {
  closeListenerSocket,
  ListenerFlow,
  type KickReason,
  type Listener,
  type Transport,
} from '../broadcast/listener.ts';
import { ICY_METAINT, IcyCursor } from '../broadcast/icy.ts';
import type { ServerContext } from '../context.ts';
import type { Station } from '../station.ts';
import { ApiError } from '../errors.ts';
import { joinTier, leaveTier, offeredTiers, parseBitrate, switchedTier } from '../broadcast/tiers.ts';

class HttpListener implements Listener {
  readonly transport: Transport;
  readonly codec = 'opus' as const;
  readonly socket: Socket;
  readonly flow = new ListenerFlow();
  nextSeq = 0;
  discontinuity = false;
  overSinceMs = 0;
  skipped = 0;
  sent = 0;
  closed = false;
  readonly icy: IcyCursor | null;
  tier?: number;
  wantTier?: number;
  tierSwitched?: (fromSeq: number, fromTier: number) => void;

  constructor(transport: Transport, socket: Socket, icy: IcyCursor | null = null) {
    this.transport = transport;
    this.socket = socket;
    this.icy = icy;
  }

  /** Never `end()` a socket that still queues ring views: end flushes them later, after reuse. */
  kick(reason: KickReason): void {
    if (this.closed) return;
    this.closed = true;
    const socket = this.socket;
    closeListenerSocket(socket, reason === 'stalled' || reason === 'expired', () => socket.end());
  }
}

export type StreamKind = 'ogg' | 'wav' | 'mp3';

const HEADERS: Record<StreamKind, string> = {
  ogg: 'audio/ogg',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
};

/**
 * `GET /stream/:id.ogg`, `/stream/:id.wav` and `/stream/:id.mp3`: endless streams of the station's
 * shared bytes. A new listener gets the headers (OpusHead/OpusTags pages, or a streaming WAV
 * header; MP3 needs none), a burst of audio that is already due, then the live pages or frames.
 * Written straight to the socket (no chunked framing), as Icecast does, so every player sees a
 * plain byte stream.
 *
 * MP3 is encoded by the station's engine worker only while the station has MP3 listeners: the first
 * one switches it on, the last one to leave switches it off. A request with `Icy-MetaData: 1` gets
 * `icy-metaint` and a metadata block (broadcast/icy.ts) after every that many audio bytes.
 */
export function handleStream(
  ctx: ServerContext,
  req: FastifyRequest<{ Params: { file: string } }>,
  reply: FastifyReply,
): void {
  const m = /^([a-z0-9-]{1,32})\.(ogg|wav|mp3)$/.exec(req.params.file);
  if (!m)
    throw new ApiError(
      'NOT_FOUND',
      `no stream ${JSON.stringify(req.params.file)}; use /stream/<station>.ogg, .wav or .mp3`,
    );
  const [, id, kind] = m as unknown as [string, string, StreamKind];
  const tier = streamTier(ctx, kind, req.query);
  const st = ctx.registry.get(id);
  if (!st) throw new ApiError('UNKNOWN_STATION', `no station ${JSON.stringify(id)}`, 'id');
  if (ctx.config.profile === 'baseline') {
    throw new ApiError(
      'NOT_READY',
      'the baseline profile serves WebSocket listeners only; use --profile optimized',
    );
  }
  if (ctx.listenerCount() >= ctx.config.maxListeners) {
    throw new ApiError('SERVER_FULL', `the server has its maximum of ${ctx.config.maxListeners} listeners`);
  }
  // ICY metadata: MP3 only, and only for a client that asks for it (others would play it as noise).
  const icy = kind === 'mp3' && String(req.headers['icy-metadata'] ?? '').trim() === '1';
  reply.hijack();
  const socket = req.raw.socket;
  socket.setNoDelay(true);
  socket.write(
    'HTTP/1.1 200 OK\r\n' +
      `Content-Type: ${HEADERS[kind]}\r\n` +
      'Cache-Control: no-cache, no-store\r\n' +
      'Access-Control-Allow-Origin: *\r\n' +
      'X-Content-Type-Options: nosniff\r\n' +
      `icy-name: Auralis ${st.id}\r\n` +
      (kind === 'mp3' ? `icy-br: ${ctx.config.mp3Bitrate / 1000}\r\n` : '') +
      (icy ? `icy-metaint: ${ICY_METAINT}\r\n` : '') +
      'Connection: close\r\n\r\n',
  );
  if (req.method === 'HEAD') {
    socket.end();
    return;
  }
  attachStreamListener(ctx, st, kind, socket, { tier, icy });
  // The stream never reads a body; anything the client sends is ignored.
  socket.resume();
}

/**
 * Makes `socket` (its HTTP head already written) a listener of `st`'s `kind` stream: the stream's
 * headers (Ogg OpusHead/OpusTags pages, or the streaming WAV header), the burst, then the live
 * chunks from the pacer, counted like every listener (it keeps the station live). The one path of
 * HTTP stream listeners and of the Icecast source push (src/relay/), whose socket is the connection
 * to Icecast. Returns the listener; it leaves the station when the socket closes.
 */
export function attachStreamListener(
  ctx: ServerContext,
  st: Station,
  kind: StreamKind,
  socket: Socket,
  opts: { tier: number; icy: boolean },
): Listener {
  const { tier, icy } = opts;
  if (kind !== 'mp3') socket.write(kind === 'ogg' ? st.engine.oggHeader : streamingWavHeader());
  // An idle station wakes up before the burst (docs/ARCHITECTURE.md, "Lazy stations").
  ctx.registry.wake(st);
  const listener = new HttpListener(kind, socket, icy ? new IcyCursor(st) : null);
  ctx.listenerJoined(kind);
  if (kind === 'mp3' && ++st.mp3Listeners === 1) ctx.engine.setMp3(st.id, true);
  const burstChunks = Math.ceil(ctx.config.httpBurstMs / st.chunkMs);
  if (kind === 'ogg') {
    // Fixed for the connection; the default tier's pages until the tier is warm (same stream).
    joinTier(ctx.engine, st, listener, tier, Math.max(0, st.nextSeq - burstChunks));
    listener.tierSwitched = (_fromSeq, fromTier) => switchedTier(ctx.engine, st, fromTier);
  }
  ctx.pacer.burst(st, listener, burstChunks);
  st.listeners.add(listener);
  ctx.registry.consumersChanged(st);
  const done = (): void => {
    if (!st.listeners.delete(listener)) return;
    ctx.registry.consumersChanged(st);
    listener.closed = true;
    ctx.listenerLeft(kind, listener);
    if (kind === 'mp3' && --st.mp3Listeners === 0) ctx.engine.setMp3(st.id, false);
    if (kind === 'ogg') leaveTier(ctx.engine, st, listener);
  };
  socket.on('close', done);
  socket.on('error', done);
  return listener;
}

/**
 * The `bitrate` query parameter of a stream (kb/s): for Ogg one of the Opus tiers (or `auto` /
 * absent: the default tier), returned as its index; for MP3 only the configured MP3 bitrate; WAV
 * has one rate and takes none. Anything else is INVALID_PARAM naming `bitrate`.
 */
function streamTier(ctx: ServerContext, kind: StreamKind, query: unknown): number {
  const q = (query ?? {}) as Record<string, unknown>;
  const raw = q.bitrate;
  if (raw !== undefined && typeof raw !== 'string') {
    throw new ApiError('INVALID_PARAM', 'bitrate is given more than once', 'bitrate');
  }
  const config = ctx.config;
  if (kind === 'ogg') {
    const tier = parseBitrate(raw, config);
    if (typeof tier === 'string') throw new ApiError('INVALID_PARAM', tier, 'bitrate');
    return tier;
  }
  if (raw === undefined) return 0;
  if (kind === 'mp3') {
    const kbps = config.mp3Bitrate / 1000;
    if (raw === String(kbps)) return 0;
    throw new ApiError(
      'INVALID_PARAM',
      `bitrate of the MP3 stream must be ${kbps} (kb/s), got ${JSON.stringify(raw)}; Opus tiers (${offeredTiers(config).join(', ')}) are on /stream/<station>.ogg`,
      'bitrate',
    );
  }
  throw new ApiError(
    'INVALID_PARAM',
    `the WAV stream has one rate (PCM, ${(48_000 * 2 * 16) / 1000} kb/s) and takes no bitrate; Opus tiers (${offeredTiers(config).join(', ')}) are on /stream/<station>.ogg`,
    'bitrate',
  );
}
