import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MAX_TIERS } from '../codec/frame-header.ts';
import { proxyEntryProblem } from './trust-proxy.ts';
import { DEFAULT_MP3_BITRATE, MP3_BITRATES } from '../codec/mp3-encoder.ts';
import { icecastSecrets, icecastTargetProblem, parseIcecastTargets } from '../relay/targets.ts';
import {
  findDefaultSoundFont,
  SOUNDFONT_CANDIDATES,
  SOUNDFONT_DIR,
  soundFontProblem,
} from '../dsp/soundfont-file.ts';

/**
 * The one table of configuration: every limit, length and default with its unit, its environment
 * variable and its command-line flag. Validated once at start-up; a bad value is a ConfigError that
 * names the setting (the CLI exits with code 2).
 */
export interface ServerConfig {
  /** A JSON file of settings (same keys, units and validation); flags and environment override it. */
  configFile: string;
  host: string;
  port: number;
  /** Length of one audio chunk on the wire (ms): 20–1000, a multiple of 20 (one Opus packet). */
  chunkMs: number;
  /** Length of each station's shared ring (seconds of audio kept, for bursts to new listeners). */
  ringSeconds: number;
  /** A chunk is sent this long (ms) before the server clock plays its first frame. */
  leadMs: number;
  /** How far ahead of a chunk's due time the engine renders (ms). */
  renderAheadMs: number;
  /** Chunks of already-due audio sent at once to a new WebSocket listener (fills its jitter buffer). */
  wsBurstChunks: number;
  /** Already-due audio sent at once to a new HTTP (Ogg/WAV) listener (ms). */
  httpBurstMs: number;
  /** Listeners over all stations and transports. */
  maxListeners: number;
  /** Stations, personal sessions included. */
  maxStations: number;
  /** Personal sessions (each also counts against maxStations, so the smaller of the two caps them). */
  maxPersonalSessions: number;
  /** Bytes a listener's socket may hold unsent before chunks are skipped for that listener. */
  listenerQueueBytes: number;
  /** A listener over its queue or lag bound that drains nothing for this long (ms) is disconnected. */
  stallTimeoutMs: number;
  /** A listener further behind live than this (kernel + user-space send queue, ms of its stream) is skipped. */
  maxListenerLagMs: number;
  /** How often the kernel send queues of listeners are read from /proc/net/tcp (ms); 0 disables. */
  queueSampleMs: number;
  /** Interval (ms) of the keep-alive comment on each now-playing event stream (SSE). */
  sseHeartbeatMs: number;
  /** When not empty, required (Bearer or `token=`) to change stations. */
  controlToken: string;
  /**
   * HMAC secret of personal sessions' resume tokens, the same on every node of a cluster; empty: a
   * random one per start (tokens then resume on this process only, until it stops).
   */
  sessionSecret: string;
  /** How long a resume token stays valid after it was issued (ms). */
  sessionTokenTtlMs: number;
  /** Key that signs moment tokens (HMAC-SHA256); empty: a random key per start (tokens end with the process). */
  momentSecret: string;
  /** Allowed WebSocket Origins (comma-separated in env/flags); empty allows any. */
  allowedOrigins: string[];
  /** JSON file keeping the stations created through the API across restarts ('' = not kept). */
  stateFile: string;
  /** SoundFont 2 file of the sampled presets ('' = the first found in /usr/share/sounds/sf2, 'off' = none). */
  soundfont: string;
  /** Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client. */
  trustProxy: string[];
  /** How long (ms) a personal session outlives its owner's disconnect. */
  gracePeriodMs: number;
  /** Largest HTTP request body (bytes). */
  maxBodyBytes: number;
  /** Largest HTTP request head: URL plus header names and values (bytes); beyond it 431. */
  maxHeaderBytes: number;
  /** Time (ms) a client has to send a complete request head; the connection is closed after it. */
  headersTimeoutMs: number;
  /** Time (ms) a client has to send a complete request, body included; 408 and closed after it. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long (ms) without a new request. */
  keepAliveTimeoutMs: number;
  /** Open TCP connections per client address (HTTP, streams and WebSockets together). */
  maxConnectionsPerIp: number;
  /** Control messages per second per WebSocket before RATE_LIMITED. */
  controlRatePerSecond: number;
  /** Control changes per second per client address, over all its WebSockets and the HTTP API. */
  controlRatePerIp: number;
  /** HTTP requests per second per client address on /api (429 beyond). */
  apiRatePerSecond: number;
  /** Engine worker threads. */
  workers: number;
  /** The default Opus tier (bit/s): always encoded; a multiple of 1000 that is one of `opusTiers`. */
  opusBitrate: number;
  /** Opus bitrate tiers (kb/s, ascending, unique, 6–510); a listener takes one (`?bitrate=`). */
  opusTiers: number[];
  opusComplexity: number;
  /** MP3 stream bitrate (bit/s, CBR), one of LAME's MPEG-1 bitrates. */
  mp3Bitrate: number;
  /** A station's HLS segmenter (and its MP3 encoding) is released this long (ms) after its last HLS request. */
  hlsLeaseMs: number;
  /**
   * A station nobody listens to goes idle (no synthesis, no encoding) this long (ms) after its last
   * consumer left; 0: never idle, every station renders all the time.
   */
  idleAfterMs: number;
  /** `optimized` (worker engine, encode once) or `baseline` (the naive profile, kept to measure against: docs/performance/). */
  profile: 'optimized' | 'baseline';
  /** RSS or heap growth above this (MB per hour, fitted over time) sets auralis_leak_suspected. */
  leakThresholdMbPerHour: number;
  /**
   * `all`: one process composes, renders and serves (no Redis). `origin`: renders the stations it
   * holds the Redis lease of and publishes their chunks; `edge`: serves listeners from Redis.
   */
  role: 'all' | 'origin' | 'edge';
  /** Redis URL (`redis://[:password@]host:port[/db]`) for the origin and edge roles; '' for `all`. */
  redisUrl: string;
  /** Test switch: `on` adds POST /debug/fault (src/server/faults.ts). Refused under NODE_ENV=production. */
  faultInjection: 'off' | 'on';
  /** The built web player. */
  staticDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
  /**
   * Icecast 2.4 mounts each station is pushed to as a source (`STATION=URL` items, the URL with the
   * source credentials: src/relay/); a mount ending in `.mp3` gets MP3, any other Ogg/Opus.
   */
  icecast: string[];
  /** How the log is written: JSON lines, or one readable line per event ('auto': readable on a terminal). */
  logFormat: 'auto' | 'json' | 'pretty';
  /** Period of the listener summary line at info level (ms); 0: none. */
  logSummaryMs: number;
  /** Log bytes queued for stdout before new lines are dropped (a slow or stalled log reader). */
  logQueueBytes: number;
}

