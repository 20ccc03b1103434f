import { monoNowMs } from '../../engine/clock.ts';
import { CHUNK_HEADER_BYTES, HOLD_NONE, WS_PREFIX_BYTES, type ChunkRing } from '../../engine/ring.ts';
import { SAMPLE_RATE } from '../../music/types.ts';
import { RING_VIEW_GUARD_MS } from '../config.ts';
import { nowMessage } from '../now-playing.ts';
import type { Station } from '../station.ts';
import type { Listener, Transport } from './listener.ts';
import { QueueSampler } from './queue-sampler.ts';

/** What the stations and transports need of a broadcaster (Pacer, or BaselinePacer for `baseline`). */
export interface Broadcaster {
  add(station: Station): void;
  remove(station: Station): void;
  start(): void;
  stop(): void;
  /** A new listener: send it the newest `count` already-due chunks, then it follows the live broadcast. */
  burst(station: Station, listener: Listener, count: number): void;
  /** A listener left (its socket closed): drop whatever the broadcaster keeps about it. */
  forget?(listener: Listener): void;
  /** An idle station woke up (`station.live`, its `nextSeq` set to the chunk due now): pace it again. */
  wake?(station: Station): void;
  /** Fault injection (`stall-loop` at `fan-out`): block the main thread `ms` right after the next fan-out. */
  stallAfterFanout?(ms: number): void;
}

/** What the pacer reports (metrics); every method is called on the main thread, cheaply. */
export interface PacerObserver {
  /**
   * `sends` counts the listeners reached per transport, indexed by TRANSPORT_INDEX; `fanoutSeconds`
   * is the time from the first listener write to the last (absent where not measured: baseline).
   */
  chunkPublished(
    station: Station,
    seq: number,
    latenessSeconds: number,
    sends: Int32Array,
    fanoutSeconds?: number,
  ): void;
  listenerSkipped(transport: Transport): void;
  listenerSent(transport: Transport, count: number): void;
  /** A listener was disconnected: `stalled` (drained nothing while over its bound) or `expired`. */
  listenerDropped(transport: Transport, reason: 'stalled' | 'expired'): void;
  /** The queue sampler measured a listener's lag behind live (kernel + user-space queue). */
  listenerLag?(transport: Transport, lagSeconds: number): void;
  /** Told once when kernel send queues cannot be read (not Linux). */
  queuesUnavailable?(message: string): void;
  now(station: Station, json: string): void;
}

/** Sends every `now` event whose position the published audio has reached to the station's peers. */
export function announceDueNow(st: Station, positionFrames: number, observer: PacerObserver): void {
  for (let e = st.takeDueNow(positionFrames); e !== null; e = st.takeDueNow(positionFrames)) {
    observer.now(st, nowMessage(st));
  }
}

export const TRANSPORT_INDEX: Record<Transport, number> = { ws: 0, ogg: 1, wav: 2, mp3: 3 };
export const TRANSPORT_NAMES: readonly Transport[] = ['ws', 'ogg', 'wav', 'mp3'];

/**
 * The tier whose bytes an Opus listener gets for `seq`: the one it asked for as soon as the ring has
 * its bytes, else the one it gets now, else (that tier has no bytes for this chunk: its encoder was
 * rebuilt) the default tier, which always has them. Every tier's packets of a chunk cover the same
 * samples, so one decoder plays them in any order.
 */
function tierToSend(l: Listener, ring: ChunkRing, seq: number): number {
  const def = ring.layout.defaultTier;
  const want = l.wantTier ?? def;
  const now = l.tier ?? def;
  if (want !== now && ring.opusFrameLength(seq, want) > 0) return want;
  return now === def || ring.opusFrameLength(seq, now) > 0 ? now : def;
}

