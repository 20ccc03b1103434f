import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PRESETS, presetRequires, soundFontMissing } from '../../music/presets.ts';
import { validatePatch, type ParamsPatch } from '../../music/params.ts';
import { publicParams } from '../control.ts';
import type { ServerContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { Station } from '../station.ts';
import { DEFAULT_STATION_ID } from '../stations.ts';
import { nowPlaying } from '../now-playing.ts';
import { wantsEventStream, writeEventStreamHead } from '../now-feed.ts';
import { tokenMatches } from '../transports/ws.ts';
import { quote } from '../http-errors.ts';
import { monoNowMs, wallNowMs } from '../../engine/clock.ts';
import { EngineError } from '../../engine/engine-host.ts';
import { encodeMoment } from '../../engine/moment.ts';
import { MAX_HISTORY_CHANGES } from '../../engine/station-renderer.ts';
import { MAX_SCORE_SECONDS } from '../../engine/score-log.ts';
import { SAMPLE_RATE } from '../../music/types.ts';
import { validateSchedule } from '../../music/schedule.ts';
import { validateSleep } from '../sleep-timers.ts';

const VERSION = '0.1.0';

export function stationJson(ctx: ServerContext, st: Station): Record<string, unknown> {
  const now = monoNowMs();
  const missing = soundFontMissing(st.params.preset, ctx.soundfont !== null);
  return {
    id: st.id,
    personal: st.personal,
    // `idle`: nobody listens, nothing is rendered; the clock and the score go on (PROTOCOL.md).
    state: st.live ? 'live' : 'idle',
    listeners: st.listeners.size,
    params: publicParams(st.params),
    seed: st.seed,
    position: st.positionFrames,
    bufferedMs: Math.round(st.bufferedMs(now, ctx.config.leadMs)),
    chunkMs: st.chunkMs,
    now: st.lastNow ? nowPlaying(st) : null,
    schedule: ctx.schedules.json(st.id),
    // Not as its preset says (PROTOCOL.md): a sampled preset restored on a server without a SoundFont.
    degraded: missing === null ? null : { reason: 'soundfont', message: missing },
  };
}

/** Changing a station needs the control token when one is configured (PROTOCOL.md). */
export function requireControl(ctx: ServerContext, req: FastifyRequest): void {
  const token = ctx.config.controlToken;
  if (!token) return;
  const auth = req.headers.authorization;
  if (!auth)
    throw new ApiError('UNAUTHORIZED', 'this request needs the control token (Authorization: Bearer …)');
  const m = /^Bearer\s+(.+)$/i.exec(auth);
  if (!m || !tokenMatches(m[1]!.trim(), token)) throw new ApiError('FORBIDDEN', 'the control token is wrong');
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body))
    throw new ApiError('BAD_REQUEST', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

function getStation(ctx: ServerContext, id: string): Station {
  const st = ctx.registry.get(id);
  if (!st) throw new ApiError('UNKNOWN_STATION', `no station ${JSON.stringify(id)}`, 'id');
  return st;
}

/** Health and readiness: never rate-limited (load balancers and orchestrators poll them). */
export function registerHealthRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const now = monoNowMs();
    for (const st of ctx.registry.all()) {
      const ahead = st.bufferedMs(now, ctx.config.leadMs);
      if (ahead < 0) {
        return reply.code(503).send({
          status: 'degraded',
          // A personal session's id is a capability: never named on a public route.
          reason: `${st.personal ? 'a personal session' : `station ${st.id}`} is ${Math.round(-ahead)} ms behind real time`,
        });
      }
    }
    if (ctx.closing) return reply.code(503).send({ status: 'degraded', reason: 'shutting down' });
    const redis = ctx.redisProblem();
    if (redis !== null) return reply.code(503).send({ status: 'degraded', reason: redis });
    return { status: 'ready' };
  });
}

