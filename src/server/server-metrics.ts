import { ClientStatsTracker } from '../metrics/client-stats.ts';
import { createMetrics, type AuralisMetrics, type ControlResult } from '../metrics/metrics.ts';
import { startRuntimeMonitors, type RuntimeMonitors } from '../metrics/runtime-monitors.ts';
import type { DropReason, StationStats } from '../engine/messages.ts';
import type { Listener, Transport } from './broadcast/listener.ts';
import { TRANSPORT_NAMES } from './broadcast/pacer.ts';
import { offeredTiers } from './broadcast/tiers.ts';
import type { ServerConfig } from './config.ts';
import type { ServerContext } from './context.ts';
import type { ControlSource } from './control.ts';
import type { Station } from './station.ts';
import { monoNowMs } from '../engine/clock.ts';

/** How often gauges that are cheaper to poll than to push (ring fill) are refreshed. */
const POLL_INTERVAL_MS = 1000;

/**
 * The `station` label every personal session shares: a personal session's id is a capability and
 * must not be listed on `/metrics`. Not a valid station id, so no shared station can take it.
 */
export const PERSONAL_STATION_LABEL = '(personal)';

function labelOf(st: Station): string {
  return st.personal ? PERSONAL_STATION_LABEL : st.id;
}

/**
 * Turns the server's events into the Prometheus metrics of src/metrics (docs/metrics.md).
 * Per-chunk work is one counter increment and one histogram observation per station and transport,
 * never per listener: with 5,000 listeners the send loop must stay the only per-listener cost.
 */
export class ServerMetrics {
  readonly m: AuralisMetrics;
  private readonly config: ServerConfig;
  private monitors: RuntimeMonitors | null = null;
  private poll: NodeJS.Timeout | null = null;
  private readonly clients = new WeakMap<Listener, ClientStatsTracker>();
  /** Whether the shared personal label has series (released once no personal session is left). */
  private personalLabelled = false;

  /** `logLinesDropped`: the log destination's drop count, exposed as auralis_log_lines_dropped_total. */
  constructor(config: ServerConfig, logLinesDropped?: () => number) {
    this.config = config;
    this.m = createMetrics({ maxStationLabels: 50, logLinesDropped });
  }

  get contentType(): string {
    return this.m.contentType;
  }

  start(ctx: ServerContext): void {
    this.monitors = startRuntimeMonitors(this.m, {
      leakThresholdBytesPerHour: this.config.leakThresholdMbPerHour * 1024 * 1024,
    });
    const poll = (): void => {
      const now = monoNowMs();
      const stations = ctx.registry.all();
      this.m.stations.set(stations.length);
      this.m.idleStations.set(ctx.registry.idleCount);
      let mp3 = 0;
      for (const st of stations) if (st.engine.mp3Encoding) mp3++;
      this.m.mp3EncodingStations.set(mp3);
      // Every station's ring has the offered tiers, in that order.
      for (const [i, kbps] of offeredTiers(this.config).entries()) {
        let n = 0;
        for (const st of stations) if ((st.engine.opusTiersEncoding & (1 << i)) !== 0) n++;
        this.m.opusTierStations.set({ kbps: String(kbps) }, n);
      }
      // Personal sessions report the least-buffered of them (the one closest to a gap).
      let personalMs = Infinity;
      for (const st of stations) {
        if (!st.live) {
          // Idle: nothing rendered and nothing due, so not behind either.
          if (!st.personal) this.m.clearRingBuffered(st.id);
          continue;
        }
        const ms = st.bufferedMs(now, this.config.leadMs);
        if (st.personal) personalMs = Math.min(personalMs, ms);
        else this.m.recordRingBuffered(st.id, ms / 1000);
      }
      if (personalMs !== Infinity) this.m.recordRingBuffered(PERSONAL_STATION_LABEL, personalMs / 1000);
      else if (this.personalLabelled) this.m.releaseStation(PERSONAL_STATION_LABEL);
      this.personalLabelled = personalMs !== Infinity;
    };
    poll();
    this.poll = setInterval(poll, POLL_INTERVAL_MS);
    this.poll.unref();
  }