/** If the loop fell this many chunks behind (a long GC or a blocked loop), jump to the newest. */
const MAX_CATCH_UP_CHUNKS = 10;
/** Re-check soon when a due chunk is not rendered yet. */
const NOT_RENDERED_RETRY_MS = 2;
/**
 * Fan-out compensation. Writing one chunk to thousands of sockets takes tens of milliseconds (a
 * `write` syscall each, about 10 µs on loopback), so the listener written last would get it that
 * much after its due time while the first gets it on time. The pacer therefore starts each chunk's
 * fan-out early, at most MAX_SEND_AHEAD_CHUNK_SHARE of a chunk, so that the writes end by the due
 * time instead of starting at it. What it measures is the time from the moment a fan-out should
 * have started to its last write: the writes themselves plus the timer's own lateness. The head
 * start is a high estimate of it, as TCP estimates a retransmission timeout: a smoothed mean (weight
 * FANOUT_SMOOTHING per chunk) plus FANOUT_DEVIATIONS smoothed mean deviations (weight
 * FANOUT_DEVIATION_SMOOTHING), so that a fan-out a little longer than the mean (a GC pause, a busy
 * core) still ends on time; with the mean alone, half of them ended late. Every listener keeps its
 * place in the walk, so its own spacing (jitter) stays one chunk.
 */
const FANOUT_SMOOTHING = 1 / 8;
const FANOUT_DEVIATION_SMOOTHING = 1 / 4;
const FANOUT_DEVIATIONS = 2;
export const MAX_SEND_AHEAD_CHUNK_SHARE = 0.5;

/** What the pacer keeps per station: how long its fan-outs take, mean and mean deviation (ms). */
interface Fanout {
  meanMs: number;
  devMs: number;
}
/**
 * A socket whose oldest queued ring view belongs to a slot the engine will rewrite within
 * RING_VIEW_GUARD_MS is destroyed. It covers the time between two checks (one chunk, plus any
 * event-loop delay); config.ts refuses a listenerQueueBytes that would not drain within the rest.
 */
export { RING_VIEW_GUARD_MS };

/**
 * The pacer: at each chunk's due time, the very same bytes go to every listener of the station.
 * One timer for all stations, aimed at the earliest next due time. Slow listeners are skipped
 * (their next chunk carries the discontinuity flag) and never delay the others.
 */
export class Pacer {
  private readonly stations = new Set<Station>();
  private readonly fanouts = new Map<Station, Fanout>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly leadMs: number;
  private readonly queueBytes: number;
  /** The user-space queue bound of an Opus listener, by the tier of the chunk (config tierQueueBytes). */
  private readonly tierQueueBytes: readonly number[];
  private readonly stallTimeoutMs: number;
  private readonly maxLagMs: number;
  private readonly observer: PacerObserver;
  private readonly sends = new Int32Array(TRANSPORT_NAMES.length);
  /** Kernel send queues of the listeners (Linux); null when disabled. */
  readonly sampler: QueueSampler | null;

  constructor(opts: {
    leadMs: number;
    listenerQueueBytes: number;
    /** Per Opus tier: a smaller bound for a tier too slow to drain listenerQueueBytes in time. */
    tierQueueBytes?: readonly number[];
    stallTimeoutMs: number;
    /** Listeners further behind live than this (kernel + user-space queue) are skipped. */
    maxListenerLagMs?: number;
    /** How often kernel send queues are sampled (ms); 0 disables the sampler. */
    queueSampleMs?: number;
    observer: PacerObserver;
  }) {
    this.leadMs = opts.leadMs;
    this.queueBytes = opts.listenerQueueBytes;
    this.tierQueueBytes = opts.tierQueueBytes ?? [];
    this.stallTimeoutMs = opts.stallTimeoutMs;
    this.maxLagMs = opts.maxListenerLagMs ?? Infinity;
    this.observer = opts.observer;
    const observer = opts.observer;
    this.sampler =
      opts.queueSampleMs && opts.queueSampleMs > 0
        ? new QueueSampler({
            intervalMs: opts.queueSampleMs,
            onUnavailable: (message) => observer.queuesUnavailable?.(message),
            onSampled: observer.listenerLag
              ? (l) => {
                  const f = l.flow;
                  if (f.chunkBytes <= 0 || l.closed) return;
                  const queued = f.kernelQueued + l.socket.writableLength;
                  observer.listenerLag!(l.transport, (queued / f.chunkBytes) * this.chunkSeconds);
                }
              : undefined,
          })
        : null;
  }

