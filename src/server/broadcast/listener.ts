import type { Socket } from 'node:net';

export type Transport = 'ws' | 'ogg' | 'wav';
export type WireCodec = 'opus' | 'pcm';

/**
 * One listener as the pacer sees it: a socket to write the station's shared bytes to, and its
 * cursor. No per-listener encoding or copying happens on the normal path.
 */
export interface Listener {
  readonly transport: Transport;
  /** Which bytes of a chunk this listener gets (`opus`/`pcm` WebSocket frame, Ogg page, WAV PCM). */
  readonly codec: WireCodec;
  readonly socket: Socket;
  /** Next sequence number this listener should receive. */
  nextSeq: number;
  /** Audio was skipped for this listener: its next chunk carries the discontinuity flag. */
  discontinuity: boolean;
  /** When the socket first stayed over its queue limit (ms), 0 while it keeps up. */
  overSinceMs: number;
  skipped: number;
  sent: number;
  closed: boolean;
  /** Disconnects the listener (stalled, or server shutting down). */
  kick(reason: 'stalled' | 'shutdown' | 'station-removed'): void;
}
