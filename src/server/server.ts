import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
} from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import { monoNowMs, wallOffsetMs } from '../engine/clock.ts';
import {
  EngineHost,
  type DroppedEvent,
  type EncoderErrorEvent,
  type EngineOptions,
  type NowEvent,
} from '../engine/engine-host.ts';
import type { Engine } from '../engine/engine.ts';
import { InlineEngine } from '../engine/inline-engine.ts';
import { BaselinePacer } from './broadcast/baseline-pacer.ts';
import type { SoundFontReady, StationStats } from '../engine/messages.ts';
import { SAMPLE_RATE } from '../music/types.ts';
import type { Listener, Transport } from './broadcast/listener.ts';
import { Pacer, type Broadcaster, type PacerObserver } from './broadcast/pacer.ts';
import {
  ConfigError,
  configSecrets,
  listenError,
  loadConfig,
  resolveSoundFont,
  tierQueueBytes,
  type ServerConfig,
} from './config.ts';
import { PRESETS, soundFontMissing } from '../music/presets.ts';
import { SOUNDFONT_DIR } from '../dsp/soundfont-file.ts';
import { IcecastRelays } from '../relay/icecast.ts';
import type { ControlResultLabel, ServerContext } from './context.ts';
import { Controller, type ControlSource } from './control.ts';
import { ApiError, CLOSE, ERRORS, type ErrorCode } from './errors.ts';
import { registerHttpGuards, replyWithError } from './http-errors.ts';
import { ClientLimits } from './limits.ts';
import { proxyMatcher } from './trust-proxy.ts';
import { StationStore } from './station-store.ts';
import { StationSchedules } from './schedules.ts';
import { SleepTimers } from './sleep-timers.ts';
import { OperatorLog } from './operator-log.ts';
import { NotesFeed } from './notes-feed.ts';
import { NowFeed } from './now-feed.ts';
import { nowMessage } from './now-playing.ts';
import { registerApiRoutes, registerHealthRoutes } from './routes/api.ts';
import type { Station } from './station.ts';
import type { Schedule } from '../music/schedule.ts';
import { DEFAULT_STATION_ID, StationRegistry } from './stations.ts';
import { handleStream } from './transports/http-stream.ts';
import { handleWebSocket } from './transports/ws.ts';
import { HlsService, registerHlsRoutes } from './hls/hls.ts';
import { ServerMetrics } from './server-metrics.ts';
import { LogSink, RequestLinesAtDebug, fastifyLoggerOptions, guardStdio, wantsPretty } from './log.ts';
import { registerFaultRoutes } from './faults.ts';
import { EdgeEngine, type ParamsChangeEvent } from '../cluster/edge-engine.ts';
import { ClusterOrigin } from '../cluster/origin.ts';
import type { ClusterLog } from '../cluster/redis.ts';

export interface AuralisServer {
  /** `http://host:port` */
  url: string;
  port: number;
  config: ServerConfig;
  app: FastifyInstance;
  engine: Engine;
  registry: StationRegistry;
  metrics: ServerMetrics;
  /** Where the log goes (null when the level is `silent`). */
  logSink: LogSink | null;
  /** Stops accepting, closes WebSockets with 1001, ends streams, stops the engine. */
  close(): Promise<void>;
}

/** Text messages from clients are at most 4 KiB (PROTOCOL.md); larger ones close with 1009. */
const MAX_WS_MESSAGE_BYTES = 4096;

class Context implements ServerContext, PacerObserver {
  readonly config: ServerConfig;
  readonly engine: Engine;
  readonly registry: StationRegistry;
  readonly pacer: Broadcaster;
  readonly controller: Controller;
  readonly metrics: ServerMetrics;
  readonly limits: ClientLimits;
  readonly nowFeed: NowFeed;
  readonly momentKey: Buffer;
  readonly notesFeed: NotesFeed;
  readonly schedules: StationSchedules;
  readonly sleepTimers: SleepTimers;
  closing = false;
  readonly soundfont: string | null;
  private listeners = 0;
  private readonly lastSendMs = new Map<Station, number>();