  /** Chunk length (s); set from the stations (every station uses the configured chunkMs). */
  private chunkSeconds = 0.1;

  /** Pending `stall-loop` fault (ms), 0 when none. */
  private stallMs = 0;

  stallAfterFanout(ms: number): void {
    this.stallMs = ms;
  }

  forget(listener: Listener): void {
    this.sampler?.remove(listener);
  }

  add(station: Station): void {
    this.chunkSeconds = station.chunkMs / 1000;
    this.stations.add(station);
    if (!this.fanouts.has(station)) this.fanouts.set(station, { meanMs: 0, devMs: 0 });
    this.schedule();
  }

  remove(station: Station): void {
    this.stations.delete(station);
    this.fanouts.delete(station);
  }

  /** How early (ms) the station's next fan-out starts: a high estimate of its length, bounded. */
  sendAheadMs(station: Station): number {
    const f = this.fanouts.get(station);
    if (!f) return 0;
    return Math.min(f.meanMs + FANOUT_DEVIATIONS * f.devMs, station.chunkMs * MAX_SEND_AHEAD_CHUNK_SHARE);
  }

  wake(station: Station): void {
    if (this.stations.has(station)) this.schedule();
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.sampler?.close();
  }

  private schedule(delayMs?: number): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    let wait = delayMs;
    if (wait === undefined) {
      const now = monoNowMs();
      let next = Infinity;
      for (const st of this.stations)
        if (st.live) next = Math.min(next, st.dueMs(st.nextSeq, this.leadMs) - this.sendAheadMs(st));
      // Every station idle: no timer at all until one wakes up (wake()).
      if (next === Infinity) return;
      wait = Math.max(0, Math.min(50, next - now));
    }
    this.timer = setTimeout(this.tick, wait);
  }

  private readonly tick = (): void => {
    this.timer = null;
    let retry = false;
    let published = false;
    for (const st of this.stations) {
      if (!st.live) continue; // idle: nothing rendered, nothing to send (docs/ARCHITECTURE.md)
      const ring = st.engine.ring;
      let now = monoNowMs();
      if (now - st.dueMs(st.nextSeq, this.leadMs) > MAX_CATCH_UP_CHUNKS * st.chunkMs) {
        const jumpTo = Math.floor((now - st.dueMs(0, this.leadMs)) / st.chunkMs);
        st.nextSeq = jumpTo;
        for (const l of st.listeners) l.discontinuity = true;
      }
      const aheadMs = this.sendAheadMs(st);
      while (st.dueMs(st.nextSeq, this.leadMs) - aheadMs <= now) {
        const seq = st.nextSeq;
        if (ring.published() <= seq) {
          retry = true; // due (or about to be) but not rendered yet: the engine is behind
          // It may be waiting for a slot our sockets still hold (after a blocked event loop):
          // expire or release what is old, so that it can go on.
          if (!ring.mayWrite(ring.published())) this.releaseHold(st);
          break;
        }
        if (!ring.pin(seq)) {
          // Skipped by a restarted worker (or overwritten): everyone gets a discontinuity.
          st.nextSeq++;
          for (const l of st.listeners) l.discontinuity = true;
          continue;
        }
        this.publish(st, seq, now, aheadMs);
        published = true;
        st.nextSeq++;
        now = monoNowMs();
      }
    }
    if (published && this.stallMs > 0) {
      // Fault injection: the thread stops here, after the writes and before the event loop could
      // flush any socket, as when a fan-out overruns on a starved core.
      const ms = this.stallMs;
      this.stallMs = 0;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    }
    // Kernel queues are read right after a fan-out, in the gap before the next (queue-sampler.ts).
    if (published) this.sampler?.afterFanout();
    this.schedule(retry ? NOT_RENDERED_RETRY_MS : undefined);
  };

  private publish(st: Station, seq: number, dueCheckMs: number, aheadMs: number): void {
    const ring = st.engine.ring;
    const sab = ring.sab;
    const def = ring.layout.defaultTier;
    // The Opus frame and Ogg page of each tier in use (held by a listener) that has bytes for seq;
    // the default tier always.
    const frames = st.tierFrames;
    const pages = st.tierPages;
    for (let t = 0; t < frames.length; t++) {
      const len = t === def || st.tierHolds[t]! > 0 ? ring.opusFrameLength(seq, t) : 0;
      frames[t] = len > 0 ? Buffer.from(sab, ring.opusFrameStart(seq, t), len) : null;
      pages[t] = len > 0 ? Buffer.from(sab, ring.oggPageStart(seq, t), ring.oggPageLength(seq, t)) : null;
    }
    const pcm = Buffer.from(sab, ring.pcmFrameStart(seq), ring.pcmFrameLength(seq));
    const wavStart = ring.pcmRegion(seq) + WS_PREFIX_BYTES + CHUNK_HEADER_BYTES;
    const wav = Buffer.from(sab, wavStart, ring.pcmFrameStart(seq) + ring.pcmFrameLength(seq) - wavStart);
    // MP3 frames exist only while the station has MP3 listeners (otherwise the length is 0).
    const mp3 = Buffer.from(sab, ring.mp3Region(seq), ring.mp3Length(seq));
    const sends = this.sends;
    sends.fill(0);
    const fanoutStart = monoNowMs();
    // The oldest chunk a socket may still queue a view of, for the ring's hold (seq is pinned).
    let oldest = HOLD_NONE;
    for (const l of st.listeners) {
      if (l.nextSeq > seq) {
        if (l.flow.lowSeq >= 0 && l.flow.lowSeq < oldest && !l.socket.destroyed) oldest = l.flow.lowSeq;
        continue;
      }
      const t = l.transport;
      let tier = def;
      let bytes: Buffer;
      if (t === 'ogg' || (t === 'ws' && l.codec === 'opus')) {
        tier = tierToSend(l, ring, seq);
        bytes = (t === 'ws' ? frames[tier] : pages[tier]) ?? this.bytesFor(l, ring, seq, tier);
      } else bytes = t === 'ws' ? pcm : t === 'wav' ? wav : mp3;
      if (this.write(l, ring, seq, bytes, dueCheckMs, tier)) sends[TRANSPORT_INDEX[l.transport]]!++;
      if (l.flow.lowSeq >= 0 && l.flow.lowSeq < oldest && !l.socket.destroyed) oldest = l.flow.lowSeq;
    }
    ring.release(oldest);
    const fanoutEnd = monoNowMs();
    const fanout = this.fanouts.get(st);
    if (fanout) {
      // From the planned start (due minus the head start used) to the last write, timer lateness
      // included; at most one chunk, so a stall the pacer catches up on does not dominate the mean.
      const planned = st.dueMs(seq, this.leadMs) - aheadMs;
      const took = Math.min(st.chunkMs, Math.max(fanoutEnd - fanoutStart, fanoutEnd - planned));
      const err = took - fanout.meanMs;
      fanout.meanMs += err * FANOUT_SMOOTHING;
      fanout.devMs += (Math.abs(err) - fanout.devMs) * FANOUT_DEVIATION_SMOOTHING;
    }
    st.hls?.chunk(seq); // the HLS segmenter copies the chunk's MP3 frames (src/server/hls/)
    // The last listener's write was queued at fanoutEnd: the station's worst lateness for this chunk.
    const latenessSeconds = (fanoutEnd - st.dueMs(seq, this.leadMs)) / 1000;
    this.observer.chunkPublished(st, seq, latenessSeconds, sends, (fanoutEnd - fanoutStart) / 1000);
    const position = (seq + 1) * st.engine.chunkFrames;
    announceDueNow(st, position, this.observer);
  }

  /**
   * Recomputes the ring's hold of a station whose engine waits for it (no chunk to publish): a
   * socket that has sent everything no longer holds anything; one whose oldest queued view belongs
   * to a slot the engine rewrites within RING_VIEW_GUARD_MS is reset (`expired`), as in write().
   * Only while the engine waits (after the event loop was blocked), so not per chunk.
   */
  private releaseHold(st: Station): void {
    const ring = st.engine.ring;
    let oldest = HOLD_NONE;
    for (const l of st.listeners) {
      const f = l.flow;
      if (l.socket.destroyed) continue;
      if (l.socket.writableLength === 0) f.drained();
      if (f.lowSeq < 0 || this.expireIfOld(l, ring)) continue;
      if (f.lowSeq < oldest) oldest = f.lowSeq;
    }
    ring.release(oldest);
  }

  /**
   * Resets a socket whose oldest queued ring view (`flow.lowSeq`) belongs to a slot the engine
   * rewrites within RING_VIEW_GUARD_MS (`expired`); closing listeners too (a WebSocket close frame
   * may wait behind ring views). Returns true when it did.
   */
  private expireIfOld(l: Listener, ring: ChunkRing): boolean {
    const f = l.flow;
    if (f.lowSeq < 0) return false;
    const layout = ring.layout;
    const guardSlots = Math.ceil((RING_VIEW_GUARD_MS * SAMPLE_RATE) / 1000 / layout.chunkFrames);
    if (ring.published() + guardSlots < f.lowSeq + layout.slots) return false;
    this.observer.listenerDropped(l.transport, 'expired');
    if (l.closed) l.socket.resetAndDestroy();
    else l.kick('expired');
    return true;
  }

  /**
   * Writes one chunk to one listener unless it is over its bound. Returns true if sent.
   *
   * Bounds, checked before every chunk (no allocation):
   *  - ring-view age: a socket whose oldest queued ring view (`flow.lowSeq`) belongs to a slot the
   *    engine rewrites within RING_VIEW_GUARD_MS is reset at once, so stale ring bytes are never sent;
   *  - user-space queue over `listenerQueueBytes`, or lag (kernel + user-space queued bytes, in
   *    seconds of this listener's stream) over `maxListenerLagMs`: the chunk is skipped (the next one
   *    is flagged), so a slow reader stays within a bounded distance of live;
   *  - over the bound and draining nothing for `stallTimeoutMs`: the listener is reset (stalled).
   */
  write(
    l: Listener,
    ring: ChunkRing,
    seq: number,
    bytes: Buffer,
    nowMs: number,
    tier = ring.layout.defaultTier,
  ): boolean {
    const socket = l.socket;
    if (socket.destroyed) return false;
    const f = l.flow;
    const userQueued = socket.writableLength;
    if (userQueued === 0) f.drained();
    else if (this.expireIfOld(l, ring)) return false;
    if (l.closed || !socket.writable) return false;
    const queued = f.kernelQueued + userQueued;
    const lagMs = f.chunkBytes > 0 ? (queued / f.chunkBytes) * this.chunkSeconds * 1000 : 0;
    const opus = l.transport === 'ogg' || (l.transport === 'ws' && l.codec === 'opus');
    const bound = opus ? (this.tierQueueBytes[tier] ?? this.queueBytes) : this.queueBytes;
    if (userQueued > bound || lagMs > this.maxLagMs) {
      l.skipped++;
      l.discontinuity = true;
      l.nextSeq = seq + 1;
      this.observer.listenerSkipped(l.transport);
      if (l.overSinceMs === 0 || queued < f.overQueued) {
        // Over the bound for the first time, or it drained something since: (re)start the clock.
        l.overSinceMs = nowMs;
        f.overQueued = queued;
      } else if (nowMs - l.overSinceMs > this.stallTimeoutMs) {
        this.observer.listenerDropped(l.transport, 'stalled');
        l.kick('stalled');
      }
      return false;
    }
    l.overSinceMs = 0;
    let out = bytes;
    if (l.discontinuity) {
      if (l.transport === 'ws') {
        // Rare path (after a skip): a private copy with the flag set; the shared bytes stay as they are.
        out = Buffer.from(bytes);
        // The tier bits (4–7) stay as they are.
        const headerAt =
          (l.codec === 'opus' ? ring.opusRegion(seq, tier) : ring.pcmRegion(seq)) + WS_PREFIX_BYTES;
        const frameStart = l.codec === 'opus' ? ring.opusFrameStart(seq, tier) : ring.pcmFrameStart(seq);
        out[headerAt - frameStart + 3]! |= 1;
      }
      l.discontinuity = false;
    }
    if (out.length === 0) {
      // An MP3 chunk rendered before the station's MP3 encoder started: nothing to send.
      l.nextSeq = seq + 1;
      return false;
    }
    if (tier !== l.tier && tier === l.wantTier) {
      // The first chunk of the tier the listener asked for: it is told right before it.
      const from = l.tier!;
      l.tier = tier;
      l.tierSwitched?.(seq, from);
    }
    if (l.icy) this.writeIcy(l, out);
    else socket.write(out, f.onWritten);
    f.wrote(seq, out.length);
    l.sent++;
    l.nextSeq = seq + 1;
    return true;
  }

  /**
   * Writes an MP3 chunk to a listener that takes ICY metadata: the audio as is while no metadata
   * point falls inside it; else the audio up to the point, the station's shared metadata block,
   * then the rest (two views of the ring, once every `metaint` bytes). The last write carries the
   * listener's ring-write callback, as every other ring write does (writes complete in order).
   */
  private writeIcy(l: Listener, out: Buffer): void {
    const socket = l.socket;
    const c = l.icy!;
    const n = out.length;
    let at = 0;
    while (n - at >= c.untilMeta) {
      const cut = at + c.untilMeta;
      socket.write(at === 0 && cut === n ? out : out.subarray(at, cut));
      at = cut;
      c.untilMeta = c.metaint;
      socket.write(c.nextBlock(), at === n ? l.flow.onWritten : undefined);
    }
    if (at < n) {
      socket.write(at === 0 ? out : out.subarray(at), l.flow.onWritten);
      c.untilMeta -= n - at;
    }
  }

  /**
   * Sends a new listener the newest `count` chunks that are already due (a burst that fills its
   * buffer at once), then it follows the live broadcast.
   */
  burst(st: Station, l: Listener, count: number): void {
    const ring = st.engine.ring;
    this.sampler?.add(l);
    const first = Math.max(0, st.nextSeq - count);
    l.nextSeq = first;
    let sent = 0;
    const opus = l.transport === 'ogg' || (l.transport === 'ws' && l.codec === 'opus');
    for (let seq = first; seq < st.nextSeq; seq++) {
      if (!ring.pin(seq)) continue;
      const tier = opus ? tierToSend(l, ring, seq) : ring.layout.defaultTier;
      if (this.write(l, ring, seq, this.bytesFor(l, ring, seq, tier), monoNowMs(), tier)) sent++;
    }
    l.nextSeq = st.nextSeq;
    if (sent > 0) this.observer.listenerSent(l.transport, sent);
  }

  private bytesFor(l: Listener, ring: ChunkRing, seq: number, tier: number): Buffer {
    const sab = ring.sab;
    if (l.transport === 'ws') {
      return l.codec === 'opus'
        ? Buffer.from(sab, ring.opusFrameStart(seq, tier), ring.opusFrameLength(seq, tier))
        : Buffer.from(sab, ring.pcmFrameStart(seq), ring.pcmFrameLength(seq));
    }
    if (l.transport === 'ogg') {
      return Buffer.from(sab, ring.oggPageStart(seq, tier), ring.oggPageLength(seq, tier));
    }
    if (l.transport === 'mp3') return Buffer.from(sab, ring.mp3Region(seq), ring.mp3Length(seq));
    const wavStart = ring.pcmRegion(seq) + WS_PREFIX_BYTES + CHUNK_HEADER_BYTES;
    return Buffer.from(sab, wavStart, ring.pcmFrameStart(seq) + ring.pcmFrameLength(seq) - wavStart);
  }
}
