/**
 * The player's adaptive bitrate: which Opus tier to ask the server for (PROTOCOL.md, "Bitrate
 * tiers"). Pure: no DOM, no timers; the player feeds it one observation per chunk and sends the
 * `bitrate` message when it returns a tier.
 *
 * Signals, per chunk:
 * - queueing delay: arrival time − the header's play time, minus its minimum over the last
 *   DELAY_WINDOW_MS. The two clocks (performance.now, the server's Unix ms) differ by a constant
 *   that the minimum removes; what is left grows while the link carries less than the stream (the
 *   backlog waits in a queue somewhere) and stays near 0 while it carries it all. The delay is
 *   judged "sustained" as the minimum over the arrivals of the last SUSTAIN_MS, and only when those
 *   arrivals span at least half of it: the burst that follows a stall (every late chunk at once,
 *   the newest near live) never counts, a queue that keeps growing does.
 * - delivered throughput: bytes that arrived over the last THROUGHPUT_WINDOW_MS (bytes/s). While the
 *   link is the bottleneck this is its rate.
 * - the playout buffer's fill and target, and its underrun count.
 *
 * Rules:
 * - Down at once when the sustained delay exceeds the least delay seen since the last tier change by
 *   CONGESTION_DELAY_MS (at the first change, since the connection started: the delay's own floor),
 *   or when the buffer is below LOW_WATER of its target (or underran) while that delay has grown by
 *   half as much. It goes to the highest tier whose rate × HEADROOM is under the measured
 *   throughput, and at least one tier down. A further step waits for the delay to grow again above
 *   the least delay seen after the change: the backlog of the old tier drains first.
 * - Up one tier (a probe) once the link has been healthy (sustained delay under HEALTHY_DELAY_MS,
 *   buffer at least HEALTHY_BUFFER of its target) for HEALTHY_FOR_MS and the hold has passed: the
 *   hold is HOLD_AFTER_DOWN_MS after a step down, ×HOLD_GROWTH after each failed probe in a row (at
 *   most MAX_HOLD_MS), and NEXT_PROBE_AFTER_UP_MS after a probe that held. A probe fails when, within
 *   PROBE_CONFIRM_MS of the new tier's arrival, the sustained delay rises PROBE_GROWTH_MS above what
 *   it was before, or the buffer underruns: back down at once. Auto never goes above its ceiling,
 *   the tier the server gave the first connection (the operator's default).
 * - A manual tier overrides all of this until Auto is chosen again.
 *
 * Worst case from a cap lifting to the ceiling, two tiers up: MAX_HOLD_MS + a switch (~0.3 s) +
 * NEXT_PROBE_AFTER_UP_MS + a switch ≈ 24 s (23.5 s in test/client/abr.test.ts's simulation).
 */
export const DELAY_WINDOW_MS = 10_000;
export const SUSTAIN_MS = 400;
export const THROUGHPUT_WINDOW_MS = 1000;
export const CONGESTION_DELAY_MS = 250;
export const LOW_WATER = 0.35;
/** Tier rate × this must fit under the measured throughput to be chosen on the way down. */
export const HEADROOM = 1.25;
export const HEALTHY_DELAY_MS = 60;
export const HEALTHY_BUFFER = 0.8;
export const HEALTHY_FOR_MS = 2000;
export const HOLD_AFTER_DOWN_MS = 8000;
export const HOLD_GROWTH = 1.5;
export const MAX_HOLD_MS = 18_000;
export const NEXT_PROBE_AFTER_UP_MS = 5000;
export const PROBE_CONFIRM_MS = 3000;
export const PROBE_GROWTH_MS = 60;
/** The delay judged over a probe: arrivals of the last PROBE_SUSTAIN_MS (quicker than SUSTAIN_MS). */
export const PROBE_SUSTAIN_MS = 250;
/** No decision in the first WARMUP_MS of a connection (its burst, the page's own start-up). */
export const WARMUP_MS = 1000;
/** A requested switch the server has not confirmed within this is taken as not happening. */
export const SWITCH_TIMEOUT_MS = 4000;
/** 10 s of 20 ms chunks, with room to spare. */
const CAPACITY = 1024;

export type AbrMode = 'auto' | 'manual';
export type AbrReason = 'congestion' | 'low-buffer' | 'probe' | 'probe-failed' | 'manual' | 'auto';

