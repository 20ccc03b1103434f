// The Prometheus registry of one Auralis process: every auralis_* metric, typed, plus Node's defaults.
//
// Each call makes its own Registry (never prom-client's global one) so tests and benchmarks can hold several.
// Label cardinality is bounded by construction: transports, codecs, control sources/results and GC kinds are
// closed enums; stations go through stationLabel(), which caps distinct station labels; nothing is labelled
// per listener. docs/metrics.md documents every metric here, and test/metrics/registry.test.ts keeps the two
// in step.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerDefaultMetrics, type DefaultMetrics } from './default-metrics.ts';
import { FixedLabelCounter, FixedLabelHistogram } from './fixed-label-metrics.ts';

export type Transport = 'ws' | 'ogg' | 'wav' | 'mp3';
export type Codec = 'opus' | 'pcm' | 'mp3';
export type ControlSource = 'api' | 'listener' | 'preset' | 'schedule';
export type ControlResult = 'ok' | 'rejected' | 'rate_limited' | 'forbidden';
export type GcKind = 'minor' | 'major' | 'incremental' | 'weakcb';
export type MemoryKind = 'rss' | 'heap';
/** Why the engine dropped a chunk: its encoding failed, or it was overdue after a stop. */
export type ChunkDropReason = 'encode' | 'late';
const CHUNK_DROP_REASONS: readonly ChunkDropReason[] = ['encode', 'late'];

export const TRANSPORTS: readonly Transport[] = ['ws', 'ogg', 'wav', 'mp3'];
export const CODECS: readonly Codec[] = ['opus', 'pcm', 'mp3'];
export type HlsRequestKind = 'master' | 'media' | 'segment';
export const HLS_REQUEST_KINDS: readonly HlsRequestKind[] = ['master', 'media', 'segment'];
export const CONTROL_SOURCES: readonly ControlSource[] = ['api', 'listener', 'preset', 'schedule'];
export const CONTROL_RESULTS: readonly ControlResult[] = ['ok', 'rejected', 'rate_limited', 'forbidden'];
export const GC_KINDS: readonly GcKind[] = ['minor', 'major', 'incremental', 'weakcb'];
export const MEMORY_KINDS: readonly MemoryKind[] = ['rss', 'heap'];
/** Why a listener was dropped by the pacer: it stalled, or it pinned ring bytes about to be reused. */
export type ListenerDropReason = 'stalled' | 'expired';
export const LISTENER_DROP_REASONS: readonly ListenerDropReason[] = ['stalled', 'expired'];

/** Label value shared by every station beyond the first maxStationLabels. */
export const OTHER_STATION_LABEL = 'other';
export const DEFAULT_MAX_STATION_LABELS = 50;
/** Hard ceiling on the option itself: a typo must not open the door to unbounded series. */
export const MAX_STATION_LABELS_LIMIT = 1000;

// Buckets in seconds. Synthesis: one 100 ms chunk must render in well under its own length; the goal of
// ≥ 200× real time puts a healthy render near 0.5 ms, so 0.1 ms … 100 ms spans "excellent" to "falling behind".
export const SYNTHESIS_BUCKETS_SECONDS = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1];
// Opus ran about 170× real time per core here: ~0.6 ms per 100 ms chunk; PCM16 conversion is far less.
export const ENCODE_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
];
// Goals: p99 ≤ 5 ms for one listener, ≤ 50 ms for 5,000 (docs/performance/); the tail up to 5 s shows stalls.
export const LATENESS_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5,
];
// One chunk's paced walk over a station's listeners: ~10–12 µs each, so 5,000 take ~60 ms; fine steps
// there, up to where the pacer's send-ahead (at most 80 % of a chunk) runs out.
export const FANOUT_BUCKETS_SECONDS = [
  0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.2,
];
// Goal: p95 jitter ≤ 2 ms for one listener; the seed's limit is 20 ms.
export const JITTER_BUCKETS_SECONDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5];
// A change is audible at the next bar line: at 40 bpm in 4/4 a bar lasts 6 s.
export const CONTROL_LATENCY_BUCKETS_SECONDS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 4, 8, 16];
// How far behind live a listener's socket is (kernel + user-space queue); the default skip bound is 4 s.
export const LISTENER_LAG_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32];
// A player's jitter buffer: tens of ms (tight) to seconds (fallback players).
export const CLIENT_BUFFER_BUCKETS_SECONDS = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10];
// Scavenges take ~0.1–2 ms, mark-sweeps more; prom-client's default GC buckets start at 1 ms, too coarse.
export const GC_PAUSE_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];