export class ConfigError extends Error {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

type Kind = 'string' | 'int' | 'list' | 'intList' | 'enum';
interface Setting {
  key: keyof ServerConfig;
  kind: Kind;
  unit: string;
  env: string;
  flag: string;
  min?: number;
  max?: number;
  values?: readonly string[];
  check?: (v: number) => string | null;
  /** For lists: why an item is not acceptable, or null. */
  checkItem?: (item: string) => string | null;
  doc: string;
}

/** client/dist of this checkout, from the source (src/server/) or from the build (dist/cli/server/). */
const DEFAULT_STATIC_DIR = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../../client/dist' : '../../../client/dist', import.meta.url),
);

export const CONFIG_DEFAULTS: ServerConfig = {
  configFile: '',
  host: '127.0.0.1',
  port: 8000,
  chunkMs: 100,
  ringSeconds: 8,
  leadMs: 150,
  renderAheadMs: 400,
  wsBurstChunks: 2,
  httpBurstMs: 1000,
  maxListeners: 10_000,
  maxStations: 64,
  maxPersonalSessions: 32,
  listenerQueueBytes: 64 * 1024,
  stallTimeoutMs: 5000,
  maxListenerLagMs: 4000,
  queueSampleMs: 500,
  sseHeartbeatMs: 15_000,
  controlToken: '',
  sessionSecret: '',
  sessionTokenTtlMs: 86_400_000,
  momentSecret: '',
  allowedOrigins: [],
  trustProxy: [],
  stateFile: 'data/stations.json',
  soundfont: '',
  gracePeriodMs: 30_000,
  maxBodyBytes: 16 * 1024,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnectionsPerIp: 256,
  controlRatePerSecond: 20,
  controlRatePerIp: 40,
  apiRatePerSecond: 50,
  workers: Math.max(1, Math.min(4, availableParallelism() - 1)),
  opusBitrate: 96_000,
  opusTiers: [24, 48, 96, 128],
  opusComplexity: 5,
  mp3Bitrate: DEFAULT_MP3_BITRATE,
  hlsLeaseMs: 10_000,
  idleAfterMs: 5000,
  profile: 'optimized',
  leakThresholdMbPerHour: 20,
  role: 'all',
  redisUrl: '',
  faultInjection: 'off',
  staticDir: DEFAULT_STATIC_DIR,
  logLevel: 'info',
  icecast: [],
  logFormat: 'auto',
  logSummaryMs: 60_000,
  logQueueBytes: 1024 * 1024,
};

/** renderAheadMs for `--role origin` and `--role edge` unless set: failover with no gap (measured). */
export const CLUSTER_RENDER_AHEAD_MS = 1500;