/** One chunk as the player saw it; the player reuses one object (no allocation per chunk). */
export interface ChunkObservation {
  /** performance.now() when the chunk arrived. */
  arrivalMs: number;
  /** The header's play time (server clock, Unix ms). */
  playTimeMs: number;
  sequence: number;
  /** The whole WebSocket message (header + payload). */
  bytes: number;
  /** The playout buffer's latest fill and target, and its underruns so far. */
  bufferedMs: number;
  targetMs: number;
  underruns: number;
}

/** Bytes per second of a tier's Opus stream (the headers are left to HEADROOM). */
export const tierBytesPerS = (kbps: number): number => (kbps * 1000) / 8;

export class AbrController {
  private tierList: number[] = [];
  private current = -1;
  private ceiling: number | null = null;
  private manual: number | null = null;
  /** Asked for, not confirmed yet (-1: none), and when. */
  private requested = -1;
  private requestedAtMs = 0;
  private reasonValue: AbrReason = 'auto';

  private readonly arrivals = new Float64Array(CAPACITY);
  private readonly delays = new Float64Array(CAPACITY);
  private readonly sizes = new Float64Array(CAPACITY);
  private head = 0;
  private count = 0;
  private lastSequence = -1;
  private warmUntilMs = -Infinity;
  private lastUnderruns = 0;

  /** Least sustained queueing delay since the last tier change (the reference for "growing"). */
  private refDelayMs = Infinity;
  private healthySinceMs: number | null = null;
  private nextProbeAtMs = 0;
  private failedProbes = 0;
  /** A probe on trial: the tier it came from, the delay before it, when its tier arrived. */
  private probeFrom = -1;
  private probeBaselineMs = 0;
  private probeStartMs: number | null = null;

  private delayValue = 0;
  private throughputValue = 0;
  readonly counts = { down: 0, up: 0, failedProbes: 0 };

  // ---- what the server offers ---------------------------------------------------------------

  /**
   * A connection's `welcome`: its tiers (kb/s, ascending; empty for PCM: no adaptation) and the one
   * it gets now. The history of the old connection is dropped (another path, another backlog).
   */
  onWelcome(tiersKbps: readonly number[], kbps: number | null, nowMs: number): void {
    const same =
      tiersKbps.length === this.tierList.length && tiersKbps.every((t, i) => t === this.tierList[i]);
    if (!same) {
      this.tierList = [...tiersKbps];
      this.ceiling = null;
      if (this.manual !== null && !this.tierList.includes(this.manual)) this.manual = null;
    }
    this.current = kbps === null ? -1 : this.tierList.indexOf(kbps);
    if (this.ceiling === null && this.current >= 0) this.ceiling = this.current;
    this.requested = -1;
    this.count = 0;
    this.head = 0;
    this.lastSequence = -1;
    this.warmUntilMs = nowMs + WARMUP_MS;
    this.refDelayMs = Infinity;
    this.healthySinceMs = null;
    this.endProbe();
    this.delayValue = 0;
    this.throughputValue = 0;
  }

  /** The server's `bitrate` answer: this connection gets `kbps` from now on. */
  onSwitched(kbps: number, nowMs: number): void {
    const index = this.tierList.indexOf(kbps);
    if (index < 0) return;
    const wasProbe = this.probeFrom >= 0 && index > this.probeFrom && index === this.requested;
    this.current = index;
    if (index === this.requested) this.requested = -1;
    this.refDelayMs = Infinity;
    this.healthySinceMs = null;
    if (wasProbe) this.probeStartMs = nowMs;
  }

  // ---- manual choice ------------------------------------------------------------------------

  /**
   * The listener's choice: a tier (kb/s) or null for Auto. Returns the tier to ask for now, or
   * null when nothing needs to be sent.
   */
  setManual(kbps: number | null, nowMs: number): number | null {
    if (kbps !== null && !this.tierList.includes(kbps)) return null;
    this.manual = kbps;
    this.endProbe();
    if (kbps === null) {
      // Back to Auto: start from the tier in use, with a fresh health period before any probe.
      this.reasonValue = 'auto';
      this.failedProbes = 0;
      this.healthySinceMs = null;
      this.nextProbeAtMs = nowMs + NEXT_PROBE_AFTER_UP_MS;
      const ceiling = this.ceiling;
      return ceiling !== null && this.current > ceiling ? this.request(ceiling, 'auto', nowMs) : null;
    }
    const index = this.tierList.indexOf(kbps);
    if (index === this.current && this.requested < 0) return null;
    return this.request(index, 'manual', nowMs);
  }