  constructor(config: ServerConfig, metrics: ServerMetrics) {
    this.config = config;
    this.metrics = metrics;
    this.limits = new ClientLimits({ ...config, trusted: proxyMatcher(config.trustProxy) });
    this.nowFeed = new NowFeed({ heartbeatMs: config.sseHeartbeatMs, maxClients: config.maxListeners });
    this.momentKey = config.momentSecret !== '' ? Buffer.from(config.momentSecret) : randomBytes(32);
    const engineOptions: EngineOptions = {
      workers: config.workers,
      chunkFrames: (config.chunkMs * SAMPLE_RATE) / 1000,
      ringSlots: Math.ceil((config.ringSeconds * 1000) / config.chunkMs),
      leadMs: config.leadMs,
      renderAheadMs: config.renderAheadMs,
      opusBitrate: config.opusBitrate,
      opusTiers: config.opusTiers,
      opusComplexity: config.opusComplexity,
      mp3Bitrate: config.mp3Bitrate,
      ringPoolSize: config.maxStations,
      soundfont: null,
    };
    this.soundfont = resolveSoundFont(config);
    engineOptions.soundfont = this.soundfont;
    if (config.role === 'edge') {
      this.engine = new EdgeEngine({
        ...engineOptions,
        redisUrl: config.redisUrl,
        log: this.clusterLog,
        metrics: metrics.m,
      });
      this.pacer = this.newPacer(config);
    } else if (config.profile === 'baseline') {
      const inline = new InlineEngine(engineOptions);
      this.engine = inline;
      this.pacer = new BaselinePacer({ engine: inline, leadMs: config.leadMs, observer: this });
    } else {
      this.engine = new EngineHost(engineOptions);
      this.pacer = this.newPacer(config);
    }
    this.notesFeed = new NotesFeed(this.engine);
    this.registry = new StationRegistry(this.engine, this.pacer, config);
    this.registry.onCreated = (st) => {
      this.oplog?.stationCreated(st);
      // An edge shows the schedule the station's owning origin runs (src/cluster/).
      if (this.engine instanceof EdgeEngine) this.schedules.show(st, this.engine.scheduleOf(st.id));
      // A personal session taken back from its token through this edge: its sleep timer runs on here.
      if (this.engine instanceof EdgeEngine && st.personal)
        void this.engine.sleepOf(st.id).then(
          (endsAtWallMs) => {
            if (endsAtWallMs !== null && this.registry.get(st.id) === st)
              this.sleepTimers.restore(st, endsAtWallMs - wallOffsetMs());
          },
          () => {
            // Redis down: the timer is lost with the edge that ran it (deploy.md).
          },
        );
    };
    this.registry.onNowChanged = (st) => this.now(st, nowMessage(st));
    this.registry.onRemoved = (st) => {
      this.oplog?.stationRemoved(st);
      this.lastSendMs.delete(st);
      this.nowFeed.stationRemoved(st);
      this.metrics.stationRemoved(st);
      this.schedules.remove(st.id);
      this.sleepTimers.remove(st.id);
    };
    this.controller = new Controller(this.engine, {
      changed: (source, latency) => this.metrics.controlLatency(source, latency),
      applied: (st, source, effectiveAt) => {
        this.oplog?.changed(st, source, effectiveAt);
        if (!st.personal && st.id !== DEFAULT_STATION_ID) this.stationsChanged();
      },
    });
    this.schedules = new StationSchedules(this.controller, this.clusterLog, (ok) =>
      this.metrics.controlChange('schedule', ok ? 'ok' : 'rejected'),
    );
    this.sleepTimers = new SleepTimers(
      this.controller,
      this.clusterLog,
      (st) => this.registry.remove(st.id, 'slept'),
      (st, endAtMono) => {
        // On an edge the timer is kept in Redis, for the edge that may take the session back.
        if (this.engine instanceof EdgeEngine)
          void this.engine
            .putSleep(st.id, endAtMono === null ? null : endAtMono + wallOffsetMs())
            .catch((err: Error) =>
              this.clusterLog.warn({ err: err.message }, 'a sleep timer was not kept in redis'),
            );
      },
    );
    this.engine.on('now', (e: NowEvent) => {
      const st = this.registry.get(e.id);
      if (!st) return;
      if (st.live) st.queueNow(e);
      else {
        // Idle: the worker composes without synthesis; what sounds changed now (nothing is
        // published to wait for), so peers and event streams hear it at once.
        st.idleNow(e);
        this.now(st, nowMessage(st));
      }
    });
    this.engine.on('stats', (stats: StationStats[], worker: number, heapUsedBytes?: number) => {
      this.metrics.engineStats(stats, (id) => this.registry.get(id));
      // Engine workers report their isolate's heap; the inline (baseline) engine has no worker.
      if (heapUsedBytes !== undefined) this.metrics.workerHeap(worker, heapUsedBytes);
    });
    // A change made through another node of the cluster (src/cluster/edge-engine.ts).
    this.engine.on('params', (e: ParamsChangeEvent) => {
      const st = this.registry.get(e.id);
      if (st) this.controller.announce(st, e, e.source as ControlSource);
    });
    // Shared stations defined or removed through another edge (src/cluster/edge-engine.ts).
    this.engine.on('station-added', (id: string) => void this.mirror(id));
    this.engine.on('station-removed', (id: string) => this.registry.remove(id));
    this.engine.on('schedule', (id: string) => {
      const st = this.registry.get(id);
      if (!st || !(this.engine instanceof EdgeEngine)) return;
      this.schedules.show(st, this.engine.scheduleOf(id));
      this.stationsChanged();
    });
    this.engine.on('restart', () => this.metrics.workerRestarted());
    this.engine.on('dropped', (e: DroppedEvent) => this.metrics.engineDropped(e.reason, e.count));
    this.engine.on('encoder-error', () => this.metrics.encoderError());
  }