export const CONFIG_TABLE: readonly Setting[] = [
  {
    key: 'configFile',
    kind: 'string',
    unit: 'path',
    env: 'AURALIS_CONFIG',
    flag: '--config',
    doc: 'a JSON file of settings by name, e.g. {"port": 9000, "trustProxy": ["127.0.0.1"]}; flags and environment variables override it (empty: none)',
  },
  { key: 'host', kind: 'string', unit: 'address', env: 'HOST', flag: '--host', doc: 'address to listen on' },
  {
    key: 'port',
    kind: 'int',
    unit: 'port',
    env: 'PORT',
    flag: '--port',
    min: 0,
    max: 65535,
    doc: 'TCP port (0 = any free port)',
  },
  {
    key: 'chunkMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_CHUNK_MS',
    flag: '--chunk-ms',
    min: 20,
    max: 1000,
    check: (v) => (v % 20 === 0 ? null : `must be a multiple of 20, got ${v}`),
    doc: 'audio chunk length',
  },
  {
    key: 'ringSeconds',
    kind: 'int',
    unit: 's',
    env: 'AURALIS_RING_SECONDS',
    flag: '--ring-seconds',
    min: 2,
    max: 60,
    doc: 'audio kept per station',
  },
  {
    key: 'leadMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_LEAD_MS',
    flag: '--lead-ms',
    min: 0,
    max: 2000,
    doc: 'send ahead of play time',
  },
  {
    key: 'renderAheadMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_RENDER_AHEAD_MS',
    flag: '--render-ahead-ms',
    min: 50,
    max: 5000,
    doc: `render ahead of due time (${CLUSTER_RENDER_AHEAD_MS} ms by default with --role origin or edge)`,
  },
  {
    key: 'wsBurstChunks',
    kind: 'int',
    unit: 'chunks',
    env: 'AURALIS_WS_BURST_CHUNKS',
    flag: '--ws-burst-chunks',
    min: 0,
    max: 50,
    doc: 'due chunks sent to a new WebSocket listener',
  },
  {
    key: 'httpBurstMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_HTTP_BURST_MS',
    flag: '--http-burst-ms',
    min: 0,
    max: 10_000,
    doc: 'due audio sent to a new HTTP listener',
  },
  {
    key: 'maxListeners',
    kind: 'int',
    unit: 'listeners',
    env: 'AURALIS_MAX_LISTENERS',
    flag: '--max-listeners',
    min: 1,
    max: 1_000_000,
    doc: 'listeners over all stations',
  },
  {
    key: 'maxStations',
    kind: 'int',
    unit: 'stations',
    env: 'AURALIS_MAX_STATIONS',
    flag: '--max-stations',
    min: 1,
    max: 10_000,
    doc: 'stations including personal sessions',
  },
  {
    key: 'maxPersonalSessions',
    kind: 'int',
    unit: 'sessions',
    env: 'AURALIS_MAX_PERSONAL_SESSIONS',
    flag: '--max-personal-sessions',
    min: 0,
    max: 10_000,
    doc: 'personal sessions (each also a station)',
  },
  {
    key: 'listenerQueueBytes',
    kind: 'int',
    unit: 'bytes',
    env: 'AURALIS_LISTENER_QUEUE_BYTES',
    flag: '--listener-queue-bytes',
    min: 4096,
    max: 64 * 1024 * 1024,
    doc: 'unsent bytes per listener before skipping',
  },
  {
    key: 'stallTimeoutMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_STALL_TIMEOUT_MS',
    flag: '--stall-timeout-ms',
    min: 100,
    max: 60_000,
    doc: 'disconnect a listener over its bound that drains nothing this long',
  },
  {
    key: 'maxListenerLagMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_MAX_LISTENER_LAG_MS',
    flag: '--max-listener-lag-ms',
    min: 200,
    max: 60_000,
    doc: 'skip audio for a listener this far behind live (kernel + user-space queue)',
  },
  {
    key: 'queueSampleMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_QUEUE_SAMPLE_MS',
    flag: '--queue-sample-ms',
    min: 0,
    max: 10_000,
    check: (v) => (v === 0 || v >= 100 ? null : `must be 0 (off) or at least 100, got ${v}`),
    doc: 'how often kernel send queues are read from /proc/net/tcp (0: off)',
  },
  {
    key: 'sseHeartbeatMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_SSE_HEARTBEAT_MS',
    flag: '--sse-heartbeat-ms',
    min: 100,
    max: 120_000,
    doc: 'keep-alive comment interval on now-playing event streams (SSE)',
  },
  {
    key: 'controlToken',
    kind: 'string',
    unit: 'secret',
    env: 'AURALIS_CONTROL_TOKEN',
    flag: '--control-token',
    doc: 'token required to change stations (empty: none)',
  },
  {
    key: 'sessionSecret',
    kind: 'string',
    unit: 'secret',
    env: 'AURALIS_SESSION_SECRET',
    flag: '--session-secret',
    doc: "HMAC secret signing personal sessions' resume tokens, at least 16 characters, the same on every edge and origin (empty: a random one per start; tokens then resume on this process only)",
  },
  {
    key: 'sessionTokenTtlMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_SESSION_TOKEN_TTL_MS',
    flag: '--session-token-ttl-ms',
    min: 1000,
    max: 30 * 86_400_000,
    doc: "how long a personal session's resume token stays valid after it was issued (a new one comes with each welcome and parameter change)",
  },
  {
    key: 'momentSecret',
    kind: 'string',
    unit: 'secret',
    env: 'AURALIS_MOMENT_SECRET',
    flag: '--moment-secret',
    doc: 'key (at least 16 characters) that signs moment tokens; `auralis render --moment` verifies with the same AURALIS_MOMENT_SECRET (empty: a random key per start, so tokens do not outlive the process)',
  },
  {
    key: 'allowedOrigins',
    kind: 'list',
    unit: 'origins',
    env: 'AURALIS_ALLOWED_ORIGINS',
    flag: '--allowed-origins',
    doc: 'origins besides the server itself allowed to change stations; if set, the only ones allowed on /ws',
  },
  {
    key: 'stateFile',
    kind: 'string',
    unit: 'path',
    env: 'AURALIS_STATE_FILE',
    flag: '--state-file',
    doc: 'JSON file where stations created through the API (id, seed, parameters) are kept across restarts, relative to the working directory (empty: not kept)',
  },
  {
    key: 'soundfont',
    kind: 'string',
    unit: 'path',
    env: 'AURALIS_SOUNDFONT',
    flag: '--soundfont',
    doc: `SoundFont 2 file played by the sampled presets (piano, strings); empty: the first of ${SOUNDFONT_CANDIDATES.join(', ')} in ${SOUNDFONT_DIR} (none found: those presets are refused); off: none`,
  },
  {
    key: 'trustProxy',
    kind: 'list',
    unit: 'addresses',
    env: 'AURALIS_TRUST_PROXY',
    flag: '--trust-proxy',
    checkItem: proxyEntryProblem,
    doc: 'reverse proxies (IP addresses or CIDR ranges) whose X-Forwarded-For names the client, for per-client limits and logs (empty: trust none)',
  },
  {
    key: 'gracePeriodMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_GRACE_PERIOD_MS',
    flag: '--grace-period-ms',
    min: 0,
    max: 3_600_000,
    doc: 'personal session grace period',
  },
  {
    key: 'maxBodyBytes',
    kind: 'int',
    unit: 'bytes',
    env: 'AURALIS_MAX_BODY_BYTES',
    flag: '--max-body-bytes',
    min: 256,
    max: 1024 * 1024,
    doc: 'largest request body',
  },
  {
    key: 'maxHeaderBytes',
    kind: 'int',
    unit: 'bytes',
    env: 'AURALIS_MAX_HEADER_BYTES',
    flag: '--max-header-bytes',
    min: 1024,
    max: 1024 * 1024,
    doc: 'largest request head (URL + header names and values)',
  },
  {
    key: 'headersTimeoutMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_HEADERS_TIMEOUT_MS',
    flag: '--headers-timeout-ms',
    min: 200,
    max: 600_000,
    doc: 'time to send a complete request head',
  },
  {
    key: 'requestTimeoutMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_REQUEST_TIMEOUT_MS',
    flag: '--request-timeout-ms',
    min: 200,
    max: 600_000,
    doc: 'time to send a complete request with its body (not streams)',
  },
  {
    key: 'keepAliveTimeoutMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_KEEP_ALIVE_TIMEOUT_MS',
    flag: '--keep-alive-timeout-ms',
    min: 100,
    max: 600_000,
    doc: 'idle keep-alive connection lifetime',
  },
  {
    key: 'maxConnectionsPerIp',
    kind: 'int',
    unit: 'connections',
    env: 'AURALIS_MAX_CONNECTIONS_PER_IP',
    flag: '--max-connections-per-ip',
    min: 1,
    max: 1_000_000,
    doc: 'open connections per client address',
  },
  {
    key: 'controlRatePerSecond',
    kind: 'int',
    unit: 'messages/s',
    env: 'AURALIS_CONTROL_RATE',
    flag: '--control-rate',
    min: 1,
    max: 1000,
    doc: 'control messages per socket',
  },
  {
    key: 'controlRatePerIp',
    kind: 'int',
    unit: 'changes/s',
    env: 'AURALIS_CONTROL_RATE_PER_IP',
    flag: '--control-rate-per-ip',
    min: 1,
    max: 100_000,
    doc: 'control changes per client address (WebSockets and API)',
  },
  {
    key: 'apiRatePerSecond',
    kind: 'int',
    unit: 'requests/s',
    env: 'AURALIS_API_RATE',
    flag: '--api-rate',
    min: 1,
    max: 100_000,
    doc: 'API requests per client address',
  },
  {
    key: 'workers',
    kind: 'int',
    unit: 'threads',
    env: 'AURALIS_WORKERS',
    flag: '--workers',
    min: 1,
    max: 64,
    doc: 'engine worker threads',
  },
  {
    key: 'opusBitrate',
    kind: 'int',
    unit: 'bit/s',
    env: 'AURALIS_OPUS_BITRATE',
    flag: '--opus-bitrate',
    min: 16_000,
    max: 256_000,
    doc: 'Opus bitrate of the default tier (one of opusTiers)',
  },
  {
    key: 'opusTiers',
    kind: 'intList',
    unit: 'kb/s',
    env: 'AURALIS_OPUS_TIERS',
    flag: '--opus-tiers',
    min: 6,
    max: 510,
    doc: 'Opus bitrate tiers, ascending (comma list; at most 16); other than the default, each is encoded only while someone listens to it',
  },
  {
    key: 'opusComplexity',
    kind: 'int',
    unit: '0–10',
    env: 'AURALIS_OPUS_COMPLEXITY',
    flag: '--opus-complexity',
    min: 0,
    max: 10,
    doc: 'Opus encoder complexity',
  },
  {
    key: 'mp3Bitrate',
    kind: 'int',
    unit: 'bit/s',
    env: 'AURALIS_MP3_BITRATE',
    flag: '--mp3-bitrate',
    min: 32_000,
    max: 320_000,
    check: (v) => (MP3_BITRATES.includes(v) ? null : `must be one of ${MP3_BITRATES.join(', ')}, got ${v}`),
    doc: 'MP3 stream bitrate (/stream/<station>.mp3, constant)',
  },
  {
    key: 'hlsLeaseMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_HLS_LEASE_MS',
    flag: '--hls-lease-ms',
    min: 500,
    max: 600_000,
    doc: "keep a station's HLS segmenter and MP3 encoding this long after its last HLS request (at least 2 target durations)",
  },
  {
    key: 'idleAfterMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_IDLE_AFTER_MS',
    flag: '--idle-after-ms',
    min: 0,
    max: 3_600_000,
    doc: 'a station with no listener goes idle (no synthesis, no encoding) this long after its last one left; 0: never idle',
  },
  {
    key: 'profile',
    kind: 'enum',
    unit: '',
    env: 'AURALIS_PROFILE',
    flag: '--profile',
    values: ['optimized', 'baseline'],
    doc: 'performance profile',
  },
  {
    key: 'leakThresholdMbPerHour',
    kind: 'int',
    unit: 'MiB/h',
    env: 'AURALIS_LEAK_THRESHOLD_MB_PER_HOUR',
    flag: '--leak-threshold-mb-per-hour',
    min: 1,
    max: 100_000,
    doc: 'memory growth that sets auralis_leak_suspected',
  },
  {
    key: 'role',
    kind: 'enum',
    unit: '',
    env: 'AURALIS_ROLE',
    flag: '--role',
    values: ['all', 'origin', 'edge'],
    doc: 'all: one process does everything; origin: renders stations and publishes them to Redis; edge: serves listeners from Redis (origin and edge need --redis)',
  },
  {
    key: 'redisUrl',
    kind: 'string',
    unit: 'URL',
    env: 'AURALIS_REDIS_URL',
    flag: '--redis',
    doc: 'Redis for the origin and edge roles, redis://[:password@]host:port[/db] (the password never reaches a log); empty: none',
  },
  {
    key: 'faultInjection',
    kind: 'enum',
    unit: '',
    env: 'AURALIS_FAULT_INJECTION',
    flag: '--fault-injection',
    values: ['off', 'on'],
    doc: 'TEST ONLY: on adds POST /debug/fault to break the server on purpose (refused with NODE_ENV=production)',
  },
  {
    key: 'staticDir',
    kind: 'string',
    unit: 'path',
    env: 'AURALIS_STATIC_DIR',
    flag: '--static-dir',
    doc: 'built web player',
  },
  {
    key: 'logLevel',
    kind: 'enum',
    unit: '',
    env: 'AURALIS_LOG_LEVEL',
    flag: '--log-level',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'silent'],
    doc: 'log level (per-request lines are debug; stations, changes, worker restarts and a listener summary are info)',
  },
  {
    key: 'icecast',
    kind: 'list',
    unit: 'STATION=URL',
    env: 'AURALIS_ICECAST',
    flag: '--icecast',
    checkItem: icecastTargetProblem,
    doc: 'push a station to an Icecast 2.4 mount as its source, e.g. default=http://source:PASSWORD@icecast:8000/auralis.ogg (a mount ending in .mp3 gets MP3, any other Ogg/Opus); repeat the flag or give a comma list; a station that does not exist is created at start-up (empty: none)',
  },
  {
    key: 'logFormat',
    kind: 'enum',
    unit: '',
    env: 'AURALIS_LOG_FORMAT',
    flag: '--log-format',
    values: ['auto', 'json', 'pretty'],
    doc: 'log lines as JSON, or readable (time, level, message, fields); auto: readable when stdout is a terminal',
  },
  {
    key: 'logSummaryMs',
    kind: 'int',
    unit: 'ms',
    env: 'AURALIS_LOG_SUMMARY_MS',
    flag: '--log-summary-ms',
    min: 0,
    max: 3_600_000,
    check: (v) => (v !== 0 && v < 1000 ? 'must be 0 (no summary) or at least 1000 ms' : null),
    doc: 'period of the info line summing up listeners (joined, left, slow-listener skips and drops); 0: none',
  },
  {
    key: 'logQueueBytes',
    kind: 'int',
    unit: 'bytes',
    env: 'AURALIS_LOG_QUEUE_BYTES',
    flag: '--log-queue-bytes',
    min: 4096,
    max: 64 * 1024 * 1024,
    doc: 'log bytes queued for stdout before lines are dropped',
  },
];

