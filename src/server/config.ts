import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MP3_BITRATE, MP3_BITRATES } from '../codec/mp3-encoder.ts';

/**
 * The one table of configuration: every limit, length and default with its unit, its environment
 * variable and its command-line flag. Validated once at start-up; a bad value is a ConfigError that
 * names the setting (the CLI exits with code 2).
 */
export interface ServerConfig {
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
  /** Allowed WebSocket Origins (comma-separated in env/flags); empty allows any. */
  allowedOrigins: string[];
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
  opusBitrate: number;
  opusComplexity: number;
  /** MP3 stream bitrate (bit/s, CBR), one of LAME's MPEG-1 bitrates. */
  mp3Bitrate: number;
  /** A station's HLS segmenter (and its MP3 encoding) is released this long (ms) after its last HLS request. */
  hlsLeaseMs: number;
  /** `optimized` (worker engine, encode once) or `baseline` (PERFORMANCE.md's naive profile). */
  profile: 'optimized' | 'baseline';
  /** RSS or heap growth above this (MB per hour, fitted over time) sets auralis_leak_suspected. */
  leakThresholdMbPerHour: number;
  /** Test switch: `on` adds POST /debug/fault (src/server/faults.ts). Refused under NODE_ENV=production. */
  faultInjection: 'off' | 'on';
  /** The built web player. */
  staticDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
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

type Kind = 'string' | 'int' | 'list' | 'enum';
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
  doc: string;
}

/** client/dist of this checkout, from the source (src/server/) or from the bundle (dist/). */
const DEFAULT_STATIC_DIR = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../../client/dist' : '../client/dist', import.meta.url),
);

export const CONFIG_DEFAULTS: ServerConfig = {
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
  allowedOrigins: [],
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
  opusComplexity: 5,
  mp3Bitrate: DEFAULT_MP3_BITRATE,
  hlsLeaseMs: 10_000,
  profile: 'optimized',
  leakThresholdMbPerHour: 20,
  faultInjection: 'off',
  staticDir: DEFAULT_STATIC_DIR,
  logLevel: 'info',
  logQueueBytes: 1024 * 1024,
};

export const CONFIG_TABLE: readonly Setting[] = [
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
    doc: 'render ahead of due time',
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
    key: 'allowedOrigins',
    kind: 'list',
    unit: 'origins',
    env: 'AURALIS_ALLOWED_ORIGINS',
    flag: '--allowed-origins',
    doc: 'origins besides the server itself allowed to change stations; if set, the only ones allowed on /ws',
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
    doc: 'Opus bitrate',
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
    doc: 'log level',
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

function coerce(s: Setting, raw: unknown, source: string): unknown {
  const name = `${s.key} (${source})`;
  switch (s.kind) {
    case 'string':
      if (typeof raw !== 'string') throw new ConfigError(s.key, `${name} must be a string`);
      return raw;
    case 'list':
      if (Array.isArray(raw)) return raw.map(String);
      if (typeof raw !== 'string') throw new ConfigError(s.key, `${name} must be a comma-separated list`);
      return raw
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0);
    case 'enum':
      if (typeof raw !== 'string' || !s.values!.includes(raw)) {
        throw new ConfigError(
          s.key,
          `${name} must be one of ${s.values!.join(', ')}, got ${JSON.stringify(raw)}`,
        );
      }
      return raw;
    case 'int': {
      const n = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n)) {
        throw new ConfigError(
          s.key,
          `${name} must be an integer (${s.unit}) between ${s.min} and ${s.max}, got ${JSON.stringify(raw)}`,
        );
      }
      if (n < s.min! || n > s.max!) {
        throw new ConfigError(s.key, `${name} must be between ${s.min} and ${s.max} ${s.unit}, got ${n}`);
      }
      const problem = s.check?.(n);
      if (problem) throw new ConfigError(s.key, `${name} ${problem}`);
      return n;
    }
  }
}

/**
 * Builds the configuration: defaults, then environment variables, then `overrides` (flags or a
 * test's object). Every value is validated; cross-field rules are checked last.
 */
export function loadConfig(
  overrides: Partial<Record<keyof ServerConfig, unknown>> = {},
  env: NodeJS.ProcessEnv = {},
): ServerConfig {
  const cfg: Record<string, unknown> = { ...CONFIG_DEFAULTS };
  for (const s of CONFIG_TABLE) {
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
  if (c.httpBurstMs + c.renderAheadMs + c.leadMs >= c.ringSeconds * 1000) {
    throw new ConfigError('httpBurstMs', `httpBurstMs + renderAheadMs + leadMs must fit in ringSeconds`);
  }
  checkQueueFitsRing(c);
  return c;
}

/**
 * The pacer resets a socket whose oldest queued ring view belongs to a slot the engine rewrites
 * within this long (broadcast/pacer.ts): it covers the time between two checks.
 */
export const RING_VIEW_GUARD_MS = 500;

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
 * of Opus; at 128 kb/s, 4.1 s of MP3.
 */
function checkQueueFitsRing(c: ServerConfig): void {
  const budgetMs = c.ringSeconds * 1000 - c.renderAheadMs - c.leadMs - RING_VIEW_GUARD_MS;
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
    out[s.key] = value;
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