  private newPacer(config: ServerConfig): Pacer {
    return new Pacer({
      leadMs: config.leadMs,
      listenerQueueBytes: config.listenerQueueBytes,
      tierQueueBytes: tierQueueBytes(config),
      stallTimeoutMs: config.stallTimeoutMs,
      maxListenerLagMs: config.maxListenerLagMs,
      queueSampleMs: config.queueSampleMs,
      observer: this,
    });
  }

  /** The server's logger once it exists (cluster lines before it are not written). */
  log: FastifyBaseLogger | null = null;
  /** The origin role's link to Redis (null for the other roles). */
  origin: ClusterOrigin | null = null;
  readonly clusterLog: ClusterLog = {
    info: (obj, msg) => this.log?.info(obj, msg),
    warn: (obj, msg) => this.log?.warn(obj, msg),
  };

  /** An edge takes a shared station of the cluster into its registry (any edge serves any station). */
  async mirror(id: string): Promise<void> {
    if (this.closing || this.registry.get(id)) return;
    try {
      await this.registry.create({ id });
    } catch (err) {
      if (!this.registry.get(id))
        this.log?.warn(
          { station: id, err: (err as Error).message },
          `station ${id} of the cluster not served here`,
        );
    }
  }

  /**
   * Sets (null: removes) a shared station's schedule: run here on a standalone server; on an edge,
   * stored in Redis for the station's owning origin to run and every edge to show.
   */
  async setSchedule(st: Station, schedule: Schedule | null): Promise<void> {
    if (this.engine instanceof EdgeEngine) {
      try {
        await this.engine.putSchedule(st.id, schedule);
      } catch (err) {
        throw new ApiError('NOT_READY', `the schedule was not stored: ${(err as Error).message}`);
      }
      this.schedules.show(st, schedule);
    } else if (schedule !== null) this.schedules.set(st, schedule);
    else this.schedules.remove(st.id);
  }

  /** Why the node cannot serve now because of Redis (origin and edge roles), or null. */
  redisProblem(): string | null {
    const up = this.engine instanceof EdgeEngine ? this.engine.up : this.origin ? this.origin.up : true;
    return up ? null : 'redis is unreachable (reconnecting)';
  }

  /** The info-level event lines (set once the logger exists; null without one). */
  oplog: OperatorLog | null = null;
  /** Keeps the API-created stations across restarts (`--state-file`); null when not kept. */
  store: StationStore | null = null;

