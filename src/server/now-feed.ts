import type { ServerResponse } from 'node:http';
import { monoNowMs } from '../engine/clock.ts';
import { nowPlaying } from './now-playing.ts';
import type { Station } from './station.ts';

/** What the feed writes to: an HTTP response (or any writable with the same few members). */
export interface SseSink {
  readonly writableLength: number;
  /** True once the connection is gone (its 'close' may already have been emitted). */
  readonly destroyed: boolean;
  write(chunk: string): boolean;
  end(): void;
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

/** Bytes an event stream may queue in user space; a write that would pass it closes the client. */
export const SSE_MAX_QUEUED_BYTES = 16 * 1024;
/** Reconnection delay suggested to EventSource clients (`retry:`), ms. */
export const SSE_RETRY_MS = 3000;

export type SseDropReason = 'queue' | 'stalled';

interface Client {
  readonly sink: SseSink;
  readonly station: Station;
  /** Monotonic ms since when its queue has not been empty at a heartbeat; 0 when it was empty. */
  queuedSinceMs: number;
  closed: boolean;
}

/** One event stream frame: a `now` event carrying the NowPlaying object as JSON. */
export function nowEventFrame(st: Station): string {
  return `event: now\ndata: ${JSON.stringify(nowPlaying(st))}\n\n`;
}

/**
 * The now-playing event streams (`GET /api/stations/:id/now` with `Accept: text/event-stream`):
 * owns every open stream and the one heartbeat timer. Each client gets an event when what its
 * station sounds changes (when the pacer announces it) and a comment every `heartbeatMs`. A client
 * whose queue would pass SSE_MAX_QUEUED_BYTES, or which still queued bytes at two heartbeats in a
 * row, is closed: queues are bounded in bytes and in age. `close()` ends them all.
 */
export class NowFeed {
  private readonly heartbeatMs: number;
  readonly maxClients: number;
  private readonly maxQueuedBytes: number;
  private readonly byStation = new Map<Station, Set<Client>>();
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Told when a client is closed for being slow (its station and why). */
  onDropped: (station: Station, reason: SseDropReason) => void = () => {};

  constructor(opts: { heartbeatMs: number; maxClients: number; maxQueuedBytes?: number }) {
    this.heartbeatMs = opts.heartbeatMs;
    this.maxClients = opts.maxClients;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? SSE_MAX_QUEUED_BYTES;
  }

  get size(): number {
    return this.count;
  }

  /** Whether another client may join (under maxClients, not closing). */
  hasRoom(): boolean {
    return !this.closed && this.count < this.maxClients;
  }

  /**
   * Adds a client whose response head is already written: sends the `retry:` hint and the initial
   * event. Returns false (and ends the sink) when the feed is closed.
   */
  add(st: Station, sink: SseSink): boolean {
    if (this.closed || sink.destroyed) {
      sink.end();
      return false;
    }
    const client: Client = { sink, station: st, queuedSinceMs: 0, closed: false };
    let set = this.byStation.get(st);
    if (!set) {
      set = new Set();
      this.byStation.set(st, set);
    }
    set.add(client);
    this.count++;
    sink.once('close', () => this.forget(client));
    if (this.timer === null) {
      this.timer = setInterval(() => this.heartbeat(), this.heartbeatMs);
      this.timer.unref();
    }
    this.send(client, `retry: ${SSE_RETRY_MS}\n${nowEventFrame(st)}`);
    return true;
  }

  /** What `st` sounds changed (the pacer announced it): one event to each of its clients. */
  changed(st: Station): void {
    const set = this.byStation.get(st);
    if (!set || set.size === 0) return;
    const frame = nowEventFrame(st);
    for (const c of set) this.send(c, frame);
  }

  /** The station is gone: its streams end (EventSource then reconnects and gets 404). */
  stationRemoved(st: Station): void {
    const set = this.byStation.get(st);
    if (!set) return;
    for (const c of [...set]) this.end(c);
  }

  /** Ends every stream and stops the heartbeat; idempotent. */
  close(): void {
    this.closed = true;
    for (const set of [...this.byStation.values()]) for (const c of [...set]) this.end(c);
    this.stopTimer();
  }

  private send(c: Client, frame: string): void {
    if (c.closed) return;
    if (c.sink.destroyed) {
      this.forget(c);
      return;
    }
    if (c.sink.writableLength + Buffer.byteLength(frame) > this.maxQueuedBytes) {
      this.drop(c, 'queue');
      return;
    }
    c.sink.write(frame);
  }

  private heartbeat(): void {
    const now = monoNowMs();
    for (const set of this.byStation.values()) {
      for (const c of set) {
        if (c.sink.writableLength > 0) {
          if (c.queuedSinceMs === 0) c.queuedSinceMs = now;
          else if (now - c.queuedSinceMs >= this.heartbeatMs) {
            this.drop(c, 'stalled');
            continue;
          }
        } else {
          c.queuedSinceMs = 0;
        }
        this.send(c, ': keep-alive\n\n');
      }
    }
  }

  private drop(c: Client, reason: SseDropReason): void {
    this.onDropped(c.station, reason);
    c.closed = true;
    c.sink.destroy();
    this.forget(c);
  }

  private end(c: Client): void {
    if (!c.closed) {
      c.closed = true;
      c.sink.end();
    }
    this.forget(c);
  }

  private forget(c: Client): void {
    c.closed = true;
    const set = this.byStation.get(c.station);
    if (!set?.delete(c)) return;
    this.count--;
    if (set.size === 0) this.byStation.delete(c.station);
    if (this.count === 0) this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Whether an `Accept` header asks for an event stream. */
export function wantsEventStream(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept);
}

/** Writes the event stream's response head on a hijacked reply (fastify's headers included). */
export function writeEventStreamHead(res: ServerResponse, headers: Record<string, unknown>): void {
  const head: Record<string, string | number | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v === 'string' || typeof v === 'number' || Array.isArray(v))
      head[k] = v as string | number | string[];
  }
  head['content-type'] = 'text/event-stream; charset=utf-8';
  head['cache-control'] = 'no-cache, no-transform';
  head['x-accel-buffering'] = 'no';
  head['connection'] = 'close';
  res.writeHead(200, head);
}
