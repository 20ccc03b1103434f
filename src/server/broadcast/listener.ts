import type { Socket } from 'node:net';
import type { IcyCursor } from './icy.ts';

export type Transport = 'ws' | 'ogg' | 'wav' | 'mp3';
export type WireCodec = 'opus' | 'pcm';
export type KickReason = 'stalled' | 'expired' | 'shutdown' | 'station-removed' | 'slept';

/**
 * What the pacer and the queue sampler know about one listener's socket, kept without allocating
 * per chunk: which ring chunks may still sit in Node's user-space write queue (views into the
 * shared ring, not copies), and how many bytes the kernel holds for it.
 *
 * Ring-view accounting: every ring write goes through `socket.write(view, flow.onWritten)` (one
 * callback per listener, made once). Callbacks complete in write order, and a callback means the
 * view's bytes are in the kernel (copied), so the view no longer pins its ring slot. `lowSeq` is a
 * lower bound of the oldest chunk still queued in user space: every chunk before it has been handed
 * to the kernel. It lags the truth by at most one checkpoint (one drain of the queue).
 */
export class ListenerFlow {
  /** Ring writes issued and completed (handed to the kernel, or failed with the socket). */
  issued = 0;
  done = 0;
  /** Lower bound of the oldest ring chunk still queued in user space; -1 when none is. */
  lowSeq = -1;
  /** A pending write (its seq and its index in `issued`) whose completion advances lowSeq. */
  private cpSeq = -1;
  private cpIndex = 0;
  private lastSeq = -1;
  /** Bytes queued in the kernel's send queue at the last sample (0 where it cannot be read). */
  kernelQueued = 0;
  /** The socket's inode (for /proc/net/tcp), 0 when unknown. */
  inode = 0;
  /** Smoothed bytes per chunk written to this listener (its byte rate), 0 before its first write. */
  chunkBytes = 0;
  /** Queued bytes (kernel + user) when the listener went over its bound or last drained something. */
  overQueued = 0;
  /** The queue sampler's generation that last listed this socket. */
  sampleGen = 0;
  /** Which of the sampler's files listed this socket last (-1: not yet known; -2: none did). */
  procFile = -1;

  /** Called by Node when a ring write has been handed to the kernel (one function per listener). */
  readonly onWritten = (): void => {
    this.done++;
    if (this.done >= this.issued) {
      this.lowSeq = -1;
      this.cpSeq = -1;
    } else if (this.cpSeq >= 0 && this.done >= this.cpIndex) {
      this.lowSeq = this.cpSeq + 1;
      this.cpSeq = this.lastSeq;
      this.cpIndex = this.issued;
    }
  };

  /** The socket's user-space queue is empty: no ring view is pinned. */
  drained(): void {
    this.lowSeq = -1;
    this.cpSeq = -1;
  }

  /** Records a ring write of `seq` (`bytes` long) that was just queued with `onWritten`. */
  wrote(seq: number, bytes: number): void {
    this.issued++;
    this.lastSeq = seq;
    if (this.lowSeq < 0) this.lowSeq = seq;
    if (this.cpSeq < 0) {
      this.cpSeq = seq;
      this.cpIndex = this.issued;
    }
    this.chunkBytes = this.chunkBytes === 0 ? bytes : this.chunkBytes + (bytes - this.chunkBytes) * 0.125;
  }
}

/**
 * One listener as the pacer sees it: a socket to write the station's shared bytes to, and its
 * cursor. No per-listener encoding or copying happens on the normal path.
 */
export interface Listener {
  readonly transport: Transport;
  /** Which bytes of a chunk this listener gets (`opus`/`pcm` WebSocket frame, Ogg page, WAV PCM). */
  readonly codec: WireCodec;
  /** MP3 listeners that asked for ICY metadata: where their next metadata block goes. */
  readonly icy?: IcyCursor | null;
  readonly socket: Socket;
  readonly flow: ListenerFlow;
  /** Next sequence number this listener should receive. */
  nextSeq: number;
  /**
   * Opus listeners (WebSocket `codec=opus`, Ogg): the index of the bitrate tier whose bytes it gets
   * now, and the one it asked for; they differ while a switch waits for the asked tier's bytes (its
   * warm-up). Absent or equal to the ring's default tier for the others.
   */
  tier?: number;
  wantTier?: number;
  /** Called by the pacer right before it sends the first chunk (`fromSeq`) of `wantTier`. */
  tierSwitched?(fromSeq: number, fromTier: number): void;
  /** Audio was skipped for this listener: its next chunk carries the discontinuity flag. */
  discontinuity: boolean;
  /** When the listener went over its bound (queue or lag) without draining since (ms), 0 while it keeps up. */
  overSinceMs: number;
  skipped: number;
  sent: number;
  closed: boolean;
  /**
   * Disconnects the listener. `stalled`/`expired` reset the connection at once (the kernel drops
   * its queue); otherwise a socket that still holds queued bytes (ring views) is destroyed, and an
   * empty one is closed gracefully.
   */
  kick(reason: KickReason): void;
}

/**
 * Closes `socket` so that no queued ring view can be sent later: with nothing queued in user
 * space, `graceful()` runs (end, or a WebSocket close frame); else the socket is destroyed.
 * `reset` also discards what the kernel holds (RST), freeing a stalled client's memory at once.
 */
export function closeListenerSocket(socket: Socket, reset: boolean, graceful: () => void): void {
  if (socket.destroyed) return;
  if (reset) socket.resetAndDestroy();
  else if (socket.writableLength > 0) socket.destroy();
  else graceful();
}

/**
 * A station's listeners in arrival order, with an array of them that the pacer walks (the same
 * array until the set changes: a join or a leave rebuilds it once, a chunk never allocates one).
 * `version` counts the changes, so a walk that spans timers can tell the set changed under it.
 */
export class ListenerSet extends Set<Listener> {
  version = 0;
  private list: Listener[] = [];
  private listVersion = 0;

  override add(listener: Listener): this {
    if (!this.has(listener)) this.version++;
    return super.add(listener);
  }

  override delete(listener: Listener): boolean {
    const deleted = super.delete(listener);
    if (deleted) this.version++;
    return deleted;
  }

  override clear(): void {
    if (this.size > 0) this.version++;
    super.clear();
  }

  /** The listeners in arrival order (do not modify; valid until the set changes). */
  array(): readonly Listener[] {
    if (this.listVersion !== this.version) {
      this.list = [...this];
      this.listVersion = this.version;
    }
    return this.list;
  }
}