  stationsChanged(): void {
    if (!this.store || this.closing) return;
    // The default station is kept only for its schedule (it is created at every start anyway).
    void this.store.save(
      this.registry
        .all()
        .filter((st) => !st.personal && (st.id !== DEFAULT_STATION_ID || this.schedules.get(st.id)))
        .map((st) => {
          const { key, mode, bpm, intensity, preset } = st.params;
          const schedule = this.schedules.get(st.id);
          return {
            id: st.id,
            seed: st.seed,
            params: { key, mode, bpm, intensity, preset },
            ...(schedule ? { schedule } : {}),
          };
        }),
    );
  }

  listenerCount(): number {
    return this.listeners;
  }
  listenerJoined(transport: Transport): void {
    this.listeners++;
    this.metrics.listeners(transport, +1);
    this.oplog?.joinedListener(transport);
  }
  listenerLeft(transport: Transport, listener: Listener): void {
    this.listeners--;
    this.oplog?.leftListener(transport);
    this.metrics.listeners(transport, -1);
    this.pacer.forget?.(listener);
  }
  controlAccepted(source: ControlSource): void {
    this.metrics.controlChange(source, 'ok');
  }
  controlRejected(source: ControlSource, result: Exclude<ControlResultLabel, 'ok'>): void {
    this.metrics.controlChange(source, result);
  }
  clientStats(listener: Listener, bufferedMs: number, underruns: number): void {
    this.metrics.clientStats(listener, bufferedMs, underruns);
  }
  tierSwitched(up: boolean): void {
    this.metrics.tierSwitched(up);
  }

  // PacerObserver
  chunkPublished(
    st: Station,
    _seq: number,
    latenessSeconds: number,
    sends: Int32Array,
    fanoutSeconds?: number,
  ): void {
    const now = monoNowMs();
    const last = this.lastSendMs.get(st);
    this.lastSendMs.set(st, now);
    const jitterSeconds = last === undefined ? null : Math.abs(now - last - st.chunkMs) / 1000;
    this.metrics.chunkPublished(latenessSeconds, jitterSeconds, sends, fanoutSeconds);
  }
  listenerSkipped(transport: Transport): void {
    this.metrics.skipped(transport);
    this.oplog?.skippedChunk();
  }
  listenerSent(transport: Transport, count: number): void {
    this.metrics.sent(transport, count);
  }
  listenerDropped(transport: Transport, reason: 'stalled' | 'expired'): void {
    this.metrics.listenerDropped(transport, reason);
    this.oplog?.droppedListener(reason);
  }
  listenerLag(transport: Transport, lagSeconds: number): void {
    this.metrics.listenerLag(transport, lagSeconds);
  }
  /** Set once the logger exists (info level). */
  info: (message: string) => void = () => {};
  queuesUnavailable(message: string): void {
    this.info(message);
  }
  now(st: Station, json: string): void {
    for (const peer of st.peers) peer.send(json);
    this.nowFeed.changed(st);
  }
}

/** Characters a Host header may have to be echoed into the CSP (anything else: 'self' only). */
const SAFE_HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * Security headers on every fastify reply (the player, the API, errors). The player loads only
 * same-origin scripts, styles, its AudioWorklet module and the `<audio>` stream; it connects to the
 * API and `/ws` on its own host. HTTP streams are written raw and carry their own headers.
 */
