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
import type { ServerContext } from '../context.ts';
import { ApiError } from '../errors.ts';

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

  constructor(transport: Transport, socket: Socket) {
    this.transport = transport;
    this.socket = socket;
  }

  /** Never `end()` a socket that still queues ring views: end flushes them later, after reuse. */
  kick(reason: KickReason): void {
    if (this.closed) return;
    this.closed = true;
    const socket = this.socket;
    closeListenerSocket(socket, reason === 'stalled' || reason === 'expired', () => socket.end());
  }
}

const HEADERS: Record<'ogg' | 'wav', string> = {
  ogg: 'audio/ogg',
  wav: 'audio/wav',
};

/**
 * `GET /stream/:id.ogg` and `/stream/:id.wav`: endless streams of the station's shared bytes. A new
 * listener gets the headers (OpusHead/OpusTags pages, or a streaming WAV header), a burst of audio
 * that is already due, then the live pages. Written straight to the socket (no chunked framing), as
 * Icecast does, so every player sees a plain byte stream.
 */
export function handleStream(
  ctx: ServerContext,
  req: FastifyRequest<{ Params: { file: string } }>,
  reply: FastifyReply,
): void {
  const m = /^([a-z0-9-]{1,32})\.(ogg|wav)$/.exec(req.params.file);
  if (!m)
    throw new ApiError(
      'NOT_FOUND',
      `no stream ${JSON.stringify(req.params.file)}; use /stream/<station>.ogg or .wav`,
    );
  const [, id, kind] = m as unknown as [string, string, 'ogg' | 'wav'];
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
      'Connection: close\r\n\r\n',
  );
  if (req.method === 'HEAD') {
    socket.end();
    return;
  }
  socket.write(kind === 'ogg' ? st.engine.oggHeader : streamingWavHeader());
  const listener = new HttpListener(kind, socket);
  ctx.listenerJoined(kind);
  const burstChunks = Math.ceil(ctx.config.httpBurstMs / st.chunkMs);
  ctx.pacer.burst(st, listener, burstChunks);
  st.listeners.add(listener);
  const done = (): void => {
    if (!st.listeners.delete(listener)) return;
    listener.closed = true;
    ctx.listenerLeft(kind, listener);
  };
  socket.on('close', done);
  socket.on('error', done);
  // The stream never reads a body; anything the client sends is ignored.
  socket.resume();
}