/** A player never reports more buffer than this; anything above is clamped (a bogus client can't skew sums). */
export const MAX_CLIENT_BUFFER_SECONDS = 60;
/** Worker label values of auralis_worker_heap_used_bytes: indexes 0 … 63 (the worker count is far below). */
export const MAX_WORKER_LABELS = 64;

/** Weight of the newest chunk in the smoothed real-time factor (about the last 10 chunks dominate). */
const REALTIME_FACTOR_SMOOTHING = 0.1;

export interface MetricsOptions {
  /** Distinct station label values before the rest share `other` (default 50, at most 1000). */
  maxStationLabels?: number;
  /** Register Node's default metrics (GC, event-loop lag, heap, CPU) on this registry (default true). */
  collectDefault?: boolean;
  /** Lines the log destination has dropped so far (read at each scrape); none when absent. */
  logLinesDropped?: () => number;
}

export interface AuralisMetrics {
  readonly registry: Registry;
  /** Value for the Content-Type header of GET /metrics. */
  readonly contentType: string;

  readonly synthesisSeconds: Histogram<'station'>;
  readonly realtimeFactor: Gauge<'station'>;
  readonly encodeSeconds: Histogram<'codec'>;
  /** Per-listener hot path: a fixed-label histogram (see fixed-label-metrics.ts), labelled by transport. */
  readonly chunkLatenessSeconds: FixedLabelHistogram<Transport>;
  readonly chunkJitterSeconds: FixedLabelHistogram<Transport>;
  readonly fanoutSeconds: Histogram;
  readonly listeners: Gauge<'transport'>;
  readonly chunksSentTotal: FixedLabelCounter<Transport>;
  readonly chunksSkippedTotal: FixedLabelCounter<Transport>;
  readonly listenerLagSeconds: FixedLabelHistogram<Transport>;
  readonly listenersDroppedTotal: Counter<'transport' | 'reason'>;
  readonly ringBufferedSeconds: Gauge<'station'>;
  readonly stations: Gauge;
  /** Stations idle now: nobody listens, so they render and encode nothing (their clock goes on). */
  readonly idleStations: Gauge;
  /** Origin and edge roles (src/cluster/): 1 while the Redis connection is up, 0 while it is not (always 0 for role `all`). */
  readonly redisUp: Gauge;
  /** Chunks an origin published to Redis (`published`), an edge received (`received`) or an origin could not publish (`dropped`). */
  readonly redisChunksTotal: Counter<'direction'>;
  readonly controlChangesTotal: Counter<'source' | 'result'>;
  readonly controlLatencySeconds: Histogram;
  readonly clientUnderrunsTotal: Counter;
  readonly clientBufferSeconds: Histogram;
  readonly workerRestartsTotal: Counter;
  readonly engineChunksDroppedTotal: Counter<'reason'>;
  readonly encoderErrorsTotal: Counter;
  /** Times an engine worker stopped rendering a station because a ring slot was still held (ring.ts, HOLD). */
  readonly ringOverwriteWaitsTotal: Counter;
  readonly ringOverwriteWaitSecondsTotal: Counter;
  readonly mp3EncodingStations: Gauge;
  /** Stations encoding each Opus tier now, by `kbps` (the default tier: every station). */
  readonly opusTierStations: Gauge<'kbps'>;
  /** WebSocket listeners switched to another Opus tier, by `direction` (up, down). */
  readonly tierSwitchesTotal: Counter<'direction'>;
  readonly hlsSegmentsTotal: Counter;
  readonly hlsRequestsTotal: Counter<'kind'>;
  readonly hlsActiveStations: Gauge;
  /** Icecast source pushes (src/relay/), by station and mount: 1 while Icecast accepts the stream. */
  readonly relayConnected: Gauge<'station' | 'mount'>;
  readonly relayReconnectsTotal: Counter<'station' | 'mount'>;
  readonly relayBytesSentTotal: Counter<'station' | 'mount'>;
  readonly relayMetadataUpdatesTotal: Counter<'result'>;
  readonly workerHeapUsedBytes: Gauge<'worker'>;
  readonly memoryGrowthBytesPerHour: Gauge<'kind'>;
  readonly leakSuspected: Gauge;
  readonly gcPauseSeconds: Histogram<'kind'>;
  readonly logLinesDroppedTotal: Counter;