function setSecurityHeaders(reply: FastifyReply, host: string | undefined): void {
  const ws = host && SAFE_HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  reply.header(
    'content-security-policy',
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
      `media-src 'self'; connect-src 'self'${ws}; worker-src 'self'; object-src 'none'; ` +
      "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  );
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cross-origin-opener-policy', 'same-origin');
  reply.header('cross-origin-resource-policy', 'same-origin');
  reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=(), usb=()');
}

const CLIENT_ERRORS: Partial<Record<string, ErrorCode>> = {
  ERR_HTTP_REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  HPE_HEADER_OVERFLOW: 'HEADERS_TOO_LARGE',
};

/**
 * A request Node could not hand to fastify (a timeout, a head over the limit, bytes that are not
 * HTTP): answered with a documented error code, then the connection is closed.
 */
function clientError(app: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code = CLIENT_ERRORS[err.code ?? ''] ?? 'BAD_REQUEST';
  const message =
    code === 'REQUEST_TIMEOUT'
      ? 'the request did not arrive in time'
      : code === 'HEADERS_TOO_LARGE'
        ? 'the request line and headers are too large'
        : 'the request is not valid HTTP';
  app.log.info({ code, remote: socket.remoteAddress }, `client error: ${message}`);
  if (socket.writable) {
    const body = JSON.stringify(new ApiError(code, message).toJSON());
    const status = ERRORS[code].status;
    socket.end(
      `HTTP/1.1 ${status} ${code}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  }
  setTimeout(() => socket.destroy(), 1000).unref();
}

export interface StartOptions {
  /**
   * The log destination, owned by the caller (the CLI's stdout sink). Without one, a server that
   * logs makes its own on process.stdout and closes it with the server.
   */
  logSink?: LogSink;
  /** Where the request log goes instead of stdout (tests read it): one JSON line per write. */
  logStream?: { write(line: string): void };
}

/**
 * Starts an Auralis server: the engine workers, the `default` station, the pacer, and the HTTP and
 * WebSocket routes. `overrides` take precedence over environment variables and defaults.
 */
export async function startServer(
  overrides: Partial<Record<keyof ServerConfig, unknown>> = {},
  env: NodeJS.ProcessEnv = {},
  options: StartOptions = {},
): Promise<AuralisServer> {
  const testing = process.env.NODE_TEST_CONTEXT !== undefined;
  const config = loadConfig(
    {
      ...(testing && overrides.logLevel === undefined ? { logLevel: 'silent' } : {}),
      // Tests keep no stations across runs unless they ask to.
      ...(testing && env.AURALIS_STATE_FILE === undefined ? { stateFile: '' } : {}),
      ...overrides,
    },
    env,
  );
  const logging = config.logLevel !== 'silent';
  const ownSink = logging && !options.logSink && !options.logStream;
  if (ownSink) guardStdio(); // an EPIPE after the sink is closed must not crash the process either
  const logSink =
    options.logSink ??
    (ownSink
      ? new LogSink(process.stdout, {
          maxBytes: config.logQueueBytes,
          pretty: wantsPretty(config.logFormat, process.stdout),
        })
      : null);
  const logDestination = options.logStream ?? logSink;
  const metrics = new ServerMetrics(config, () => logSink?.dropped ?? 0);
  const ctx = new Context(config, metrics);
  const hls = new HlsService(ctx, metrics.m);
  const removed = ctx.registry.onRemoved;
  ctx.registry.onRemoved = (st) => {
    hls.release(st);
    removed(st);
  };

  const app = Fastify({
    logger:
      config.logLevel === 'silent' || !logDestination
        ? false
        : fastifyLoggerOptions(config.logLevel, logDestination, configSecrets(config)),
    frameworkErrors: (err, req, reply) => replyWithError(config, err, req, reply),
    bodyLimit: config.maxBodyBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
    // Node applies these to a request until it is complete: a stream (a GET without a body) or an
    // upgraded WebSocket is complete at once and is never cut by them.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.headersTimeoutMs,
      // Node refuses a head whose URL, header names and values reach maxHeaderSize: +1 accepts exactly N.
      maxHeaderSize: config.maxHeaderBytes + 1,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.headersTimeoutMs / 4))),
    },
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Socket) => clientError(app, err, socket),
    // Per-request lines are debug: at info the log tells what happened to the service.
    logController: new RequestLinesAtDebug(),
    // req.ip is the client named by X-Forwarded-For only when the peer is a configured proxy.
    trustProxy: proxyMatcher(config.trustProxy),
  });
  app.server.on('connection', (socket: Socket) => ctx.limits.connectionOpened(socket));
  app.addHook('onRequest', (req, reply, done) => {
    setSecurityHeaders(reply, req.headers.host);
    const socket = req.raw.socket;
    if (ctx.limits.viaProxy(socket)) {
      // Through a trusted proxy: the forwarded client's open requests count, not the proxy's.
      const closer = req.headers.upgrade ? socket : reply.raw;
      if (ctx.limits.requestOpened(req.ip, closer)) return done();
      refuseTooManyConnections(reply, ctx.limits.limit);
      return;
    }
    if (ctx.limits.isRefused(socket)) {
      // Closed once answered, also when the request was a WebSocket upgrade (no 'connection: close' there).
      reply.raw.once('finish', () => {
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
      });
      refuseTooManyConnections(reply.header('connection', 'close'), ctx.limits.limit);
      return;
    }
    done();
  });

  app.setErrorHandler((err: FastifyError, req, reply) => replyWithError(config, err, req, reply));
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .send(new ApiError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`).toJSON());
  });

  registerHttpGuards(app, config);

  await app.register(fastifyRateLimit, {
    global: false,
    max: config.apiRatePerSecond,
    timeWindow: 1000,
    errorResponseBuilder: (_req, context) => {
      const e = new ApiError(
        'RATE_LIMITED',
        `more than ${context.max} requests a second; retry in ${context.after}`,
      );
      return Object.assign(e.toJSON(), { statusCode: 429 });
    },
  });
  await app.register(fastifyWebsocket, { options: { maxPayload: MAX_WS_MESSAGE_BYTES } });

  await app.register(async (scoped) => {
    scoped.addHook('onRequest', scoped.rateLimit());
    // Changes count against the client address's control rate, shared with its WebSockets.
    scoped.addHook('onRequest', (req, reply, done) => {
      if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return done();
      if (ctx.limits.takeControl(req.ip)) return done();
      ctx.controlRejected('api', 'rate_limited');
      void reply
        .code(429)
        .send(
          new ApiError(
            'RATE_LIMITED',
            `more than ${ctx.limits.controlLimit} control changes a second from your address`,
          ).toJSON(),
        );
    });
    registerApiRoutes(scoped, ctx);
    registerHlsRoutes(scoped, ctx, hls);
  });
  registerHealthRoutes(app, ctx);
  if (config.faultInjection === 'on') registerFaultRoutes(app, ctx);
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.contentType);
    return metrics.expose();
  });
  app.route({
    method: 'GET',
    url: '/ws',
    // A plain GET (no upgrade) gets a documented error rather than an empty 404.
    handler: async (_req, reply) => {
      const e = new ApiError('BAD_REQUEST', '/ws is a WebSocket endpoint: connect with Upgrade: websocket');
      return reply.code(e.status).send(e.toJSON());
    },
    wsHandler: (socket, req) => handleWebSocket(ctx, socket, req),
  });
  app.get<{ Params: { file: string } }>('/stream/:file', (req, reply) => handleStream(ctx, req, reply));

  if (existsSync(config.staticDir)) {
    await app.register(fastifyStatic, { root: config.staticDir, prefix: '/', index: 'index.html' });
  } else {
    app.get('/', async (_req, reply) =>
      reply
        .type('text/html')
        .send(
          '<!doctype html><title>Auralis</title><p>The web player is not built: run <code>npm run build:client</code>.</p>',
        ),
    );
  }

  ctx.info = (message) => app.log.info(message);
  ctx.log = app.log;
  const sampled = PRESETS.filter((p) => p.sampled).map((p) => p.name);
  if (ctx.soundfont !== null)
    app.log.info(
      { soundfont: ctx.soundfont },
      `sampled presets (${sampled.join(', ')}) play the SoundFont ${ctx.soundfont}`,
    );
  else
    app.log.info(
      config.soundfont === 'off'
        ? `no SoundFont (soundfont off): the sampled presets (${sampled.join(', ')}) are refused`
        : `no SoundFont found in ${SOUNDFONT_DIR}: the sampled presets (${sampled.join(', ')}) are refused (start with --soundfont PATH)`,
    );
  if (config.logLevel !== 'silent') ctx.oplog = new OperatorLog(app.log, config.logSummaryMs);
  ctx.nowFeed.onDropped = (st, reason) =>
    app.log.info(
      { station: st.personal ? '(personal)' : st.id, reason },
      reason === 'queue'
        ? 'now-playing event stream closed: its client does not read (queue over its bound)'
        : 'now-playing event stream closed: its client read nothing for two heartbeats',
    );
  ctx.engine.on('soundfont', (index: number, r: SoundFontReady) => {
    if ('failure' in r)
      app.log.warn(
        { worker: index, soundfont: ctx.soundfont },
        `engine worker could not parse the SoundFont (${r.failure}): its sampled presets play the built-in instruments`,
      );
    else
      app.log.debug(
        { worker: index, soundfont: ctx.soundfont, parsedMs: Math.round(r.parsedMs) },
        'engine worker parsed the SoundFont for its first sampled station',
      );
  });
  ctx.engine.on('worker-error', (index: number, err: Error) => {
    app.log.error({ err, worker: index }, 'engine worker died; restarting it');
  });
  ctx.engine.on('restart', (index: number, exitCode: number | null) => {
    app.log.warn(
      { worker: index, exitCode },
      `engine worker exited (code ${exitCode}) and was restarted; its stations resume with a flagged discontinuity`,
    );
  });
  ctx.engine.on('encoder-error', (e: EncoderErrorEvent) => {
    app.log.warn(
      { station: e.id, seq: e.seq, dropped: e.dropped },
      e.dropped ? `chunk dropped: ${e.message}` : e.message,
    );
  });
  ctx.engine.on('stats', (stats: StationStats[]) => {
    for (const s of stats) {
      if (s.ringWaits <= 0) continue;
      // (A personal session's id is scrubbed by the log layer, src/server/log.ts.)
      app.log.warn(
        { station: s.id, waits: s.ringWaits, waitedSeconds: Math.round(s.ringWaitSeconds * 1000) / 1000 },
        'engine waited for ring slots a socket could still send (the event loop was blocked for about a ring length); nothing was overwritten',
      );
    }
  });
  ctx.engine.on('dropped', (e: DroppedEvent) => {
    if (e.reason === 'encode') return; // logged as an encoder error
    app.log.warn(
      { station: e.id, reason: e.reason, fromSeq: e.fromSeq, count: e.count },
      `engine dropped ${e.count} chunk(s): ${e.message}`,
    );
  });
  // Lifecycle: close() stops everything startServer started (pacer, metrics monitors, stations'
  // timers, sockets, the HTTP server, the engine workers) and leaves no timer behind; a start that
  // fails half-way runs it too, so nothing outlives the rejected promise.
  let closing: Promise<void> | null = null;
  let relays: IcecastRelays | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      ctx.closing = true;
      relays?.close();
      ctx.pacer.stop();
      metrics.stop();
      for (const st of ctx.registry.all()) {
        for (const l of st.listeners) l.kick('shutdown');
      }
      for (const ws of app.websocketServer.clients) ws.close(CLOSE.GOING_AWAY, 'server shutting down');
      ctx.nowFeed.close();
      ctx.notesFeed.close();
      hls.close();
      ctx.registry.close();
      ctx.schedules.close();
      ctx.sleepTimers.close();
      ctx.limits.close();
      ctx.oplog?.close();
      await ctx.store?.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([app.close(), new Promise((r) => (timer = setTimeout(r, 1500)))]);
      clearTimeout(timer);
      await ctx.origin?.close();
      await ctx.engine.close();
      if (ownSink) logSink?.close();
    })();
    return closing;
  };

  try {
    await ctx.engine.start();
    if (config.role === 'origin' && ctx.engine instanceof EngineHost) {
      // An origin serves no listeners of its own: it renders the stations whose lease it holds.
      ctx.origin = new ClusterOrigin({
        redisUrl: config.redisUrl,
        ringSlots: Math.ceil((config.ringSeconds * 1000) / config.chunkMs),
        engine: ctx.engine,
        log: ctx.clusterLog,
        metrics: metrics.m,
        scheduleCounted: (ok) => metrics.controlChange('schedule', ok ? 'ok' : 'rejected'),
      });
      await ctx.origin.start();
    } else {
      try {
        await ctx.registry.create({ id: DEFAULT_STATION_ID });
      } catch (err) {
        // On an edge, another edge's definition of the default station (engine 'station-added')
        // can be mirrored into the registry while this create waits for Redis: it exists, as wished.
        if (!(
          err instanceof ApiError &&
          err.code === 'STATION_EXISTS' &&
          ctx.registry.get(DEFAULT_STATION_ID)
        ))
          throw err;
      }
    }
    if (ctx.engine instanceof EdgeEngine)
      for (const id of await ctx.engine.sharedStationIds()) await ctx.mirror(id);
    if (config.stateFile !== '' && config.role !== 'origin')
      await restoreStations(ctx, new StationStore(config.stateFile, app.log), app.log);
    ctx.pacer.start();
    metrics.start(ctx);
    await app.listen({ host: config.host, port: config.port });
    if (config.icecast.length > 0) {
      relays = new IcecastRelays(ctx, app.log, metrics.m);
      await createPushedStations(ctx, relays.stations, app.log);
      relays.start();
    }
  } catch (err) {
    await close();
    throw listenError(err, config.host, config.port);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  return {
    url: `http://${host}:${port}`,
    port,
    config,
    app,
    engine: ctx.engine,
    registry: ctx.registry,
    metrics,
    logSink,
    close,
  };
}