/**
 * "between 10 and 1000 ms", "a port number between 0 and 65535": the unit follows the numbers
 * where it reads as one ("ms", "bytes", "listeners"), and names the thing otherwise.
 */
function rangeText(s: Setting): string {
  if (s.unit === 'port') return `a port number between ${s.min} and ${s.max}`;
  if (s.unit === '' || /^\d/.test(s.unit)) return `between ${s.min} and ${s.max}`;
  return `between ${s.min} and ${s.max} ${s.unit}`;
}

/**
 * Turns an error of `listen()` (a busy port, an address this machine does not have, a host name
 * that does not resolve) into a ConfigError naming the setting, so the CLI prints one line and
 * exits with the configuration exit code instead of a stack trace. Other errors come back as they are.
 */
export function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new ConfigError(
        'port',
        `port (--port / PORT) ${port}: address ${where} is already in use by another process; choose another port, or 0 for any free one`,
      );
    case 'EACCES':
      return new ConfigError(
        'port',
        `port (--port / PORT) ${port}: permission denied to listen on ${where} (ports below 1024 need privileges)`,
      );
    case 'EADDRNOTAVAIL':
      return new ConfigError(
        'host',
        `host (--host / HOST) ${JSON.stringify(host)}: this machine has no such address (${code})`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
      return new ConfigError(
        'host',
        `host (--host / HOST) ${JSON.stringify(host)}: not an IP address or a name that resolves (${code})`,
      );
    default:
      return err;
  }
}