  /** The label value for a station: its id while fewer than maxStationLabels ids hold one, else `other`. */
  stationLabel(stationId: string): string;
  /** Frees the station's label slot and removes its series (call when the station is deleted). */
  releaseStation(stationId: string): void;

  /** One chunk rendered: its wall render time and its audio length; updates the smoothed real-time factor. */
  recordSynthesis(stationId: string, renderSeconds: number, audioSeconds: number): void;
  recordRingBuffered(stationId: string, bufferedSeconds: number): void;
  /** An idle station has no ring_buffered series (it renders nothing, and is not behind). */
  clearRingBuffered(stationId: string): void;
  recordEncode(codec: Codec, seconds: number): void;
  /** One chunk written to one listener. Early sends (send before due) count as lateness 0. */
  recordChunkSent(transport: Transport, sendWallMs: number, dueWallMs: number): void;
  /** `count` listeners got one chunk, all with the same send and due time (one send loop): O(1). */
  recordChunksSent(transport: Transport, count: number, sendWallMs: number, dueWallMs: number): void;
  recordChunksSkipped(transport: Transport, count?: number): void;
  recordJitter(transport: Transport, jitterSeconds: number): void;
  /** One chunk's fan-out: the time from a station's first listener write to its last. */
  recordFanout(seconds: number): void;
  /** One listener's lag behind live, from a queue sample (kernel + user-space queued bytes). */
  recordListenerLag(transport: Transport, lagSeconds: number): void;
  recordListenerDropped(transport: Transport, reason: ListenerDropReason): void;
  recordControlChange(source: ControlSource, result: ControlResult): void;
  /** Request received at requestWallMs; the change is heard at audibleWallMs (effectiveAt as wall time). */
  recordControlLatency(requestWallMs: number, audibleWallMs: number): void;
  recordWorkerRestart(): void;
  recordEngineChunksDropped(reason: ChunkDropReason, count: number): void;
  recordEncoderError(): void;
  /** An engine worker's stats: `waits` new waits for a held ring slot, `seconds` spent waiting. */
  recordRingWaits(waits: number, seconds: number): void;
  /** Engine worker `worker` (its index, 0 … workers − 1) reported its isolate's heap in use; bad input is dropped. */
  recordWorkerHeap(worker: number, heapUsedBytes: number): void;
  recordGcPause(kind: GcKind, pauseSeconds: number): void;

  /** The text exposition (what GET /metrics answers). */
  metricsText(): Promise<string>;
  /**
   * Stops what the default metrics run in the background (an event-loop delay histogram and a GC
   * observer); the registry can still be read. Idempotent.
   */
  close(): void;
}

function isFiniteNonNegative(x: number): boolean {
  return Number.isFinite(x) && x >= 0;
}

/** Caps distinct station ids to a fixed number of label slots; the rest map to `other`. */
class StationLabels {
  private readonly slots = new Set<string>();

  constructor(private readonly max: number) {}

  label(stationId: string): string {
    if (this.slots.has(stationId)) return stationId;
    if (this.slots.size < this.max) {
      this.slots.add(stationId);
      return stationId;
    }
    return OTHER_STATION_LABEL;
  }

  /** True when the id held a slot (and so has its own series to remove). */
  release(stationId: string): boolean {
    return this.slots.delete(stationId);
  }
}