/**
 * Starts the stations kept in the store (`--state-file`) with their id, seed and parameters, then
 * lets it keep them; one that cannot start now (the station limit, a bad entry) is logged and left
 * out, and the server starts anyway.
 */
async function restoreStations(ctx: Context, store: StationStore, log: FastifyBaseLogger): Promise<void> {
  let restored = 0;
  // On an edge, the cluster's record (a schedule set, or deleted, through any edge since this one
  // stopped) wins over the file.
  const restoreSchedule = async (st: Station, schedule: Schedule): Promise<void> => {
    if (ctx.engine instanceof EdgeEngine && ctx.engine.scheduleKnown(st.id)) return;
    await ctx.setSchedule(st, schedule);
  };
  for (const s of store.load()) {
    const existing = ctx.registry.get(s.id);
    if (existing) {
      // The default station: only its schedule is kept.
      if (s.schedule)
        await restoreSchedule(existing, s.schedule).catch((err: Error) =>
          log.warn({ station: s.id, err: err.message }, `the schedule of ${s.id} was not restored`),
        );
      continue;
    }
    if (s.id === DEFAULT_STATION_ID) continue;
    const { preset, key, mode, bpm, intensity } = s.params;
    try {
      await ctx.registry.create({
        id: s.id,
        seed: s.seed,
        patch: { ...(preset ? { preset } : {}), key, mode, bpm, intensity },
      });
      const st = ctx.registry.get(s.id);
      // An entry that came while the server was down is reached now (nothing moves if it was).
      if (st && s.schedule) await restoreSchedule(st, s.schedule);
      restored++;
      // Kept as it is (its id, seed, clock and preset), played on the built-in instruments, and
      // shown as degraded (`degraded` in the API); the preset sounds again once a SoundFont is given.
      const missing = soundFontMissing(preset ?? null, ctx.soundfont !== null);
      if (missing !== null)
        log.warn({ station: s.id, preset }, `station ${s.id} restored degraded: ${missing}`);
    } catch (err) {
      log.warn(
        { station: s.id, err: (err as Error).message },
        `station ${s.id} from the store was not started`,
      );
    }
  }
  if (restored > 0) log.info({ path: store.path, stations: restored }, `restored ${restored} station(s)`);
  ctx.store = store;
}