function coerce(s: Setting, raw: unknown, source: string): unknown {
  const name = `${s.key} (${source})`;
  switch (s.kind) {
    case 'string':
      if (typeof raw !== 'string') throw new ConfigError(s.key, `${name} must be a string`);
      return raw;
    case 'list':
      if (Array.isArray(raw)) raw = raw.map(String).join(',');
      if (typeof raw !== 'string') throw new ConfigError(s.key, `${name} must be a comma-separated list`);
      {
        const items = raw
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x.length > 0);
        for (const item of items) {
          const problem = s.checkItem?.(item);
          if (problem) throw new ConfigError(s.key, `${name}: ${problem}`);
        }
        return items;
      }
    case 'intList': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : null;
      if (!items)
        throw new ConfigError(s.key, `${name} must be a comma-separated list of integers (${s.unit})`);
      const out: number[] = [];
      for (const item of items) {
        const t = typeof item === 'string' ? item.trim() : item;
        const n = typeof t === 'string' && /^\d+$/.test(t) ? Number(t) : t;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < s.min! || n > s.max!) {
          throw new ConfigError(
            s.key,
            `${name} must list integers between ${s.min} and ${s.max} ${s.unit}, got ${JSON.stringify(item)}`,
          );
        }
        if (out.length > 0 && n <= out[out.length - 1]!) {
          throw new ConfigError(
            s.key,
            `${name} must be ascending with no repeats, got ${JSON.stringify(raw)}`,
          );
        }
        out.push(n);
      }
      if (out.length === 0 || out.length > MAX_TIERS) {
        throw new ConfigError(s.key, `${name} must list 1 to ${MAX_TIERS} bitrates, got ${out.length}`);
      }
      return out;
    }
    case 'enum': {
      // Any letter case is accepted ("--log-level INFO"); the value is the table's spelling.
      const text = typeof raw === 'string' ? raw.trim().toLowerCase() : null;
      const value = text === null ? undefined : s.values!.find((v) => v.toLowerCase() === text);
      if (value === undefined) {
        throw new ConfigError(
          s.key,
          `${name} must be one of ${s.values!.join(', ')}, got ${JSON.stringify(raw)}`,
        );
      }
      return value;
    }
    case 'int': {
      const n = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n)) {
        throw new ConfigError(
          s.key,
          `${name} must be an integer: ${rangeText(s)}, got ${JSON.stringify(raw)}`,
        );
      }
      if (n < s.min! || n > s.max!) {
        throw new ConfigError(s.key, `${name} must be ${rangeText(s)}, got ${n}`);
      }
      const problem = s.check?.(n);
      if (problem) throw new ConfigError(s.key, `${name} ${problem}`);
      return n;
    }
  }
}