/** The `/api` routes (rate-limited by the caller's scope). */
export function registerApiRoutes(app: FastifyInstance, ctx: ServerContext): void {
  // Personal sessions are private: their ids are capabilities, so public routes give counts only.
  app.get('/api/status', async () => {
    const all = ctx.registry.all();
    let sessions = 0;
    let personalListeners = 0;
    for (const st of all) {
      if (!st.personal) continue;
      sessions++;
      personalListeners += st.listeners.size;
    }
    return {
      version: VERSION,
      uptimeSeconds: Math.round(process.uptime()),
      listeners: ctx.listenerCount(),
      stations: all.filter((st) => !st.personal).map((st) => stationJson(ctx, st)),
      personal: { sessions, listeners: personalListeners },
    };
  });

  app.get('/api/presets', async () =>
    PRESETS.map((p) => {
      const requires = presetRequires(p);
      return {
        name: p.name,
        character: p.character,
        description: p.description,
        params: p.params,
        requires,
        available: requires.every((r) => r !== 'soundfont' || ctx.soundfont !== null),
      };
    }),
  );

  app.get('/api/stations', async () =>
    ctx.registry
      .all()
      .filter((s) => !s.personal)
      .map((st) => stationJson(ctx, st)),
  );

  app.get<{ Params: { id: string } }>('/api/stations/:id', async (req) =>
    stationJson(ctx, getStation(ctx, req.params.id)),
  );

  // What is sounding: JSON, or with `Accept: text/event-stream` an event stream of its changes. A
  // personal session answers by its id (a capability); nothing here lists stations.
  app.get<{ Params: { id: string } }>('/api/stations/:id/now', (req, reply) => {
    const st = getStation(ctx, req.params.id);
    if (req.method !== 'GET' || !wantsEventStream(req.headers.accept)) {
      void reply.send(nowPlaying(st));
      return;
    }
    if (!ctx.nowFeed.hasRoom()) {
      if (ctx.closing) throw new ApiError('NOT_READY', 'the server is shutting down');
      throw new ApiError(
        'SERVER_FULL',
        `the server has its maximum of ${ctx.nowFeed.maxClients} now-playing event streams`,
      );
    }
    // Taken over like /stream/*: a GET is complete at once, so no request timeout cuts it.
    reply.hijack();
    req.raw.socket.setNoDelay(true);
    writeEventStreamHead(reply.raw, reply.getHeaders());
    ctx.nowFeed.add(st, reply.raw);
  });

  // A moment: a signed, self-contained token of where the station is now and how to rebuild its
  // audio (docs/ARCHITECTURE.md, "Moments"); `url` opens the page there.
  app.get<{ Params: { id: string } }>('/api/stations/:id/moment', async (req) => {
    const st = getStation(ctx, req.params.id);
    if (!ctx.engine.history)
      throw new ApiError('NOT_READY', 'moments need the optimized profile (--profile optimized)');
    const e = st.engine;
    // At or just after the newest chunk sent (live), or the chunk playing now (idle).
    const position = st.positionFrames;
    let reply;
    try {
      reply = await ctx.engine.history(st.id, position);
    } catch (err) {
      if (err instanceof EngineError) throw new ApiError('NOT_READY', `no moment now: ${err.message}`);
      throw err;
    }
    if (!reply.history.complete)
      throw new ApiError(
        'NOT_READY',
        `this station has had more than ${MAX_HISTORY_CHANGES} parameter changes since it started: its moments cannot be reproduced`,
      );
    const token = encodeMoment(
      {
        // A personal session's id is a capability: never put into a shareable token.
        station: st.personal ? null : st.id,
        position,
        chunkFrames: e.chunkFrames,
        baseFrames: reply.baseFrames,
        at: Math.round(e.startMonoMs + e.wallOffsetMs + (position / e.chunkFrames) * e.chunkMs),
        history: reply.history,
      },
      ctx.momentKey,
    );
    const host = req.headers.host ?? `${ctx.config.host}:${ctx.config.port}`;
    return { token, url: `${req.protocol}://${host}/?moment=${token}`, position };
  });

  // The last N seconds of the station's score as a Standard MIDI File (one track per instrument).
  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/api/stations/:id/score.mid',
    async (req, reply) => {
      const st = getStation(ctx, req.params.id);
      const raw = req.query.seconds;
      const seconds =
        raw === undefined ? 60 : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_SCORE_SECONDS)
        throw new ApiError(
          'INVALID_PARAM',
          `seconds must be a number with 0 < seconds <= ${MAX_SCORE_SECONDS}, got ${quote(String(raw))}`,
          'seconds',
        );
      if (!ctx.engine.scoreMidi)
        throw new ApiError('NOT_READY', 'the score needs the optimized profile (--profile optimized)');
      const to = st.positionFrames;
      const from = Math.max(0, to - Math.round(seconds * SAMPLE_RATE));
      let midi: Uint8Array;
      try {
        midi = await ctx.engine.scoreMidi(
          st.id,
          from,
          to,
          st.personal ? 'Auralis personal session' : `Auralis ${st.id}`,
        );
      } catch (err) {
        if (err instanceof EngineError) throw new ApiError('NOT_READY', `no score now: ${err.message}`);
        throw err;
      }
      return reply
        .type('audio/midi')
        .header(
          'content-disposition',
          `attachment; filename="${st.personal ? 'personal' : st.id}-${Math.round(from)}.mid"`,
        )
        .send(Buffer.from(midi.buffer, midi.byteOffset, midi.byteLength));
    },
  );

  app.post('/api/stations', async (req, reply) => {
    requireControl(ctx, req);
    const body = bodyObject(req.body);
    for (const k of Object.keys(body)) {
      if (!['id', 'preset', 'params', 'seed'].includes(k)) {
        throw new ApiError('INVALID_PARAM', `unknown field ${k}; allowed: id, preset, params, seed`, k);
      }
    }
    if (body.id !== undefined && typeof body.id !== 'string')
      throw new ApiError('BAD_REQUEST', 'id must be a string', 'id');
    const input: Record<string, unknown> = { ...(body.params === undefined ? {} : bodyObject(body.params)) };
    if ('seed' in input)
      throw new ApiError('INVALID_PARAM', 'seed goes at the top level, not in params', 'params.seed');
    const v = validatePatch(input, { soundfont: ctx.soundfont !== null });
    if (!v.ok) throw new ApiError('INVALID_PARAM', v.message, v.field);
    const patch: ParamsPatch = { ...v.patch };
    if (body.preset !== undefined) {
      const p = validatePatch({ preset: body.preset }, { soundfont: ctx.soundfont !== null });
      if (!p.ok) throw new ApiError('INVALID_PARAM', p.message, 'preset');
      patch.preset = p.patch.preset!;
    }
    let seed: number | undefined;
    if (body.seed !== undefined) {
      const s = validatePatch({ seed: body.seed }, { allowSeed: true });
      if (!s.ok) throw new ApiError('INVALID_PARAM', s.message, 'seed');
      seed = s.patch.seed;
    }
    const st = await ctx.registry.create({ id: body.id as string | undefined, patch, seed });
    ctx.stationsChanged();
    return reply.code(201).send(stationJson(ctx, st));
  });

  app.patch<{ Params: { id: string } }>('/api/stations/:id', async (req) => {
    requireControl(ctx, req);
    const st = getStation(ctx, req.params.id);
    if (st.personal) {
      ctx.controlRejected('api', 'forbidden');
      throw new ApiError('FORBIDDEN', `personal session ${st.id} is controlled by its owner only`);
    }
    const v = validatePatch(bodyObject(req.body), { soundfont: ctx.soundfont !== null });
    if (!v.ok) {
      ctx.controlRejected('api', 'rejected');
      throw new ApiError('INVALID_PARAM', v.message, v.field);
    }
    const r = await ctx.controller.change(st, v.patch, 'api');
    ctx.controlAccepted('api');
    return r;
  });

  // A station's day (PROTOCOL.md "Schedules"): shared stations, through a standalone server or an
  // edge (the owning origin runs it).
  const scheduledStation = (req: FastifyRequest<{ Params: { id: string } }>): Station => {
    requireControl(ctx, req);
    if (ctx.config.role === 'origin')
      throw new ApiError(
        'WRONG_ROLE',
        `an origin serves no station API: set the schedule of ${quote(req.params.id)} through an edge (the origin that owns the station runs it)`,
      );
    const st = getStation(ctx, req.params.id);
    if (st.personal)
      throw new ApiError(
        'FORBIDDEN',
        `personal session ${st.id} cannot have a schedule; shared stations can`,
      );
    return st;
  };

  app.put<{ Params: { id: string } }>('/api/stations/:id/schedule', async (req) => {
    const st = scheduledStation(req);
    const v = validateSchedule(req.body ?? null, { soundfont: ctx.soundfont !== null });
    if (!v.ok) {
      req.log.info({ station: st.id, field: v.field }, `schedule refused: ${v.message}`);
      throw new ApiError('INVALID_PARAM', v.message, v.field);
    }
    await ctx.setSchedule(st, v.schedule);
    ctx.stationsChanged();
    return ctx.schedules.json(st.id);
  });

  app.delete<{ Params: { id: string } }>('/api/stations/:id/schedule', async (req, reply) => {
    const st = scheduledStation(req);
    await ctx.setSchedule(st, null);
    ctx.stationsChanged();
    return reply.code(204).send();
  });

  // A personal session's sleep timer, by its id (a capability): PROTOCOL.md "Sleep timer".
  app.post<{ Params: { id: string } }>('/api/stations/:id/sleep', async (req) => {
    const st = getStation(ctx, req.params.id);
    if (!st.personal)
      throw new ApiError(
        'FORBIDDEN',
        'a sleep timer ends a personal session; a shared station plays on for everyone',
      );
    const body = bodyObject(req.body);
    for (const k of Object.keys(body))
      if (k !== 'minutes') throw new ApiError('INVALID_PARAM', `unknown field ${k}; allowed: minutes`, k);
    const v = validateSleep(body.minutes);
    if (!v.ok) {
      req.log.info({ field: 'minutes' }, `sleep timer refused: ${v.message}`);
      throw new ApiError('INVALID_PARAM', v.message, 'minutes');
    }
    const endsAt = await ctx.sleepTimers.set(st, v.minutes);
    return {
      minutes: v.minutes,
      endsAtMs: endsAt === null ? null : Math.round(endsAt + wallNowMs() - monoNowMs()),
    };
  });

  app.delete<{ Params: { id: string } }>('/api/stations/:id', async (req, reply) => {
    requireControl(ctx, req);
    const st = getStation(ctx, req.params.id);
    if (st.id === DEFAULT_STATION_ID)
      throw new ApiError('FORBIDDEN', 'the default station cannot be deleted');
    if (st.personal) throw new ApiError('FORBIDDEN', `personal session ${st.id} ends when its owner leaves`);
    ctx.registry.remove(st.id);
    ctx.stationsChanged();
    return reply.code(204).send();
  });
}
