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
 * Paced fan-out. Writing one chunk to thousands of sockets takes tens of milliseconds (a `write`
 * syscall each, about 10 µs on loopback), and how long varies from chunk to chunk by a third (the
 * kernel's own work, a GC, another thread on the core). Written as fast as they go, the listeners
 * near the end of the walk would get each chunk with that variation in their spacing (jitter), and
 * the last ones late. So each chunk's walk follows a plan: listener i of the station (in arrival
 * order) is written at `start + i × spacing`, where `spacing` is a high estimate of one write's
 * cost (smoothed mean plus FANOUT_DEVIATIONS mean deviations of each walk's average), and `start` is
 * early enough for the last write to end by the due time: the due time minus the walk's planned
 * length and a high estimate of how late walks end against their plan (the timer's own lateness, a
 * preempted walk). A walk that gets ahead of its plan pauses (a timer) until its next listener's
 * time; one that falls behind writes on at full speed. Each listener so keeps its place in time,
 * chunk after chunk, whatever one walk takes. The head start is at most
 * MAX_SEND_AHEAD_CHUNK_SHARE of a chunk; when the planned walk would need more, the spacing shrinks
 * to fit (and walks then run at full speed, as unplanned ones would).
 */
const FANOUT_SMOOTHING = 1 / 16;
const FANOUT_DEVIATION_SMOOTHING = 1 / 16;
const FANOUT_DEVIATIONS = 2;
/** One write's cost is smoothed slowly: a change of the spacing moves listener i's time by i times it. */
const WRITE_COST_SMOOTHING = 1 / 32;
export const MAX_SEND_AHEAD_CHUNK_SHARE = 0.8;
/** A walk checks its plan every this many listeners, and pauses when it is this far ahead (ms). */
const WALK_CHECK_EVERY = 16;
const WALK_PAUSE_AHEAD_MS = 1;

/** A smoothed estimate (ms), as TCP keeps its round-trip time: mean and mean deviation. */
interface Estimate {
  mean: number;
  dev: number;
}

/** Moves `e` towards the sample `x`, with weight `gain` for the mean and `devGain` for the deviation. */
function update(e: Estimate, x: number, gain: number, devGain: number): void {
  const err = x - e.mean;
  e.mean += err * gain;
  e.dev += (Math.abs(err) - e.dev) * devGain;
}

/** A high estimate: the mean plus FANOUT_DEVIATIONS mean deviations. */
const high = (e: Estimate): number => e.mean + FANOUT_DEVIATIONS * e.dev;

/** `oldest`, lowered to the oldest chunk `l`'s open socket may still queue a view of (the ring's hold). */
function heldBy(l: Listener, oldest: number): number {
  const low = l.flow.lowSeq;
  return low >= 0 && low < oldest && !l.socket.destroyed ? low : oldest;
}

/**
 * What the pacer keeps per station: its estimates, and the walk of the chunk it is sending.
 * Allocated once per station; a chunk's walk reuses it.
 */
interface Fanout {
  /** How late walks end against their plan. */
  readonly late: Estimate;
  /** One listener's write, from each walk's average; null until the first walk. */
  write: Estimate | null;
  /** The chunk being walked, or -1. */
  seq: number;
  /** The listeners it walks (the station's ListenerSet array at its start) and the set's version then. */
  list: readonly Listener[];
  version: number;
  /** The next listener to write (its index in `list`). */
  index: number;
  /** Planned time of the first write, and between two listeners' writes (monotonic ms). */
  startMs: number;
  spacingMs: number;
  /** A paused walk goes on at this time. */
  resumeAtMs: number;
  /** When its first write began, and the time spent writing (pauses excluded). */
  firstWriteMs: number;
  writingMs: number;
  /** The oldest chunk a walked socket may still queue a view of (for the ring's hold). */
  oldest: number;
  /** Listeners reached per transport (TRANSPORT_INDEX). */
  readonly sends: Int32Array;
  /** The chunk's bytes for PCM WebSocket, WAV and MP3 listeners (views of the ring). */
  pcm: Buffer;
  wav: Buffer;
  mp3: Buffer;
}

const NO_BYTES = Buffer.alloc(0);

function newFanout(): Fanout {
  return {
    late: { mean: 0, dev: 0 },
    write: null,
    seq: -1,
    list: [],
    version: -1,
    index: 0,
    startMs: 0,
    spacingMs: 0,
    resumeAtMs: 0,
    firstWriteMs: 0,
    writingMs: 0,
    oldest: HOLD_NONE,
    sends: new Int32Array(TRANSPORT_NAMES.length),
    pcm: NO_BYTES,
    wav: NO_BYTES,
    mp3: NO_BYTES,
  };
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
    if (!this.fanouts.has(station)) this.fanouts.set(station, newFanout());
    this.schedule();
  }

  remove(station: Station): void {
    this.stations.delete(station);
    this.fanouts.delete(station);
  }

  /**
   * How early (ms) the station's next walk starts: its planned length (listeners × spacing) plus a
   * high estimate of how late walks end against their plan, at most MAX_SEND_AHEAD_CHUNK_SHARE of a
   * chunk. Sets `f.spacingMs` for that walk.
   */
  sendAheadMs(station: Station): number {
    const f = this.fanouts.get(station);
    if (!f) return 0;
    const cap = station.chunkMs * MAX_SEND_AHEAD_CHUNK_SHARE;
    const margin = Math.min(cap, Math.max(0, high(f.late)));
    const n = station.listeners.size;
    let spacing = f.write === null ? 0 : high(f.write);
    if (n > 0 && margin + n * spacing > cap) spacing = (cap - margin) / n;
    f.spacingMs = spacing;
    return margin + n * spacing;
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
      for (const st of this.stations) {
        if (!st.live) continue;
        const f = this.fanouts.get(st)!;
        next = Math.min(
          next,
          f.seq >= 0 ? f.resumeAtMs : st.dueMs(st.nextSeq, this.leadMs) - this.sendAheadMs(st),
        );
      }
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
      const f = this.fanouts.get(st)!;
      let now = monoNowMs();
      if (f.seq >= 0) {
        // A paused walk: on at its next listener's time, and the next chunk only after it.
        if (now < f.resumeAtMs || !this.walk(st, f)) continue;
        published = true;
        now = monoNowMs();
      }
      const ring = st.engine.ring;
      if (now - st.dueMs(st.nextSeq, this.leadMs) > MAX_CATCH_UP_CHUNKS * st.chunkMs) {
        const jumpTo = Math.floor((now - st.dueMs(0, this.leadMs)) / st.chunkMs);
        st.nextSeq = jumpTo;
        for (const l of st.listeners) l.discontinuity = true;
      }
      let aheadMs = this.sendAheadMs(st);
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
        st.nextSeq++;
        this.begin(st, f, seq, aheadMs);
        if (!this.walk(st, f)) break; // paused: the rest of it on a later tick
        published = true;
        now = monoNowMs();
        aheadMs = this.sendAheadMs(st);
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

  /** Starts the walk of chunk `seq` (pinned) to the station's listeners, planned from `aheadMs`. */
  private begin(st: Station, f: Fanout, seq: number, aheadMs: number): void {
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
    f.pcm = Buffer.from(sab, ring.pcmFrameStart(seq), ring.pcmFrameLength(seq));
    const wavStart = ring.pcmRegion(seq) + WS_PREFIX_BYTES + CHUNK_HEADER_BYTES;
    f.wav = Buffer.from(sab, wavStart, ring.pcmFrameStart(seq) + ring.pcmFrameLength(seq) - wavStart);
    // MP3 frames exist only while the station has MP3 listeners (otherwise the length is 0).
    f.mp3 = Buffer.from(sab, ring.mp3Region(seq), ring.mp3Length(seq));
    f.sends.fill(0);
    f.seq = seq;
    f.list = st.listeners.array();
    f.version = st.listeners.version;
    f.index = 0;
    f.startMs = st.dueMs(seq, this.leadMs) - aheadMs;
    f.writingMs = 0;
    f.oldest = HOLD_NONE;
  }

  /**
   * Writes the walk's listeners in order, each at its planned time or later; pauses (returns false,
   * `resumeAtMs` set) when it gets ahead of the plan, else finishes the chunk (returns true).
   */
  private walk(st: Station, f: Fanout): boolean {
    const ring = st.engine.ring;
    const def = ring.layout.defaultTier;
    const seq = f.seq;
    const list = f.list;
    const frames = st.tierFrames;
    const pages = st.tierPages;
    const sends = f.sends;
    const from = f.index;
    const segmentStart = monoNowMs();
    if (from === 0) f.firstWriteMs = segmentStart;
    let oldest = f.oldest;
    for (let i = from; i < list.length; i++) {
      if (i > from && i % WALK_CHECK_EVERY === 0) {
        const now = monoNowMs();
        const at = f.startMs + i * f.spacingMs;
        if (at - now > WALK_PAUSE_AHEAD_MS) {
          f.index = i;
          f.oldest = oldest;
          f.writingMs += now - segmentStart;
          f.resumeAtMs = at;
          return false;
        }
      }
      const l = list[i]!;
      if (l.nextSeq > seq) {
        // Joined after this chunk was due (its burst had it), or already sent: only its hold counts.
        oldest = heldBy(l, oldest);
        continue;
      }
      const t = l.transport;
      let tier = def;
      let bytes: Buffer;
      if (t === 'ogg' || (t === 'ws' && l.codec === 'opus')) {
        tier = tierToSend(l, ring, seq);
        bytes = (t === 'ws' ? frames[tier] : pages[tier]) ?? this.bytesFor(l, ring, seq, tier);
      } else bytes = t === 'ws' ? f.pcm : t === 'wav' ? f.wav : f.mp3;
      if (this.write(l, ring, seq, bytes, segmentStart, tier)) sends[TRANSPORT_INDEX[l.transport]]!++;
      oldest = heldBy(l, oldest);
    }
    const end = monoNowMs();
    f.writingMs += end - segmentStart;
    if (st.listeners.version !== f.version) {
      // Listeners joined during a paused walk: their bursts' views count for the hold too.
      for (const l of st.listeners) oldest = heldBy(l, oldest);
    }
    ring.release(oldest);
    this.finish(st, f, end);
    return true;
  }

  /** A chunk's walk has ended at `end`: the estimates, the metrics, the `now` events. */
  private finish(st: Station, f: Fanout, end: number): void {
    const seq = f.seq;
    const n = f.list.length;
    f.seq = -1;
    f.pcm = f.wav = f.mp3 = NO_BYTES;
    // How late the walk ended against its plan (timer lateness and preemption included); at most
    // one chunk, so a stall the pacer catches up on does not dominate the mean.
    const late = Math.min(st.chunkMs, end - (f.startMs + n * f.spacingMs));
    update(f.late, late, FANOUT_SMOOTHING, FANOUT_DEVIATION_SMOOTHING);
    if (n > 0) {
      const perWrite = f.writingMs / n;
      // The first walk starts the estimate from its sample, as TCP does.
      if (f.write === null) f.write = { mean: perWrite, dev: perWrite / 2 };
      else update(f.write, perWrite, WRITE_COST_SMOOTHING, WRITE_COST_SMOOTHING);
    }
    st.hls?.chunk(seq); // the HLS segmenter copies the chunk's MP3 frames (src/server/hls/)
    // The last listener's write was queued at `end`: the station's worst lateness for this chunk.
    const latenessSeconds = (end - st.dueMs(seq, this.leadMs)) / 1000;
    this.observer.chunkPublished(st, seq, latenessSeconds, f.sends, (end - f.firstWriteMs) / 1000);
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