/** Shortest moment secret accepted (an HMAC key guessed from a short word would forge tokens). */
export const MIN_MOMENT_SECRET_CHARS = 16;

/**
 * Builds the configuration: defaults, then environment variables, then `overrides` (flags or a
 * test's object). Every value is validated; cross-field rules are checked last.
 */
export function loadConfig(
  overrides: Partial<Record<keyof ServerConfig, unknown>> = {},
  env: NodeJS.ProcessEnv = {},
): ServerConfig {
  const cfg: Record<string, unknown> = { ...CONFIG_DEFAULTS };
  /** Settings given by the file, the environment or the caller (not defaults). */
  const explicit = new Set<string>();
  const fileRow = CONFIG_TABLE.find((s) => s.key === 'configFile')!;
  const filePath =
    overrides.configFile !== undefined
      ? (coerce(fileRow, overrides.configFile, fileRow.flag) as string)
      : (env[fileRow.env] ?? '');
  if (filePath !== '') {
    cfg.configFile = filePath;
    for (const [key, value] of Object.entries(readConfigFile(filePath))) {
      const s = CONFIG_TABLE.find((x) => x.key === key);
      if (!s || key === 'configFile') {
        const near = CONFIG_TABLE.find((x) => x.key.toLowerCase() === key.toLowerCase().replace(/[-_]/g, ''));
        throw new ConfigError(
          key,
          `${filePath}: unknown setting ${JSON.stringify(key)}${near && key !== 'configFile' ? `; did you mean ${JSON.stringify(near.key)}?` : ''} (settings are named as in --help's table, e.g. "listenerQueueBytes")`,
        );
      }
      cfg[key] = coerce(s, value, filePath);
      explicit.add(key);
    }
  }
  for (const s of CONFIG_TABLE) {
    if (s.key === 'configFile') continue;
    if ((env[s.env] !== undefined && env[s.env] !== '') || overrides[s.key] !== undefined)
      explicit.add(s.key);
    const fromEnv = env[s.env];
    if (fromEnv !== undefined && fromEnv !== '') cfg[s.key] = coerce(s, fromEnv, `env ${s.env}`);
    const o = overrides[s.key];
    if (o !== undefined) cfg[s.key] = coerce(s, o, s.flag);
  }
  for (const k of Object.keys(overrides)) {
    if (!CONFIG_TABLE.some((s) => s.key === k)) throw new ConfigError(k, `unknown setting ${k}`);
  }
  const c = cfg as unknown as ServerConfig;
  if (c.stallTimeoutMs >= c.ringSeconds * 1000) {
    // A stalled socket may still reference ring bytes; it must be closed before they are reused.
    throw new ConfigError(
      'stallTimeoutMs',
      `stallTimeoutMs (${c.stallTimeoutMs} ms) must be shorter than ringSeconds (${c.ringSeconds} s)`,
    );
  }
  if (!c.opusTiers.includes(c.opusBitrate / 1000)) {
    throw new ConfigError(
      'opusTiers',
      `opusTiers (${c.opusTiers.join(',')} kb/s) must include the default tier opusBitrate (${c.opusBitrate} bit/s = ${c.opusBitrate / 1000} kb/s)`,
    );
  }
  if (c.soundfont !== '' && c.soundfont !== 'off') {
    const problem = soundFontProblem(c.soundfont);
    if (problem !== null)
      throw new ConfigError('soundfont', `soundfont (--soundfont / AURALIS_SOUNDFONT): ${problem}`);
  }
  if (c.headersTimeoutMs > c.requestTimeoutMs) {
    throw new ConfigError(
      'headersTimeoutMs',
      `headersTimeoutMs (${c.headersTimeoutMs} ms) must not exceed requestTimeoutMs (${c.requestTimeoutMs} ms)`,
    );
  }
  if (c.faultInjection === 'on' && (env.NODE_ENV ?? process.env.NODE_ENV) === 'production') {
    throw new ConfigError(
      'faultInjection',
      'faultInjection (AURALIS_FAULT_INJECTION) cannot be on with NODE_ENV=production: it is a test switch',
    );
  }
  // Origins and edges render (and receive) further ahead unless told otherwise: a standby origin
  // taking over a station then starts before the edges' rings run dry (docs/deploy.md).
  if (c.role !== 'all' && !explicit.has('renderAheadMs')) c.renderAheadMs = CLUSTER_RENDER_AHEAD_MS;
  if (c.sessionSecret !== '' && c.sessionSecret.length < 16) {
    throw new ConfigError(
      'sessionSecret',
      `sessionSecret (AURALIS_SESSION_SECRET) must be at least 16 characters, got ${c.sessionSecret.length}`,
    );
  }
  if (c.role !== 'all' && c.redisUrl === '') {
    throw new ConfigError('redisUrl', `role ${c.role} needs redisUrl (--redis, AURALIS_REDIS_URL)`);
  }
  if (c.redisUrl !== '') {
    const problem = redisUrlProblem(c.redisUrl);
    if (problem) throw new ConfigError('redisUrl', `redisUrl (${redactRedisUrl(c.redisUrl)}) ${problem}`);
  }
  if (c.httpBurstMs + c.renderAheadMs + c.leadMs >= c.ringSeconds * 1000) {
    throw new ConfigError('httpBurstMs', `httpBurstMs + renderAheadMs + leadMs must fit in ringSeconds`);
  }
  const targets = parseIcecastTargets(c.icecast);
  if (typeof targets === 'string')
    throw new ConfigError('icecast', `icecast (--icecast / AURALIS_ICECAST): ${targets}`);
  if (c.icecast.length > 0 && c.profile === 'baseline') {
    throw new ConfigError(
      'icecast',
      'icecast (--icecast / AURALIS_ICECAST) needs --profile optimized: the baseline profile serves WebSocket listeners only',
    );
  }
  if (c.momentSecret !== '' && c.momentSecret.length < MIN_MOMENT_SECRET_CHARS) {
    // Never echo a secret: only its length.
    throw new ConfigError(
      'momentSecret',
      `momentSecret (--moment-secret / AURALIS_MOMENT_SECRET) must be empty or at least ${MIN_MOMENT_SECRET_CHARS} characters, got ${c.momentSecret.length}`,
    );
  }
  checkQueueFitsRing(c);
  return c;
}

