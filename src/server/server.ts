import { existsSync } from 'node:fs';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import { EngineHost, type EngineOptions } from '../engine/engine-host.ts';
import type { Engine } from '../engine/engine.ts';
import { InlineEngine } from '../engine/inline-engine.ts';
import { BaselinePacer } from './broadcast/baseline-pacer.ts';
import type { StationStats } from '../engine/messages.ts';
import { SAMPLE_RATE } from '../music/types.ts';
import type { Listener, Transport } from './broadcast/listener.ts';
import { Pacer, type Broadcaster, type PacerObserver } from './broadcast/pacer.ts';
import { loadConfig, type ServerConfig } from './config.ts';
import type { ControlResultLabel, ServerContext } from './context.ts';
import { Controller, type ControlSource } from './control.ts';
import { ApiError, CLOSE } from './errors.ts';
import { registerApiRoutes, registerHealthRoutes } from './routes/api.ts';
import type { Station } from './station.ts';
import { DEFAULT_STATION_ID, StationRegistry } from './stations.ts';
import { handleStream } from './transports/http-stream.ts';
import { handleWebSocket } from './transports/ws.ts';
import { ServerMetrics } from './server-metrics.ts';

export interface AuralisServer {
  /** `http://host:port` */
  url: string;
  port: number;
  config: ServerConfig;
  app: FastifyInstance;
  engine: Engine;
  registry: StationRegistry;
  metrics: ServerMetrics;
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
  closing = false;
  private listeners = 0;
  private readonly lastSendMs = new Map<Station, number>();

  constructor(config: ServerConfig, metrics: ServerMetrics) {
    this.config = config;
    this.metrics = metrics;
    const engineOptions: EngineOptions = {
      workers: config.workers,
      chunkFrames: (config.chunkMs * SAMPLE_RATE) / 1000,
      ringSlots: Math.ceil((config.ringSeconds * 1000) / config.chunkMs),
      leadMs: config.leadMs,
      renderAheadMs: config.renderAheadMs,
      opusBitrate: config.opusBitrate,
      opusComplexity: config.opusComplexity,
      ringPoolSize: config.maxStations,
    };
    if (config.profile === 'baseline') {
      const inline = new InlineEngine(engineOptions);
      this.engine = inline;
      this.pacer = new BaselinePacer({ engine: inline, leadMs: config.leadMs, observer: this });
    } else {
      this.engine = new EngineHost(engineOptions);
      this.pacer = new Pacer({
        leadMs: config.leadMs,
        listenerQueueBytes: config.listenerQueueBytes,
        stallTimeoutMs: config.stallTimeoutMs,
        observer: this,
      });
    }
    this.registry = new StationRegistry(this.engine, this.pacer, config);
    this.registry.onRemoved = (st) => {
      this.lastSendMs.delete(st);
      this.metrics.stationRemoved(st.id);
    };
    this.controller = new Controller(this.engine, {
      changed: (source, latency) => this.metrics.controlLatency(source, latency),
    });
    this.engine.on('now', (e) => this.registry.get(e.id)?.queueNow(e));
    this.engine.on('stats', (stats: StationStats[]) =>
      this.metrics.engineStats(stats, (id) => this.registry.get(id)),
    );
    this.engine.on('restart', () => this.metrics.workerRestarted());
  }

  listenerCount(): number {
    return this.listeners;
  }
  listenerJoined(transport: Transport): void {
    this.listeners++;
    this.metrics.listeners(transport, +1);
  }
  listenerLeft(transport: Transport, listener: Listener): void {
    this.listeners--;
    this.metrics.listeners(transport, -1);
    void listener;
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

  // PacerObserver
  chunkPublished(st: Station, _seq: number, latenessSeconds: number, sends: Int32Array): void {
    const now = Date.now();
    const last = this.lastSendMs.get(st);
    this.lastSendMs.set(st, now);
    const jitterSeconds = last === undefined ? null : Math.abs(now - last - st.chunkMs) / 1000;
    this.metrics.chunkPublished(latenessSeconds, jitterSeconds, sends);
  }
  listenerSkipped(transport: Transport): void {
    this.metrics.skipped(transport);
  }
  listenerSent(transport: Transport, count: number): void {
    this.metrics.sent(transport, count);
  }
  listenerStalled(_transport: Transport): void {}
  now(st: Station, json: string): void {
    for (const peer of st.peers) peer.send(json);
  }
}

/**
 * Starts an Auralis server: the engine workers, the `default` station, the pacer, and the HTTP and
 * WebSocket routes. `overrides` take precedence over environment variables and defaults.
 */
export async function startServer(
  overrides: Partial<Record<keyof ServerConfig, unknown>> = {},
  env: NodeJS.ProcessEnv = {},
): Promise<AuralisServer> {
  const testing = process.env.NODE_TEST_CONTEXT !== undefined;
  const config = loadConfig(
    { ...(testing && overrides.logLevel === undefined ? { logLevel: 'silent' } : {}), ...overrides },
    env,
  );
  const metrics = new ServerMetrics(config);
  const ctx = new Context(config, metrics);

  const app = Fastify({
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    bodyLimit: config.maxBodyBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
  });

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      e = new ApiError('BODY_TOO_LARGE', `the body is over ${config.maxBodyBytes} bytes`);
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      e = new ApiError('BAD_REQUEST', 'the body must be application/json');
    else if (err.statusCode === 400)
      e = new ApiError('BAD_REQUEST', `the body is not valid JSON: ${err.message}`);
    else if (err.statusCode === 429) e = new ApiError('RATE_LIMITED', 'too many requests; slow down');
    else {
      reply.log.error(err);
      e = new ApiError('INTERNAL', 'internal error');
    }
    void reply.code(e.status).send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .send(new ApiError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`).toJSON());
  });

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
    registerApiRoutes(scoped, ctx);
  });
  registerHealthRoutes(app, ctx);
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.contentType);
    return metrics.expose();
  });
  app.get('/ws', { websocket: true }, (socket, req) => handleWebSocket(ctx, socket, req));
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

  ctx.engine.on('worker-error', (index: number, err: Error) => {
    app.log.error({ err, worker: index }, 'engine worker died; restarting it');
  });
  // Lifecycle: close() stops everything startServer started (pacer, metrics monitors, stations'
  // timers, sockets, the HTTP server, the engine workers) and leaves no timer behind; a start that
  // fails half-way runs it too, so nothing outlives the rejected promise.
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      ctx.closing = true;
      ctx.pacer.stop();
      metrics.stop();
      for (const st of ctx.registry.all()) {
        for (const l of st.listeners) l.kick('shutdown');
      }
      for (const ws of app.websocketServer.clients) ws.close(CLOSE.GOING_AWAY, 'server shutting down');
      ctx.registry.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([app.close(), new Promise((r) => (timer = setTimeout(r, 1500)))]);
      clearTimeout(timer);
      await ctx.engine.close();
    })();
    return closing;
  };

  try {
    await ctx.engine.start();
    await ctx.registry.create({ id: DEFAULT_STATION_ID });
    ctx.pacer.start();
    metrics.start(ctx);
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await close();
    throw err;
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
    close,
  };
}
