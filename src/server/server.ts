import { existsSync } from 'node:fs';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import { monoNowMs } from '../engine/clock.ts';
import {
  EngineHost,
  type DroppedEvent,
  type EncoderErrorEvent,
  type EngineOptions,
} from '../engine/engine-host.ts';
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
import { registerHttpGuards, replyWithError } from './http-errors.ts';
import { registerApiRoutes, registerHealthRoutes } from './routes/api.ts';
import type { Station } from './station.ts';
import { DEFAULT_STATION_ID, StationRegistry } from './stations.ts';
import { handleStream } from './transports/http-stream.ts';
import { handleWebSocket } from './transports/ws.ts';
import { ServerMetrics } from './server-metrics.ts';
import { registerFaultRoutes } from './faults.ts';

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
      this.metrics.stationRemoved(st);
    };
    this.controller = new Controller(this.engine, {
      changed: (source, latency) => this.metrics.controlLatency(source, latency),
    });
    this.engine.on('now', (e) => this.registry.get(e.id)?.queueNow(e));
    this.engine.on('stats', (stats: StationStats[], worker: number, heapUsedBytes?: number) => {
      this.metrics.engineStats(stats, (id) => this.registry.get(id));
      // Engine workers report their isolate's heap; the inline (baseline) engine has no worker.
      if (heapUsedBytes !== undefined) this.metrics.workerHeap(worker, heapUsedBytes);
    });
    this.engine.on('restart', () => this.metrics.workerRestarted());
    this.engine.on('dropped', (e: DroppedEvent) => this.metrics.engineDropped(e.reason, e.count));
    this.engine.on('encoder-error', () => this.metrics.encoderError());
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
    const now = monoNowMs();
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

export interface StartOptions {
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
    { ...(testing && overrides.logLevel === undefined ? { logLevel: 'silent' } : {}), ...overrides },
    env,
  );
  const metrics = new ServerMetrics(config);
  const ctx = new Context(config, metrics);

  const app = Fastify({
    logger:
      config.logLevel === 'silent'
        ? false
        : { level: config.logLevel, ...(options.logStream ? { stream: options.logStream } : {}) },
    frameworkErrors: (err, req, reply) => replyWithError(config, err, req, reply),
    bodyLimit: config.maxBodyBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
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
    registerApiRoutes(scoped, ctx);
  });
  registerHealthRoutes(app, ctx);
  if (config.faultInjection === 'on') registerFaultRoutes(app, ctx);
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
  ctx.engine.on('dropped', (e: DroppedEvent) => {
    if (e.reason === 'encode') return; // logged as an encoder error
    app.log.warn(
      { station: e.id, reason: e.reason, fromSeq: e.fromSeq, count: e.count },
      `engine dropped ${e.count} chunk(s): ${e.message}`,
    );
  });
  await ctx.engine.start();
  await ctx.registry.create({ id: DEFAULT_STATION_ID });
  ctx.pacer.start();
  metrics.start(ctx);

  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

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
      await Promise.race([app.close(), new Promise((r) => setTimeout(r, 1500).unref())]);
      await ctx.engine.close();
    })();
    return closing;
  };

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