/**
 * The settings no log line may show: the control token, the session secret and the Redis URL's password (as written
 * and decoded). (The cluster logs the URL through redactRedisUrl, without its credentials.)
 */
export function configSecrets(c: ServerConfig): string[] {
  const out = [c.controlToken, c.sessionSecret, c.momentSecret, ...icecastSecrets(c.icecast)];
  if (c.redisUrl !== '') {
    try {
      const u = new URL(c.redisUrl);
      if (u.password !== '') out.push(u.password, decodeURIComponent(u.password));
    } catch {
      // Refused by loadConfig: never reaches a running server.
    }
  }
  return out.filter((x) => x !== '');
}

/** Why a Redis URL is not usable, or null. */
function redisUrlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'must be a URL like redis://host:6379';
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return 'must start with redis:// or rediss://';
  if (u.hostname === '') return 'must name a host';
  return null;
}

/**
 * A Redis URL fit for a log or an error message: its user name and password (if any) replaced by
 * `[redacted]`. Something that does not parse as a URL is shown as `[redacted]` whole.
 */
export function redactRedisUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '[redacted]';
  }
  const auth = u.username !== '' || u.password !== '' ? '[redacted]@' : '';
  return `${u.protocol}//${auth}${u.host}${u.pathname === '/' ? '' : u.pathname}`;
}

