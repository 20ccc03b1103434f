import type { ServerResponse } from 'node:http';
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

/** Streams written per turn of the event loop; the rest of a fan-out waits for the next turn. */
export const SSE_FANOUT_SLICE = 256;
/** Fan-outs waiting at most (each is one change or heartbeat of one station); past it the oldest goes. */
const MAX_PENDING_FANOUTS = 256;

const HEARTBEAT = ': keep-alive\n\n';

/** One frame on its way to a snapshot of a station's streams, SSE_FANOUT_SLICE at a time. */
interface Fanout {
  readonly clients: Client[];
  readonly frame: string;
  /** A heartbeat also checks each stream's age (bytes still queued since the last one). */
  readonly heartbeat: boolean;
  next: number;
}

interface Client {
  readonly sink: SseSink;
  readonly station: Station;
  /** Whether bytes were still queued for it at the previous heartbeat. */
  queuedAtBeat: boolean;
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
  private readonly fanouts: Fanout[] = [];
  private immediate: NodeJS.Immediate | null = null;
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
    const client: Client = { sink, station: st, queuedAtBeat: false, closed: false };
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

  /**
   * What `st` sounds changed (the pacer announced it): one event to each of its clients. The event
   * is built now; it is written from the next turn of the event loop on, SSE_FANOUT_SLICE streams
   * a turn, so that many streams never hold up the pacer.
   */
  changed(st: Station): void {
    const set = this.byStation.get(st);
    if (!set || set.size === 0) return;
    this.enqueue({ clients: [...set], frame: nowEventFrame(st), heartbeat: false, next: 0 });
  }

  /** The station is gone: its streams end (EventSource then reconnects and gets 404). */
  stationRemoved(st: Station): void {
    const set = this.byStation.get(st);
    if (!set) return;
    for (const c of [...set]) this.end(c);
  }

  /** Ends every stream and stops the heartbeat and any fan-out; idempotent. */
  close(): void {
    this.closed = true;
    this.fanouts.length = 0;
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    for (const set of [...this.byStation.values()]) for (const c of [...set]) this.end(c);
    this.stopTimer();
  }

  private enqueue(f: Fanout): void {
    if (this.fanouts.length >= MAX_PENDING_FANOUTS) this.fanouts.shift();
    this.fanouts.push(f);
    this.immediate ??= setImmediate(() => this.drain());
  }

  private drain(): void {
    this.immediate = null;
    let budget = SSE_FANOUT_SLICE;
    while (budget > 0 && this.fanouts.length > 0) {
      const f = this.fanouts[0]!;
      while (budget > 0 && f.next < f.clients.length) {
        const c = f.clients[f.next++]!;
        budget--;
        if (f.heartbeat) this.beat(c);
        else this.send(c, f.frame);
      }
      if (f.next >= f.clients.length) this.fanouts.shift();
    }
    if (this.fanouts.length > 0) this.immediate = setImmediate(() => this.drain());
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
    for (const set of this.byStation.values())
      this.enqueue({ clients: [...set], frame: HEARTBEAT, heartbeat: true, next: 0 });
  }

  /** A heartbeat for one stream: closed if bytes waited since the previous one, else a comment. */
  private beat(c: Client): void {
    if (c.closed) return;
    const queued = c.sink.writableLength > 0;
    if (queued && c.queuedAtBeat) {
      this.drop(c, 'stalled');
      return;
    }
    c.queuedAtBeat = queued;
    this.send(c, HEARTBEAT);
  }

  private drop(c: Client, reason: SseDropReason): void {
    if (c.closed) return;
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