  // ---- per chunk ----------------------------------------------------------------------------

  /** Records one chunk; returns the tier (kb/s) to ask for now, or null. Allocates nothing. */
  onChunk(o: ChunkObservation): number | null {
    if (o.sequence <= this.lastSequence && this.lastSequence - o.sequence < 1 << 30) return null;
    this.lastSequence = o.sequence;
    const now = o.arrivalMs;
    this.arrivals[this.head] = now;
    this.delays[this.head] = now - o.playTimeMs;
    this.sizes[this.head] = o.bytes;
    this.head = (this.head + 1) % CAPACITY;
    if (this.count < CAPACITY) this.count++;
    const underran = o.underruns > this.lastUnderruns;
    this.lastUnderruns = o.underruns;

    const floor = this.windowMin(now, DELAY_WINDOW_MS);
    this.delayValue = this.delays[(this.head - 1 + CAPACITY) % CAPACITY] - floor;
    this.throughputValue = this.measureThroughput(now);
    const sustained = this.sustainedDelay(now, SUSTAIN_MS) - floor;

    if (this.manual !== null || this.tierList.length === 0 || this.current < 0) return null;
    if (now < this.warmUntilMs) return null;
    if (this.requested >= 0) {
      if (now - this.requestedAtMs < SWITCH_TIMEOUT_MS) return null;
      this.requested = -1; // Never confirmed: judge afresh.
      this.endProbe();
    }
    if (Number.isFinite(sustained)) this.refDelayMs = Math.min(this.refDelayMs, sustained);
    const growth =
      Number.isFinite(sustained) && Number.isFinite(this.refDelayMs) ? sustained - this.refDelayMs : 0;

    // A probe on trial: back at once if the delay grows or the buffer runs dry.
    if (this.probeStartMs !== null) {
      const quick = this.sustainedDelay(now, PROBE_SUSTAIN_MS) - floor;
      if (underran || (Number.isFinite(quick) && quick > this.probeBaselineMs + PROBE_GROWTH_MS)) {
        const back = this.probeFrom;
        this.failedProbes++;
        this.counts.failedProbes++;
        const hold = Math.min(MAX_HOLD_MS, HOLD_AFTER_DOWN_MS * HOLD_GROWTH ** this.failedProbes);
        this.nextProbeAtMs = now + hold;
        this.endProbe();
        return this.request(back, 'probe-failed', now);
      }
      if (now - this.probeStartMs >= PROBE_CONFIRM_MS) {
        this.failedProbes = 0;
        this.nextProbeAtMs = this.probeStartMs + NEXT_PROBE_AFTER_UP_MS;
        this.endProbe();
      } else {
        return null;
      }
    }

    // Down: the delay grows, or the buffer is running dry while it grows a little.
    const lowBuffer = underran || (o.targetMs > 0 && o.bufferedMs < LOW_WATER * o.targetMs);
    const congested = growth > CONGESTION_DELAY_MS;
    if ((congested || (lowBuffer && growth > CONGESTION_DELAY_MS / 2)) && this.current > 0) {
      let next = this.current - 1;
      const rate = this.throughputValue;
      if (rate > 0) while (next > 0 && tierBytesPerS(this.tierList[next]) * HEADROOM > rate) next--;
      this.nextProbeAtMs = now + Math.min(MAX_HOLD_MS, HOLD_AFTER_DOWN_MS * HOLD_GROWTH ** this.failedProbes);
      return this.request(next, congested ? 'congestion' : 'low-buffer', now);
    }

    // Up: after a healthy while, one tier, up to the ceiling.
    const healthy =
      Number.isFinite(sustained) &&
      sustained < HEALTHY_DELAY_MS &&
      !underran &&
      (o.targetMs <= 0 || o.bufferedMs >= HEALTHY_BUFFER * o.targetMs);
    if (!healthy) {
      this.healthySinceMs = null;
      return null;
    }
    this.healthySinceMs ??= now;
    const ceiling = this.ceiling ?? this.tierList.length - 1;
    if (this.current < ceiling && now >= this.nextProbeAtMs && now - this.healthySinceMs >= HEALTHY_FOR_MS) {
      this.probeFrom = this.current;
      this.probeBaselineMs = Math.max(0, sustained);
      return this.request(this.current + 1, 'probe', now);
    }
    return null;
  }