/** The settings object of a JSON config file; a ConfigError naming the file for anything else. */
function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(
      'configFile',
      `configFile (--config / AURALIS_CONFIG) ${path} cannot be read (${code})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('configFile', `${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('configFile', `${path} must hold one JSON object of settings, e.g. {"port": 9000}`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * The pacer resets a socket whose oldest queued ring view belongs to a slot the engine rewrites
 * within this long (broadcast/pacer.ts): it covers the time between two checks.
 */
export const RING_VIEW_GUARD_MS = 500;

/** ms within which a listener's queued ring bytes must have been sent (see checkQueueFitsRing). */
export function ringDrainBudgetMs(c: ServerConfig): number {
  return c.ringSeconds * 1000 - c.renderAheadMs - c.leadMs - RING_VIEW_GUARD_MS;
}

/** Nominal bytes per second of an Opus tier (kb/s) on its slower transport (WebSocket or Ogg). */
function opusByteRate(kbps: number, chunkMs: number): number {
  const chunksPerSecond = 1000 / chunkMs;
  const opus = (kbps * 1000) / 8;
  const opusPerChunk = opus / chunksPerSecond;
  return Math.min(
    opus + 42 * chunksPerSecond,
    opus + (27 + Math.ceil((opusPerChunk + 1) / 255)) * chunksPerSecond,
  );
}

/**
 * The user-space queue bound of a listener of each Opus tier (bytes, by tier index):
 * `listenerQueueBytes`, or less for a tier too slow to drain that much before its ring slot is
 * rewritten (what checkQueueFitsRing guarantees for the default tier and the other streams). A
 * 24 kb/s listener drains 64 KiB in about 20 s, longer than the ring: its bound is what it sends
 * in ringDrainBudgetMs, so the ring-view rule holds for every tier.
 */
export function tierQueueBytes(c: ServerConfig): number[] {
  const budgetS = ringDrainBudgetMs(c) / 1000;
  return c.opusTiers.map((kbps) =>
    Math.min(c.listenerQueueBytes, Math.max(0, Math.floor(budgetS * opusByteRate(kbps, c.chunkMs)) - 1)),
  );
}

/**
 * Nominal bytes per second each transport sends, from the configuration: WAV is 48 kHz stereo
 * PCM16; a WebSocket frame adds the 32-byte chunk header and up to 10 bytes of frame header per
 * chunk; Opus (WebSocket and Ogg) is the configured bitrate, an Ogg page adds 27 bytes and its
 * lacing table per chunk; MP3 is its constant bitrate.
 */
export function transportByteRates(
  c: ServerConfig,
): Record<'wav' | 'ws-pcm' | 'ws-opus' | 'ogg' | 'mp3', number> {
  const chunksPerSecond = 1000 / c.chunkMs;
  const pcm = 48_000 * 2 * 2;
  const opus = c.opusBitrate / 8;
  const opusPerChunk = opus / chunksPerSecond;
  return {
    wav: pcm,
    'ws-pcm': pcm + 42 * chunksPerSecond,
    'ws-opus': opus + 42 * chunksPerSecond,
    ogg: opus + (27 + Math.ceil((opusPerChunk + 1) / 255)) * chunksPerSecond,
    // CBR frames only (the ICY metadata of some listeners adds a little, which only drains faster).
    mp3: c.mp3Bitrate / 8,
  };
}

/**
 * Queued bytes are views into the ring: a listener's full user-space queue must drain (at its
 * stream's rate) before the ring slot of its oldest byte is rewritten, about ringSeconds −
 * renderAheadMs − leadMs after that chunk was due, less the pacer's guard (RING_VIEW_GUARD_MS).
 * Otherwise a listener that keeps up but holds a full queue would be cut off. The slowest stream
 * (Opus or MP3 at a low bitrate) is the binding one: at 96 kb/s the default 64 KiB holds about 5 s
 * of Opus; at 128 kb/s, 4.1 s of MP3. Opus here is the default tier; the other tiers' listeners
 * get a smaller bound where they need one (tierQueueBytes), so they never refuse a configuration.
 */
function checkQueueFitsRing(c: ServerConfig): void {
  const budgetMs = ringDrainBudgetMs(c);
  for (const [transport, rate] of Object.entries(transportByteRates(c))) {
    const holdsMs = (c.listenerQueueBytes / rate) * 1000;
    if (holdsMs >= budgetMs) {
      const most = Math.max(0, Math.floor((budgetMs / 1000) * rate) - 1);
      throw new ConfigError(
        'listenerQueueBytes',
        `listenerQueueBytes (${c.listenerQueueBytes} bytes) holds ${Math.round(holdsMs)} ms of the ${transport} stream ` +
          `(${Math.round(rate)} bytes/s), but queued ring bytes must be sent within ringSeconds − renderAheadMs − ` +
          `leadMs − ${RING_VIEW_GUARD_MS} ms = ${budgetMs} ms: use at most ${most} bytes or a longer ring`,
      );
    }
  }
}

/** Parses `--flag value` / `--flag=value` pairs against the table. */
export function parseFlags(argv: readonly string[]): Partial<Record<keyof ServerConfig, unknown>> {
  const out: Partial<Record<keyof ServerConfig, unknown>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const s = CONFIG_TABLE.find((x) => x.flag === flag);
    if (!s) throw new ConfigError(flag, `unknown option ${flag}; see --help`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(s.key, `${flag} needs a value (${s.unit || s.doc})`);
    // A list flag may be repeated: its items add up (`--icecast a=… --icecast b=…`).
    const before = out[s.key];
    out[s.key] = s.kind === 'list' && typeof before === 'string' ? `${before},${value}` : value;
  }
  return out;
}

export function configHelp(): string {
  return CONFIG_TABLE.map((s) => {
    const d = CONFIG_DEFAULTS[s.key];
    const shown = Array.isArray(d) ? d.join(',') : String(d);
    return `  ${s.flag.padEnd(24)} ${s.env.padEnd(30)} ${s.doc}${s.unit ? ` (${s.unit})` : ''}; default ${shown || '(none)'}`;
  }).join('\n');
}

/** The SoundFont a server uses: the one named, else the first installed one ('' setting), or null ('off', none found). */
export function resolveSoundFont(c: Pick<ServerConfig, 'soundfont'>): string | null {
  if (c.soundfont === 'off') return null;
  if (c.soundfont !== '') return c.soundfont;
  return findDefaultSoundFont();
}
