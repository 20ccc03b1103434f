import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

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
  /** Bytes a listener's socket may hold unsent before chunks are skipped for that listener. */
  listenerQueueBytes: number;
  /** A listener whose socket stays over its queue limit this long (ms) is disconnected. */
  stallTimeoutMs: number;
  /** When not empty, required (Bearer or `token=`) to change stations. */
  controlToken: string;
  /** Allowed WebSocket Origins (comma-separated in env/flags); empty allows any. */
  allowedOrigins: string[];
  /** How long (ms) a personal session outlives its owner's disconnect. */
  gracePeriodMs: number;
  /** Largest HTTP request body (bytes). */
  maxBodyBytes: number;
  /** Control messages per second per WebSocket before RATE_LIMITED. */
  controlRatePerSecond: number;
  /** HTTP requests per second per client address on /api (429 beyond). */
  apiRatePerSecond: number;
  /** Engine worker threads. */
  workers: number;
  opusBitrate: number;
  opusComplexity: number;
  /** `optimized` (worker engine, encode once) or `baseline` (PERFORMANCE.md's naive profile). */
  profile: 'optimized' | 'baseline';
  /** RSS or heap growth above this (MB per hour, fitted over time) sets auralis_leak_suspected. */
  leakThresholdMbPerHour: number;
  /** Test switch: `on` adds POST /debug/fault (src/server/faults.ts). Refused under NODE_ENV=production. */
  faultInjection: 'off' | 'on';
  /** The built web player. */
  staticDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
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
  listenerQueueBytes: 256 * 1024,
  stallTimeoutMs: 5000,
  controlToken: '',
  allowedOrigins: [],
  gracePeriodMs: 30_000,
  maxBodyBytes: 16 * 1024,
  controlRatePerSecond: 20,
  apiRatePerSecond: 50,
  workers: Math.max(1, Math.min(4, availableParallelism() - 1)),
  opusBitrate: 96_000,
  opusComplexity: 5,
  profile: 'optimized',
  leakThresholdMbPerHour: 20,
  faultInjection: 'off',
  staticDir: DEFAULT_STATIC_DIR,
  logLevel: 'info',
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
    doc: 'disconnect a listener stalled this long',
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
  if (c.faultInjection === 'on' && (env.NODE_ENV ?? process.env.NODE_ENV) === 'production') {
    throw new ConfigError(
      'faultInjection',
      'faultInjection (AURALIS_FAULT_INJECTION) cannot be on with NODE_ENV=production: it is a test switch',
    );
  }
  if (c.httpBurstMs + c.renderAheadMs + c.leadMs >= c.ringSeconds * 1000) {
    throw new ConfigError('httpBurstMs', `httpBurstMs + renderAheadMs + leadMs must fit in ringSeconds`);
  }
  return c;
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