  // ---- read-outs ----------------------------------------------------------------------------

  get mode(): AbrMode {
    return this.manual === null ? 'auto' : 'manual';
  }

  /** The listener's fixed tier (kb/s), null in Auto. */
  get manualKbps(): number | null {
    return this.manual;
  }

  get tiers(): readonly number[] {
    return this.tierList;
  }

  /** The tier this connection gets now (kb/s), null when unknown (PCM, an old server). */
  get currentKbps(): number | null {
    return this.current >= 0 ? (this.tierList[this.current] ?? null) : null;
  }

  /** The tier asked for and not yet confirmed, or null. */
  get pendingKbps(): number | null {
    return this.requested >= 0 ? (this.tierList[this.requested] ?? null) : null;
  }

  /** The tier to ask for in a new connection's URL (the current one, or the one asked for). */
  get preferredKbps(): number | null {
    if (this.manual !== null) return this.manual;
    return this.pendingKbps ?? this.currentKbps;
  }

  get ceilingKbps(): number | null {
    return this.ceiling === null ? null : (this.tierList[this.ceiling] ?? null);
  }

  /** Why the latest decision was taken. */
  get reason(): AbrReason {
    return this.reasonValue;
  }

  /** The latest chunk's queueing delay above the window's floor, ms. */
  get queueingDelayMs(): number {
    return this.delayValue;
  }

  /** Bytes/s delivered over the last THROUGHPUT_WINDOW_MS. */
  get throughputBytesPerS(): number {
    return this.throughputValue;
  }

  get probing(): boolean {
    return this.probeFrom >= 0;
  }

  // ---- internals ----------------------------------------------------------------------------

  private request(index: number, reason: AbrReason, nowMs: number): number {
    this.requested = index;
    this.requestedAtMs = nowMs;
    this.reasonValue = reason;
    if (reason === 'probe') this.counts.up++;
    else if (reason !== 'manual') this.counts.down++;
    return this.tierList[index];
  }

  private endProbe(): void {
    this.probeFrom = -1;
    this.probeStartMs = null;
  }

  /** Least delay over the arrivals of the last `spanMs` (all arrivals with a time ≥ now − span). */
  private windowMin(nowMs: number, spanMs: number): number {
    let min = Infinity;
    for (let i = 0; i < this.count; i++) {
      const idx = (this.head - 1 - i + CAPACITY) % CAPACITY;
      if (nowMs - this.arrivals[idx] > spanMs) break;
      if (this.delays[idx] < min) min = this.delays[idx];
    }
    return min;
  }

  /**
   * Least delay over the last `spanMs` of arrivals, Infinity when those arrivals span less than half
   * of it (a burst, or too few chunks to tell).
   */
  private sustainedDelay(nowMs: number, spanMs: number): number {
    let min = Infinity;
    let oldest = nowMs;
    let n = 0;
    for (let i = 0; i < this.count; i++) {
      const idx = (this.head - 1 - i + CAPACITY) % CAPACITY;
      const age = nowMs - this.arrivals[idx];
      if (age > spanMs) {
        // Include the arrival just before the span when it closes a gap (arrivals sparser than it).
        if (n < 2) {
          oldest = this.arrivals[idx];
          if (this.delays[idx] < min) min = this.delays[idx];
          n++;
        }
        break;
      }
      oldest = this.arrivals[idx];
      if (this.delays[idx] < min) min = this.delays[idx];
      n++;
    }
    return n >= 2 && nowMs - oldest >= spanMs / 2 ? min : Infinity;
  }

  private measureThroughput(nowMs: number): number {
    let bytes = 0;
    let oldest = nowMs;
    let n = 0;
    for (let i = 0; i < this.count; i++) {
      const idx = (this.head - 1 - i + CAPACITY) % CAPACITY;
      if (nowMs - this.arrivals[idx] > THROUGHPUT_WINDOW_MS) break;
      // The oldest arrival opens the interval: its bytes came before it.
      if (n > 0) bytes += this.sizes[(idx + 1) % CAPACITY];
      oldest = this.arrivals[idx];
      n++;
    }
    const span = nowMs - oldest;
    return n >= 3 && span >= THROUGHPUT_WINDOW_MS / 2 ? (bytes / span) * 1000 : 0;
  }
}