/**
 * A station named by `--icecast` that neither exists by default nor was restored is created (as
 * `POST /api/stations` with that id would, random seed) and kept in the state file, so the operator
 * gets the push asked for; one that cannot be created (the station limit) is a ConfigError.
 */
async function createPushedStations(
  ctx: Context,
  ids: readonly string[],
  log: FastifyBaseLogger,
): Promise<void> {
  for (const id of ids) {
    if (ctx.registry.get(id)) continue;
    try {
      await ctx.registry.create({ id });
    } catch (err) {
      throw new ConfigError(
        'icecast',
        `icecast (--icecast / AURALIS_ICECAST): station ${id} could not be created: ${(err as Error).message}`,
      );
    }
    log.info({ station: id }, `station ${id} created for its Icecast push`);
    ctx.stationsChanged();
  }
}

/** 429 TOO_MANY_CONNECTIONS: the client's address has `limit` connections (or proxied requests) open. */
function refuseTooManyConnections(reply: FastifyReply, limit: number): void {
  void reply
    .code(ERRORS.TOO_MANY_CONNECTIONS.status)
    .header('retry-after', '1')
    .send(
      new ApiError(
        'TOO_MANY_CONNECTIONS',
        `more than ${limit} open connections from your address; close some and retry`,
      ).toJSON(),
    );
}