export function createMetrics(opts: MetricsOptions = {}): AuralisMetrics {
  const maxStationLabels = opts.maxStationLabels ?? DEFAULT_MAX_STATION_LABELS;
  if (
    !Number.isInteger(maxStationLabels) ||
    maxStationLabels < 1 ||
    maxStationLabels > MAX_STATION_LABELS_LIMIT
  ) {
    throw new RangeError(
      `maxStationLabels must be an integer between 1 and ${MAX_STATION_LABELS_LIMIT}, got ${maxStationLabels}`,
    );
  }
  const registry = new Registry();
  const registers = [registry];
  let defaults: DefaultMetrics | null = null;
  if (opts.collectDefault ?? true) {
    // Finer GC buckets than prom-client's (which start at 1 ms) so scavenges are visible.
    defaults = registerDefaultMetrics(registry, { gcDurationBuckets: GC_PAUSE_BUCKETS_SECONDS });
  }

  const synthesisSeconds = new Histogram({
    name: 'auralis_synthesis_seconds',
    help: 'Wall time to render one chunk (composition + DSP), by station.',
    labelNames: ['station'] as const,
    buckets: SYNTHESIS_BUCKETS_SECONDS,
    registers,
  });
  const realtimeFactor = new Gauge({
    name: 'auralis_realtime_factor',
    help: 'Audio seconds rendered per compute second, smoothed over about the last 10 chunks, by station.',
    labelNames: ['station'] as const,
    registers,
  });
  const encodeSeconds = new Histogram({
    name: 'auralis_encode_seconds',
    help: 'Wall time to encode one chunk, by codec.',
    labelNames: ['codec'] as const,
    buckets: ENCODE_BUCKETS_SECONDS,
    registers,
  });
  const chunkLatenessSeconds = new FixedLabelHistogram<Transport>({
    name: 'auralis_chunk_lateness_seconds',
    help: 'Send time minus due time of each chunk sent to each listener, by transport; early sends count as 0.',
    labelName: 'transport',
    labelValues: TRANSPORTS,
    buckets: LATENESS_BUCKETS_SECONDS,
    registry,
  });
  const fanoutSeconds = new Histogram({
    name: 'auralis_fanout_seconds',
    help: "Wall time of one chunk's fan-out: from the first to the last write to a station's listeners.",
    buckets: FANOUT_BUCKETS_SECONDS,
    registers,
  });
  const chunkJitterSeconds = new FixedLabelHistogram<Transport>({
    name: 'auralis_chunk_jitter_seconds',
    help: 'Absolute difference between the interval between consecutive sends and the chunk duration, by transport.',
    labelName: 'transport',
    labelValues: TRANSPORTS,
    buckets: JITTER_BUCKETS_SECONDS,
    registry,
  });
  const listeners = new Gauge({
    name: 'auralis_listeners',
    help: 'Connected listeners, by transport.',
    labelNames: ['transport'] as const,
    registers,
  });
  const chunksSentTotal = new FixedLabelCounter<Transport>({
    name: 'auralis_chunks_sent_total',
    help: 'Chunks written to listeners (one per listener per chunk), by transport.',
    labelName: 'transport',
    labelValues: TRANSPORTS,
    registry,
  });
  const chunksSkippedTotal = new FixedLabelCounter<Transport>({
    name: 'auralis_chunks_skipped_total',
    help: 'Chunks skipped for listeners that could not keep up, by transport.',
    labelName: 'transport',
    labelValues: TRANSPORTS,
    registry,
  });
  const listenerLagSeconds = new FixedLabelHistogram<Transport>({
    name: 'auralis_listener_lag_seconds',
    help: "Listeners' distance behind live (kernel + user-space send queue, in seconds of their stream), one observation per listener per queue sample, by transport.",
    labelName: 'transport',
    labelValues: TRANSPORTS,
    buckets: LISTENER_LAG_BUCKETS_SECONDS,
    registry,
  });
  const listenersDroppedTotal = new Counter({
    name: 'auralis_listeners_dropped_total',
    help: 'Listeners disconnected by the server, by transport and reason (stalled, expired).',
    labelNames: ['transport', 'reason'] as const,
    registers,
  });
  const ringBufferedSeconds = new Gauge({
    name: 'auralis_ring_buffered_seconds',
    help: "Audio rendered ahead of real time in the station's ring, by station.",
    labelNames: ['station'] as const,
    registers,
  });
  const stations = new Gauge({
    name: 'auralis_stations',
    help: 'Stations currently rendering (shared and personal).',
    registers,
  });
  const idleStations = new Gauge({
    name: 'auralis_idle_stations',
    help: 'Stations idle now (no listener, no HLS lease, no personal owner): no synthesis, no encoding; included in auralis_stations.',
    registers,
  });
  const redisUp = new Gauge({
    name: 'auralis_redis_up',
    help: 'Origin and edge roles: 1 while the connection to Redis is up, 0 while it is down (reconnecting with back-off); always 0 with role all (no Redis).',
    registers,
  });
  const redisChunksTotal = new Counter({
    name: 'auralis_redis_chunks_total',
    help: 'Origin and edge roles: chunks published to Redis (published), received from it (received), or not published because Redis was down (dropped).',
    labelNames: ['direction'] as const,
    registers,
  });
  const controlChangesTotal = new Counter({
    name: 'auralis_control_changes_total',
    help: 'Parameter change requests, by source (api, listener, preset) and result.',
    labelNames: ['source', 'result'] as const,
    registers,
  });
  const controlLatencySeconds = new Histogram({
    name: 'auralis_control_latency_seconds',
    help: 'From a parameter change request to the moment it is audible (effectiveAt as wall time).',
    buckets: CONTROL_LATENCY_BUCKETS_SECONDS,
    registers,
  });
  const clientUnderrunsTotal = new Counter({
    name: 'auralis_client_underruns_total',
    help: "Underruns reported by players' stats messages (the increase per connection, summed).",
    registers,
  });
  const clientBufferSeconds = new Histogram({
    name: 'auralis_client_buffer_seconds',
    help: 'Audio buffered in players, from their stats messages.',
    buckets: CLIENT_BUFFER_BUCKETS_SECONDS,
    registers,
  });
  const workerRestartsTotal = new Counter({
    name: 'auralis_worker_restarts_total',
    help: 'Engine worker threads restarted after a crash or a stall.',
    registers,
  });
  const engineChunksDroppedTotal = new Counter({
    name: 'auralis_engine_chunks_dropped_total',
    help: 'Chunks the engine did not publish, by reason (encode: encoding failed; late: overdue after a stop).',
    labelNames: ['reason'] as const,
    registers,
  });
  const encoderErrorsTotal = new Counter({
    name: 'auralis_encoder_errors_total',
    help: 'Chunks whose Opus encoding (the encoder is rebuilt and the chunk encoded again) or MP3 encoding (the MP3 encoder is rebuilt, the chunk has no MP3 bytes) threw.',
    registers,
  });
  const ringOverwriteWaitsTotal = new Counter({
    name: 'auralis_ring_overwrite_waits_total',
    help: "Times an engine worker stopped rendering a station (or an edge dropped a chunk from Redis) because the next chunk's ring slot still held bytes a socket may send (the main thread had not released it: its event loop was blocked or a socket's queue was that old).",
    registers,
  });
  const ringOverwriteWaitSecondsTotal = new Counter({
    name: 'auralis_ring_overwrite_wait_seconds_total',
    help: 'Seconds engine workers spent waiting for the main thread to release a ring slot (see auralis_ring_overwrite_waits_total).',
    registers,
  });
  const mp3EncodingStations = new Gauge({
    name: 'auralis_mp3_encoding_stations',
    help: "Stations whose engine worker encodes their MP3 stream now (someone listens to it), as of the workers' last stats (once a second).",
    registers,
  });
  const opusTierStations = new Gauge({
    name: 'auralis_opus_tier_stations',
    help: "Stations whose engine worker encodes each Opus tier (kbps) now, as of the workers' last stats (once a second); the default tier is always encoded.",
    labelNames: ['kbps'] as const,
    registers,
  });
  const tierSwitchesTotal = new Counter({
    name: 'auralis_tier_switches_total',
    help: 'WebSocket listeners switched to a higher (up) or lower (down) Opus tier, counted at the first chunk of the new tier.',
    labelNames: ['direction'] as const,
    registers,
  });
  const hlsSegmentsTotal = new Counter({
    name: 'auralis_hls_segments_total',
    help: 'HLS segments made (one per station every few seconds while its HLS lease is held).',
    registers,
  });
  const hlsRequestsTotal = new Counter({
    name: 'auralis_hls_requests_total',
    help: 'HLS requests answered with a playlist or a segment, by kind (master, media, segment).',
    labelNames: ['kind'] as const,
    registers,
  });
  const relayConnected = new Gauge({
    name: 'auralis_relay_connected',
    help: 'Icecast source pushes (--icecast) by station and mount: 1 while Icecast accepts the stream, 0 while reconnecting.',
    labelNames: ['station', 'mount'] as const,
    registers,
  });
  const relayReconnectsTotal = new Counter({
    name: 'auralis_relay_reconnects_total',
    help: 'Icecast source connection attempts after the first (after a refusal, an error or a lost connection).',
    labelNames: ['station', 'mount'] as const,
    registers,
  });
  const relayBytesSentTotal = new Counter({
    name: 'auralis_relay_bytes_sent_total',
    help: 'Bytes of audio (and stream headers) written to Icecast source connections.',
    labelNames: ['station', 'mount'] as const,
    registers,
  });
  const relayMetadataUpdatesTotal = new Counter({
    name: 'auralis_relay_metadata_updates_total',
    help: 'Title updates sent to Icecast MP3 mounts (admin/metadata), by result (ok, failed).',
    labelNames: ['result'] as const,
    registers,
  });
  const hlsActiveStations = new Gauge({
    name: 'auralis_hls_active_stations',
    help: 'Stations with an HLS segmenter (an HLS request came within the lease).',
    registers,
  });
  const workerHeapUsedBytes = new Gauge({
    name: 'auralis_worker_heap_used_bytes',
    help: "V8 heap used by each engine worker thread's isolate, from its once-a-second stats report.",
    labelNames: ['worker'] as const,
    registers,
  });
  const memoryGrowthBytesPerHour = new Gauge({
    name: 'auralis_memory_growth_bytes_per_hour',
    help: 'Least-squares slope of memory over the monitoring window, after warm-up, by kind (rss, heap).',
    labelNames: ['kind'] as const,
    registers,
  });
  const leakSuspected = new Gauge({
    name: 'auralis_leak_suspected',
    help: '1 when memory growth exceeds the leak threshold, else 0.',
    registers,
  });
  const gcPauseSeconds = new Histogram({
    name: 'auralis_gc_pause_seconds',
    help: 'Garbage collection pauses, by kind (minor, major, incremental, weakcb).',
    labelNames: ['kind'] as const,
    buckets: GC_PAUSE_BUCKETS_SECONDS,
    registers,
  });

  // Read from the log destination at each scrape (the destination counts; the counter follows it).
  const logLinesDroppedSource = opts.logLinesDropped;
  let logLinesDroppedSeen = 0;
  const logLinesDroppedTotal = new Counter({
    name: 'auralis_log_lines_dropped_total',
    help: 'Log lines dropped because stdout was full (a slow or stalled reader), closed, or too old.',
    registers,
    collect() {
      const n = logLinesDroppedSource?.() ?? 0;
      if (n > logLinesDroppedSeen) {
        this.inc(n - logLinesDroppedSeen);
        logLinesDroppedSeen = n;
      }
    },
  });

  // Every fixed series is exposed at 0 from the start: rates and dashboards then have data before the first
  // event, and an absent series means a missing registration, not "nothing happened yet". (The transport-
  // labelled hot-path metrics above are fixed-label collectors, which always expose every transport.)
  const slotOf = Object.fromEntries(TRANSPORTS.map((t, i) => [t, i])) as Record<Transport, number>;
  const encodeBy = Object.fromEntries(CODECS.map((c) => [c, encodeSeconds.labels(c)])) as Record<
    Codec,
    ReturnType<typeof encodeSeconds.labels>
  >;
  for (const t of TRANSPORTS) listeners.set({ transport: t }, 0);
  for (const t of TRANSPORTS)
    for (const r of LISTENER_DROP_REASONS) listenersDroppedTotal.inc({ transport: t, reason: r }, 0);
  for (const c of CODECS) encodeSeconds.zero({ codec: c });
  for (const s of CONTROL_SOURCES)
    for (const r of CONTROL_RESULTS) controlChangesTotal.inc({ source: s, result: r }, 0);
  for (const k of MEMORY_KINDS) memoryGrowthBytesPerHour.set({ kind: k }, 0);
  for (const k of GC_KINDS) gcPauseSeconds.zero({ kind: k });
  leakSuspected.set(0);
  stations.set(0);
  clientUnderrunsTotal.inc(0);
  workerRestartsTotal.inc(0);
  logLinesDroppedTotal.inc(0);
  for (const r of CHUNK_DROP_REASONS) engineChunksDroppedTotal.inc({ reason: r }, 0);
  encoderErrorsTotal.inc(0);
  ringOverwriteWaitsTotal.inc(0);
  ringOverwriteWaitSecondsTotal.inc(0);
  mp3EncodingStations.set(0);
  tierSwitchesTotal.inc({ direction: 'up' }, 0);
  tierSwitchesTotal.inc({ direction: 'down' }, 0);
  hlsSegmentsTotal.inc(0);
  for (const k of HLS_REQUEST_KINDS) hlsRequestsTotal.inc({ kind: k }, 0);
  hlsActiveStations.set(0);
  relayMetadataUpdatesTotal.inc({ result: 'ok' }, 0);
  relayMetadataUpdatesTotal.inc({ result: 'failed' }, 0);

  const labels = new StationLabels(maxStationLabels);
  // Smoothed render and audio seconds per station label, for the real-time factor. Keyed by label, so it is
  // bounded like the labels (maxStationLabels + `other`).
  const smoothed = new Map<string, { renderSeconds: number; audioSeconds: number }>();

  return {
    registry,
    contentType: registry.contentType,
    synthesisSeconds,
    realtimeFactor,
    encodeSeconds,
    chunkLatenessSeconds,
    chunkJitterSeconds,
    fanoutSeconds,
    listeners,
    chunksSentTotal,
    chunksSkippedTotal,
    listenerLagSeconds,
    listenersDroppedTotal,
    ringBufferedSeconds,
    stations,
    idleStations,
    redisUp,
    redisChunksTotal,
    controlChangesTotal,
    controlLatencySeconds,
    clientUnderrunsTotal,
    clientBufferSeconds,
    workerRestartsTotal,
    engineChunksDroppedTotal,
    encoderErrorsTotal,
    ringOverwriteWaitsTotal,
    ringOverwriteWaitSecondsTotal,
    mp3EncodingStations,
    opusTierStations,
    tierSwitchesTotal,
    hlsSegmentsTotal,
    hlsRequestsTotal,
    hlsActiveStations,
    relayConnected,
    relayReconnectsTotal,
    relayBytesSentTotal,
    relayMetadataUpdatesTotal,
    workerHeapUsedBytes,
    memoryGrowthBytesPerHour,
    leakSuspected,
    gcPauseSeconds,
    logLinesDroppedTotal,

    stationLabel: (stationId) => labels.label(stationId),

    releaseStation(stationId) {
      if (!labels.release(stationId)) return;
      const series = { station: stationId };
      synthesisSeconds.remove(series);
      realtimeFactor.remove(series);
      ringBufferedSeconds.remove(series);
      smoothed.delete(stationId);
    },

    recordSynthesis(stationId, renderSeconds, audioSeconds) {
      // A NaN would poison the histogram's sum forever; bad input is dropped rather than thrown in a hot path.
      if (!isFiniteNonNegative(renderSeconds) || !isFiniteNonNegative(audioSeconds)) return;
      const station = labels.label(stationId);
      synthesisSeconds.observe({ station }, renderSeconds);
      let s = smoothed.get(station);
      if (s === undefined) {
        s = { renderSeconds, audioSeconds };
        smoothed.set(station, s);
      } else {
        s.renderSeconds += REALTIME_FACTOR_SMOOTHING * (renderSeconds - s.renderSeconds);
        s.audioSeconds += REALTIME_FACTOR_SMOOTHING * (audioSeconds - s.audioSeconds);
      }
      if (s.renderSeconds > 0) realtimeFactor.set({ station }, s.audioSeconds / s.renderSeconds);
    },

    recordRingBuffered(stationId, bufferedSeconds) {
      if (!Number.isFinite(bufferedSeconds)) return;
      ringBufferedSeconds.set({ station: labels.label(stationId) }, Math.max(0, bufferedSeconds));
    },

    clearRingBuffered(stationId) {
      const station = labels.label(stationId);
      if (station !== OTHER_STATION_LABEL) ringBufferedSeconds.remove({ station });
    },

    recordEncode(codec, seconds) {
      if (isFiniteNonNegative(seconds)) encodeBy[codec].observe(seconds);
    },

    recordChunkSent(transport, sendWallMs, dueWallMs) {
      const slot = slotOf[transport];
      chunksSentTotal.incAt(slot);
      const latenessMs = sendWallMs - dueWallMs;
      // Histograms cannot take negatives; a chunk sent ahead of its due time is simply on time.
      if (Number.isFinite(latenessMs))
        chunkLatenessSeconds.observeAt(slot, latenessMs > 0 ? latenessMs / 1000 : 0);
    },

    recordChunksSent(transport, count, sendWallMs, dueWallMs) {
      if (!Number.isSafeInteger(count) || count <= 0) return;
      const slot = slotOf[transport];
      chunksSentTotal.incAt(slot, count);
      const latenessMs = sendWallMs - dueWallMs;
      if (Number.isFinite(latenessMs)) {
        chunkLatenessSeconds.observeManyAt(slot, latenessMs > 0 ? latenessMs / 1000 : 0, count);
      }
    },

    recordChunksSkipped(transport, count = 1) {
      if (isFiniteNonNegative(count)) chunksSkippedTotal.incAt(slotOf[transport], count);
    },

    recordJitter(transport, jitterSeconds) {
      if (isFiniteNonNegative(jitterSeconds)) chunkJitterSeconds.observeAt(slotOf[transport], jitterSeconds);
    },

    recordFanout(seconds) {
      if (isFiniteNonNegative(seconds)) fanoutSeconds.observe(seconds);
    },

    recordListenerLag(transport, lagSeconds) {
      if (isFiniteNonNegative(lagSeconds)) listenerLagSeconds.observeAt(slotOf[transport], lagSeconds);
    },

    recordListenerDropped(transport, reason) {
      listenersDroppedTotal.inc({ transport, reason });
    },

    recordControlChange(source, result) {
      controlChangesTotal.inc({ source, result });
    },

    recordControlLatency(requestWallMs, audibleWallMs) {
      const latencyMs = audibleWallMs - requestWallMs;
      if (Number.isFinite(latencyMs)) controlLatencySeconds.observe(latencyMs > 0 ? latencyMs / 1000 : 0);
    },

    recordWorkerRestart() {
      workerRestartsTotal.inc();
    },

    recordEncoderError() {
      encoderErrorsTotal.inc();
    },

    recordRingWaits(waits, seconds) {
      if (Number.isFinite(waits) && waits > 0) ringOverwriteWaitsTotal.inc(waits);
      if (Number.isFinite(seconds) && seconds > 0) ringOverwriteWaitSecondsTotal.inc(seconds);
    },

    recordEngineChunksDropped(reason, count) {
      if (CHUNK_DROP_REASONS.includes(reason) && Number.isInteger(count) && count > 0)
        engineChunksDroppedTotal.inc({ reason }, count);
    },

    recordWorkerHeap(worker, heapUsedBytes) {
      // The label is the worker's index: bounded by the configured worker count (at most MAX_WORKER_LABELS).
      if (!Number.isInteger(worker) || worker < 0 || worker >= MAX_WORKER_LABELS) return;
      if (!Number.isFinite(heapUsedBytes) || heapUsedBytes < 0) return;
      workerHeapUsedBytes.set({ worker: String(worker) }, heapUsedBytes);
    },

    recordGcPause(kind, pauseSeconds) {
      if (isFiniteNonNegative(pauseSeconds)) gcPauseSeconds.observe({ kind }, pauseSeconds);
    },

    metricsText: () => registry.metrics(),

    close() {
      defaults?.close();
    },
  };
}