  /** Stops the monitors, the poll timer and the default metrics' histogram and GC observer. Idempotent. */
  stop(): void {
    this.monitors?.stop();
    this.monitors = null;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    this.m.close();
  }

  /** The memory monitor's current growth fit (null before start). */
  memorySnapshot(): ReturnType<RuntimeMonitors['memory']['snapshot']> | null {
    return this.monitors?.memory.snapshot() ?? null;
  }

  expose(): Promise<string> {
    return this.m.metricsText();
  }

  /** A shared station's series go with it; the personal label goes when the last session does. */
  stationRemoved(st: Station): void {
    if (!st.personal) this.m.releaseStation(st.id);
  }

  controlLatency(_source: ControlSource, seconds: number): void {
    const nowMs = Date.now();
    this.m.recordControlLatency(nowMs, nowMs + seconds * 1000);
  }

  controlChange(source: ControlSource, result: ControlResult): void {
    this.m.recordControlChange(source, result);
  }

  engineStats(stats: StationStats[], find: (id: string) => Station | undefined): void {
    for (const s of stats) {
      const st = find(s.id);
      if (!st) continue;
      const audioSeconds = st.chunkMs / 1000;
      const label = labelOf(st);
      for (const t of s.synthSeconds) this.m.recordSynthesis(label, t, audioSeconds);
      for (const t of s.encodeOpusSeconds) this.m.recordEncode('opus', t);
      for (const t of s.encodePcmSeconds) this.m.recordEncode('pcm', t);
      for (const t of s.encodeMp3Seconds) this.m.recordEncode('mp3', t);
      this.m.recordRingWaits(s.ringWaits, s.ringWaitSeconds);
    }
  }

  tierSwitched(up: boolean): void {
    this.m.tierSwitchesTotal.inc({ direction: up ? 'up' : 'down' });
  }

  workerHeap(worker: number, heapUsedBytes: number): void {
    this.m.recordWorkerHeap(worker, heapUsedBytes);
  }

  workerRestarted(): void {
    this.m.recordWorkerRestart();
  }

  encoderError(): void {
    this.m.recordEncoderError();
  }

  engineDropped(reason: DropReason, count: number): void {
    this.m.recordEngineChunksDropped(reason, count);
  }

  listeners(transport: Transport, delta: number): void {
    this.m.listeners.inc({ transport }, delta);
  }

  clientStats(listener: Listener, bufferedMs: number, underruns: number): void {
    let t = this.clients.get(listener);
    if (!t) {
      t = new ClientStatsTracker(this.m);
      this.clients.set(listener, t);
    }
    t.report({ bufferedMs, underruns });
  }

  /**
   * One chunk went out to a station's listeners. Lateness is measured when the last listener's
   * write was queued (the worst of the station), jitter between successive publications, and the
   * fan-out's own length when the pacer measured it.
   */
  chunkPublished(
    latenessSeconds: number,
    jitterSeconds: number | null,
    sends: Int32Array,
    fanoutSeconds?: number,
  ): void {
    if (fanoutSeconds !== undefined) this.m.recordFanout(fanoutSeconds);
    const nowMs = Date.now();
    for (let i = 0; i < TRANSPORT_NAMES.length; i++) {
      const n = sends[i]!;
      if (n === 0) continue;
      const transport = TRANSPORT_NAMES[i]!;
      // Every listener's write was queued by the end of the loop: each counts with that lateness.
      const dueWallMs = nowMs - latenessSeconds * 1000;
      this.m.recordChunksSent(transport, n, nowMs, dueWallMs);
      if (jitterSeconds !== null) this.m.recordJitter(transport, jitterSeconds);
    }
  }

  listenerLag(transport: Transport, lagSeconds: number): void {
    this.m.recordListenerLag(transport, lagSeconds);
  }

  listenerDropped(transport: Transport, reason: 'stalled' | 'expired'): void {
    this.m.recordListenerDropped(transport, reason);
  }

  skipped(transport: Transport): void {
    this.m.recordChunksSkipped(transport);
  }

  sent(transport: Transport, n: number): void {
    const nowMs = Date.now();
    this.m.recordChunksSent(transport, n, nowMs, nowMs);
  }
}
