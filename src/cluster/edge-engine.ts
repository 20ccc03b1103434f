import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { monoNowMs, wallNowMs, wallOffsetMs } from '../engine/clock.ts';
import {
  EngineError,
  type ChangeResult,
  type EngineOptions,
  type EngineStation,
  type ResumeClock,
} from '../engine/engine-host.ts';
import type { Engine } from '../engine/engine.ts';
import type { EncodeWish, EngineFault, NowReport } from '../engine/messages.ts';
import { ChunkRing } from '../engine/ring.ts';
import { DEFAULT_MP3_BITRATE } from '../codec/mp3-encoder.ts';
import type { ParamsPatch } from '../music/params.ts';
import type { Schedule } from '../music/schedule.ts';
import type { MusicParams } from '../music/types.ts';
import { SAMPLE_RATE } from '../music/types.ts';
import type { AuralisMetrics } from '../metrics/metrics.ts';
import { redactRedisUrl } from '../server/config.ts';
import { ChunkWireError, chunkSeq, decodeChunkInto } from './chunk-wire.ts';
import {
  CONTROL_CHANNEL,
  CONTROL_TIMEOUT_MS,
  RESUME_TTL_MS,
  SCHEDULE_CHANNEL,
  SCHEDULE_REFRESH_MS,
  STATIONS_KEY,
  STATION_CHANNEL,
  STATION_START_TIMEOUT_MS,
  WISH_CHANNEL,
  WISH_REFRESH_MS,
  WISH_TTL_MS,
  keys,
  parseSchedule,
  recordChange,
  type ControlReply,
  type ControlRequest,
  type EdgeWish,
  type ParamsEvent,
  type StationEvent,
  type StationMeta,
  type ResumeStub,
  isPersonalId,
} from './keys.ts';
import { connectRedis, whenReady, type ClusterLog } from './redis.ts';

/**
 * Removes a station cluster-wide unless another edge owns it (a personal session taken back
 * there): KEYS owner, stations; ARGV node, id, channel, event, then the station's keys.
 */
const REMOVE_SCRIPT = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SREM', KEYS[2], ARGV[2])
for i = 5, #ARGV do redis.call('DEL', ARGV[i]) end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`;

/** How long one blocking read of the streams waits (ms): new stations join the read after at most this. */
const READ_BLOCK_MS = 250;
/** How long a sleep timer's key outlives the end of its music (ms). */
const SLEEP_KEY_GRACE_MS = 300_000;
/** How long a removed station is not mirrored back (ms): its removal reaches Redis within it. */
const TOMBSTONE_MS = 10_000;
/** Entries read at a time. */
const READ_COUNT = 200;

interface EdgeStation {
  st: EngineStation;
  /** The owner's meta as last seen (params kept current): rewritten when Redis lost it. */
  meta: StationMeta;
  /** Last stream entry read ('' until the first read). */
  lastId: string;
  /** The value of its keys.schedule as last read (null: none read; `'null'`: it has no schedule). */
  scheduleText: string | null;
  schedule: Schedule | null;
}

interface PendingChange {
  resolve: (r: ChangeResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** A parameter change another node made (the server announces it to this edge's listeners). */
export interface ParamsChangeEvent {
  id: string;
  effectiveAt: number;
  params: MusicParams;
  source: string;
}

export interface EdgeEngineOptions extends EngineOptions {
  redisUrl: string;
  log: ClusterLog;
  metrics: AuralisMetrics;
}

/**
 * The edge role's engine (docs/ARCHITECTURE.md, "Origins and edges"): it renders nothing. A
 * station is a local ring, with the same layout as the origin's, that this engine fills with the
 * chunks the owning origin publishes to Redis, byte for byte; the pacer, the transports and HLS
 * read it as they read an engine worker's ring. Changes go to the owning origin through Redis;
 * wishes (MP3, tiers, live) are published for the origins to encode.
 *
 * Events: 'now' (NowEvent), 'params' (ParamsChangeEvent), 'station-added' (id: a shared station
 * another node defined), 'station-removed' (id: removed by another node), 'schedule' (id: its
 * schedule, scheduleOf(), was set or removed through another node); no 'stats' (nothing is
 * rendered here). Schedules are run by the owning origin; an edge stores and shows them.
 *
 * Lifecycle: owns three Redis connections (commands, blocking stream reads, pub/sub replies), its
 * timers and the rings; close() ends them all and rejects what waits.
 */
export class EdgeEngine extends EventEmitter implements Engine {
  readonly restarts = 0;
  readonly node = `edge-${randomBytes(6).toString('hex')}`;
  private readonly options: EdgeEngineOptions;
  // Connected by start(): three connections (commands, blocking stream reads, pub/sub).
  private redis!: Redis;
  private reader!: Redis;
  private sub!: Redis;
  private started = false;
  private readonly stations = new Map<string, EdgeStation>();
  private readonly pending = new Map<number, PendingChange>();
  /** Stations whose addStation() waits for an origin. */
  private readonly adding = new Set<string>();
  private refreshes = 0;
  /** Stations removed in the last TOMBSTONE_MS (id → monotonic ms): never mirrored back meanwhile. */
  private readonly removed = new Map<string, number>();
  private nextRequestId = 1;
  private refreshTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readLoop: Promise<void> | null = null;
  private upCount = 0;
  private readonly shown: string;

  constructor(options: EdgeEngineOptions) {
    super();
    this.options = options;
    this.shown = redactRedisUrl(options.redisUrl);
  }

  /** Whether every Redis connection is up (the edge is ready only then). */
  get up(): boolean {
    return this.upCount === 3;
  }

  async start(): Promise<void> {
    const o = this.options;
    const state = (up: boolean): void => {
      this.upCount += up ? 1 : -1;
      o.metrics.redisUp.set(this.upCount === 3 ? 1 : 0);
    };
    [this.redis, this.reader, this.sub] = await Promise.all(
      ['edge', 'edge-reader', 'edge-sub'].map((name) => connectRedis(o.redisUrl, name, o.log, state)),
    );
    this.started = true;
    await Promise.all(
      [this.redis, this.reader, this.sub].map((c) => whenReady(c, STATION_START_TIMEOUT_MS, this.shown)),
    );
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === STATION_CHANNEL) this.onStationEvent(message);
      else if (channel === SCHEDULE_CHANNEL) void this.loadSchedule(message).catch(() => 0);
      else this.onReply(message);
    });
    await this.sub.subscribe(keys.reply(this.node), STATION_CHANNEL, SCHEDULE_CHANNEL);
    this.refreshTimer = setInterval(() => void this.refresh(), WISH_REFRESH_MS);
    this.refreshTimer.unref();
    this.readLoop = this.read();
  }

  async addStation(
    id: string,
    seed: number,
    params: MusicParams,
    opts: { live?: boolean; resume?: ResumeClock } = {},
  ): Promise<EngineStation> {
    if (this.closed) throw new EngineError('closed', 'the engine is closed');
    this.adding.add(id);
    try {
      return await this.add(id, seed, params, opts);
    } finally {
      this.adding.delete(id);
    }
  }

  private async add(
    id: string,
    seed: number,
    params: MusicParams,
    opts: { live?: boolean; resume?: ResumeClock },
  ): Promise<EngineStation> {
    let meta: StationMeta | null = null;
    try {
      if (opts.resume && isPersonalId(id)) {
        // A personal session from its resume token: whichever origin claims it (if none runs it
        // now) starts it on the token's clock with its score; the edge that takes it owns it.
        const stub: ResumeStub = {
          startWallMs: opts.resume.startMonoMs + opts.resume.wallOffsetMs,
          seed,
          initialParams: params,
          history: opts.resume.history ?? [],
        };
        await this.redis
          .multi()
          .set(keys.resume(id), JSON.stringify(stub), 'PX', RESUME_TTL_MS, 'NX')
          .set(keys.owner(id), this.node)
          .exec();
      } else if (isPersonalId(id)) await this.redis.set(keys.owner(id), this.node);
      // The first node to define a station fixes its seed and parameters for the whole cluster.
      const defined = await this.redis.set(keys.def(id), JSON.stringify({ seed, params }), 'NX');
      await this.redis.sadd(STATIONS_KEY, id);
      if (defined === 'OK' && !isPersonalId(id)) {
        const event: StationEvent = { op: 'added', id, node: this.node };
        await this.redis.publish(STATION_CHANNEL, JSON.stringify(event));
      }
      await this.writeWish(id, { mp3: false, tiers: 0, live: opts.live !== false });
      const deadline = Date.now() + STATION_START_TIMEOUT_MS;
      while (!this.closed && Date.now() < deadline) {
        const text = await this.redis.get(keys.meta(id));
        if (text !== null) {
          meta = JSON.parse(text) as StationMeta;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (err) {
      throw new EngineError('restarting', `redis: ${(err as Error).message}`);
    }
    if (this.closed) throw new EngineError('closed', 'the engine is closed');
    if (meta === null)
      throw new EngineError(
        'restarting',
        `no origin started station ${id} within ${STATION_START_TIMEOUT_MS} ms`,
      );
    const o = this.options;
    const defaultKbps = o.opusBitrate / 1000;
    const tiers = o.opusTiers ?? [defaultKbps];
    const mp3Bitrate = o.mp3Bitrate ?? DEFAULT_MP3_BITRATE;
    if (
      meta.chunkFrames !== o.chunkFrames ||
      meta.tiers.join(',') !== tiers.join(',') ||
      meta.defaultKbps !== defaultKbps ||
      meta.mp3Bitrate !== mp3Bitrate
    ) {
      throw new EngineError(
        'failed',
        `station ${id}: the origin's chunk length, Opus tiers or MP3 bitrate (${meta.chunkFrames} frames, ${meta.tiers.join(',')} kb/s, default ${meta.defaultKbps}, MP3 ${meta.mp3Bitrate}) differ from this edge's (${o.chunkFrames}, ${tiers.join(',')}, ${defaultKbps}, ${mp3Bitrate})`,
      );
    }
    const offset = wallOffsetMs();
    const st: EngineStation = {
      id,
      seed: meta.seed,
      ring: ChunkRing.create(o.ringSlots, o.chunkFrames, mp3Bitrate, { kbps: tiers, defaultKbps }),
      startMonoMs: meta.startWallMs - offset,
      wallOffsetMs: offset,
      chunkFrames: o.chunkFrames,
      chunkMs: (o.chunkFrames * 1000) / SAMPLE_RATE,
      oggHeader: new Uint8Array(Buffer.from(meta.oggHeader, 'base64')),
      preSkipFrames: meta.preSkipFrames,
      opusBackend: meta.opusBackend,
      params: meta.params,
      workerIndex: 0,
      bufferedMs: 0,
      wish: { mp3: false, tiers: 0, live: opts.live !== false },
      mp3Encoding: false,
      opusTiersEncoding: 1 << tiers.indexOf(defaultKbps),
    };
    const scheduleText = isPersonalId(id) ? null : await this.redis.get(keys.schedule(id)).catch(() => null);
    this.stations.set(id, {
      st,
      meta,
      lastId: '',
      scheduleText,
      schedule: parseSchedule(scheduleText) ?? null,
    });
    return st;
  }

  /** Whether Redis holds a record of the station's schedule (one, or `null` after a DELETE). */
  scheduleKnown(id: string): boolean {
    return (this.stations.get(id)?.scheduleText ?? null) !== null;
  }

  /** The schedule of a station it serves, as stored in Redis (its owning origin runs it), or null. */
  scheduleOf(id: string): Schedule | null {
    return this.stations.get(id)?.schedule ?? null;
  }

  /**
   * Stores a shared station's schedule (null: removes it) for the cluster: the owning origin runs
   * it, every edge shows it. Rejects with an EngineError when Redis does not take it.
   */
  async putSchedule(id: string, schedule: Schedule | null): Promise<void> {
    const e = this.stations.get(id);
    if (!e) throw new EngineError('unknown-station', `unknown station ${id}`);
    const text = JSON.stringify(schedule);
    try {
      await this.redis.multi().set(keys.schedule(id), text).publish(SCHEDULE_CHANNEL, id).exec();
    } catch (err) {
      throw new EngineError('restarting', `redis: ${(err as Error).message}`);
    }
    e.scheduleText = text;
    e.schedule = schedule;
  }

  /**
   * Keeps a personal session's sleep timer for the cluster (null: none): the Unix ms when its music
   * is over, so that an edge taking the session back from its token runs the timer on.
   */
  async putSleep(id: string, endsAtWallMs: number | null): Promise<void> {
    if (endsAtWallMs === null) await this.redis.del(keys.sleep(id));
    else
      await this.redis.set(
        keys.sleep(id),
        String(Math.round(endsAtWallMs)),
        'PX',
        Math.max(1, Math.round(endsAtWallMs - wallNowMs() + SLEEP_KEY_GRACE_MS)),
      );
  }

  /** A personal session's sleep timer as kept by putSleep (Unix ms), or null. */
  async sleepOf(id: string): Promise<number | null> {
    const text = await this.redis.get(keys.sleep(id));
    const ms = text === null ? NaN : Number(text);
    return Number.isFinite(ms) ? ms : null;
  }

  /** Re-reads a station's schedule; a change made through another node is emitted ('schedule'). */
  private async loadSchedule(id: string): Promise<void> {
    if (!this.stations.has(id) || isPersonalId(id)) return;
    const text = await this.redis.get(keys.schedule(id));
    const e = this.stations.get(id);
    if (!e) return;
    if (text === null) {
      // Redis lost it (restarted empty): put back the one last seen (the owner's own write wins).
      if (e.scheduleText !== null) await this.redis.set(keys.schedule(id), e.scheduleText, 'NX');
      return;
    }
    if (text === e.scheduleText) return;
    const schedule = parseSchedule(text);
    if (schedule === undefined) return;
    e.scheduleText = text;
    e.schedule = schedule;
    this.emit('schedule', id);
  }

  /**
   * Removes the station from the whole cluster (an API delete, a personal session that ended): its
   * keys go, the owning origin stops it, and every edge removes it from its registry.
   */
  removeStation(id: string): void {
    if (!this.stations.delete(id)) return;
    this.removed.set(id, monoNowMs());
    const event: StationEvent = { op: 'removed', id, node: this.node };
    // A personal session taken back through another edge (its resume token) is that edge's now:
    // this one only forgets it (its wish entry expires).
    void this.redis
      .eval(
        REMOVE_SCRIPT,
        2,
        keys.owner(id),
        STATIONS_KEY,
        this.node,
        id,
        STATION_CHANNEL,
        JSON.stringify(event),
        keys.def(id),
        keys.meta(id),
        keys.wish(id),
        keys.chunks(id),
        keys.resume(id),
        keys.schedule(id),
        keys.sleep(id),
      )
      .catch(() => 0);
  }

  /** The ids of the shared stations the cluster runs (an edge starting mirrors them). */
  async sharedStationIds(): Promise<string[]> {
    return (await this.redis.smembers(STATIONS_KEY)).filter((id) => !isPersonalId(id)).sort();
  }

  private onStationEvent(message: string): void {
    let e: StationEvent;
    try {
      e = JSON.parse(message) as StationEvent;
    } catch {
      return;
    }
    if (e.node === this.node) return;
    if (e.op === 'added' && !this.stations.has(e.id) && !isPersonalId(e.id)) this.emit('station-added', e.id);
    else if (e.op === 'removed') {
      this.removed.set(e.id, monoNowMs());
      if (this.stations.delete(e.id)) this.emit('station-removed', e.id);
    }
  }

  station(id: string): EngineStation | undefined {
    return this.stations.get(id)?.st;
  }

  /** Sends the change to the owning origin; resolves with its answer (the same position on every node). */
  change(id: string, patch: ParamsPatch, source = 'api'): Promise<ChangeResult> {
    const e = this.stations.get(id);
    if (!e) return Promise.reject(new EngineError('unknown-station', `unknown station ${id}`));
    if (this.closed) return Promise.reject(new EngineError('closed', 'the engine is closed'));
    const requestId = this.nextRequestId++;
    const req: ControlRequest = { id, requestId, node: this.node, patch, source };
    return new Promise<ChangeResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new EngineError('restarting', `no origin answered within ${CONTROL_TIMEOUT_MS} ms`));
      }, CONTROL_TIMEOUT_MS);
      this.pending.set(requestId, {
        resolve: (r) => {
          e.st.params = r.params;
          resolve(r);
        },
        reject,
        timer,
      });
      const fail = (message: string): void => {
        clearTimeout(timer);
        this.pending.delete(requestId);
        reject(new EngineError('restarting', message));
      };
      this.redis.publish(CONTROL_CHANNEL, JSON.stringify(req)).then(
        // No origin subscribed at all: nobody will answer.
        (receivers) => receivers === 0 && fail('no origin is running'),
        (err: Error) => fail(`redis: ${err.message}`),
      );
    });
  }

  private onReply(message: string): void {
    let r: ControlReply;
    try {
      r = JSON.parse(message) as ControlReply;
    } catch {
      return;
    }
    const p = this.pending.get(r.requestId);
    if (!p) return;
    this.pending.delete(r.requestId);
    clearTimeout(p.timer);
    if (r.ok) p.resolve({ effectiveAt: r.effectiveAt, params: r.params });
    else p.reject(new EngineError(r.code, r.message));
  }

  setMp3(id: string, on: boolean): void {
    this.want(id, { mp3: on });
  }
  setOpusTiers(id: string, mask: number): void {
    this.want(id, { tiers: mask });
  }
  setLive(id: string, live: boolean): void {
    this.want(id, { live });
  }

  private want(id: string, change: Partial<EncodeWish>): void {
    const e = this.stations.get(id);
    if (!e) return;
    const w = { ...e.st.wish, ...change };
    if (w.mp3 === e.st.wish.mp3 && w.tiers === e.st.wish.tiers && w.live === e.st.wish.live) return;
    e.st.wish = w;
    void this.writeWish(id, w)
      .then(() => this.redis.publish(WISH_CHANNEL, id))
      .catch(() => 0);
  }

  private async writeWish(id: string, w: EncodeWish): Promise<void> {
    const wish: EdgeWish = {
      mp3: w.mp3,
      tiers: w.tiers,
      live: w.live !== false,
      expiresAtMs: wallNowMs() + WISH_TTL_MS,
    };
    await this.redis.hset(keys.wish(id), this.node, JSON.stringify(wish));
  }

  /**
   * Keeps the wishes fresh and, after Redis lost its data (restarted without persistence), puts
   * back the stations' definitions and clocks (NX: the owner's own write wins), so that whichever
   * origin claims a station resumes it on the same clock, never as a new piece.
   */
  private async refresh(): Promise<void> {
    if (!this.up) return;
    // Every 5 s: shared stations and schedule changes this edge missed (while its pub/sub link was down).
    if (this.refreshes++ % (SCHEDULE_REFRESH_MS / WISH_REFRESH_MS) === 0) {
      const now = monoNowMs();
      for (const [id, at] of this.removed) if (now - at > TOMBSTONE_MS) this.removed.delete(id);
      try {
        for (const id of await this.sharedStationIds())
          if (!this.stations.has(id) && !this.adding.has(id) && !this.removed.has(id))
            this.emit('station-added', id);
        for (const id of [...this.stations.keys()]) await this.loadSchedule(id);
      } catch {
        return;
      }
    }
    for (const [id, e] of this.stations) {
      try {
        await this.redis
          .multi()
          .set(keys.def(id), JSON.stringify({ seed: e.st.seed, params: e.st.params }), 'NX')
          .set(keys.meta(id), JSON.stringify(e.meta), 'NX')
          .sadd(STATIONS_KEY, id)
          .exec();
        await this.writeWish(id, e.st.wish);
      } catch {
        return; // down again: the next round
      }
    }
  }

  /** Reads every station's stream into its ring, until closed; waits and retries while Redis is down. */
  private async read(): Promise<void> {
    while (!this.closed) {
      if (this.stations.size === 0 || !this.up) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      try {
        for (const [id, e] of this.stations) if (e.lastId === '') await this.prefill(id, e);
        const list = [...this.stations.entries()];
        const streams = list.map(([id]) => keys.chunks(id));
        const ids = list.map(([, e]) => e.lastId);
        const res = await this.reader.xreadBuffer(
          'COUNT',
          READ_COUNT,
          'BLOCK',
          READ_BLOCK_MS,
          'STREAMS',
          ...streams,
          ...ids,
        );
        if (!res) continue;
        for (const [key, entries] of res as [Buffer, [Buffer, Buffer[]][]][]) {
          const i = streams.indexOf(key.toString());
          if (i < 0) continue;
          const [id, e] = list[i]!;
          if (this.stations.get(id) !== e) continue;
          for (const [entryId, fields] of entries) {
            e.lastId = entryId.toString();
            this.entry(id, e, fields);
          }
        }
      } catch {
        if (!this.closed) await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** A station just added: the newest chunks already published (the origin renders ahead). */
  private async prefill(id: string, e: EdgeStation): Promise<void> {
    const entries = (await this.redis.xrevrangeBuffer(keys.chunks(id), '+', '-', 'COUNT', 32)) as [
      Buffer,
      Buffer[],
    ][];
    e.lastId = entries.length > 0 ? entries[0]![0].toString() : '0-0';
    for (let i = entries.length - 1; i >= 0; i--) this.entry(id, e, entries[i]![1]);
  }

  private entry(id: string, e: EdgeStation, fields: Buffer[]): void {
    for (let f = 0; f + 1 < fields.length; f += 2) {
      const name = fields[f]!.toString();
      const value = fields[f + 1]!;
      if (name === 'c') {
        try {
          const seq = chunkSeq(value);
          if (seq < e.st.ring.published()) continue; // already here (or older)
          // Its slot still holds bytes a socket may send (this thread was blocked about a ring
          // length): the chunk is dropped, never written over them (ARCHITECTURE.md, "Ring safety");
          // the pacer releases or resets those sockets on its next pass.
          if (!e.st.ring.mayWrite(seq)) {
            this.options.metrics.ringOverwriteWaitsTotal.inc();
            continue;
          }
          decodeChunkInto(e.st.ring, value);
          this.options.metrics.redisChunksTotal.inc({ direction: 'received' });
        } catch (err) {
          if (!(err instanceof ChunkWireError)) throw err;
          this.options.log.warn(
            { station: id, err: err.message },
            `chunk from Redis refused: ${err.message}`,
          );
        }
      } else if (name === 'n') {
        const report = parseJson<NowReport>(value);
        if (report) this.emit('now', { ...report, id });
      } else if (name === 'p') {
        const p = parseJson<ParamsEvent>(value);
        if (!p) continue;
        e.st.params = p.params;
        recordChange(e.meta, { effectiveAt: p.effectiveAt, params: p.params });
        // The node that asked answers its own listeners; the others hear it here.
        if (p.node !== this.node)
          this.emit('params', {
            id,
            effectiveAt: p.effectiveAt,
            params: p.params,
            source: p.source,
          } satisfies ParamsChangeEvent);
      }
    }
  }

  crashWorker(): void {}

  injectFault(_fault: EngineFault): boolean {
    return false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (!this.started) return;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new EngineError('closed', 'the engine was closed'));
      this.pending.delete(id);
    }
    if (this.up) {
      const ids = [...this.stations.keys()];
      await Promise.all(ids.map((id) => this.redis.hdel(keys.wish(id), this.node).catch(() => 0)));
    }
    this.stations.clear();
    this.reader.disconnect();
    await this.readLoop;
    this.redis.disconnect();
    this.sub.disconnect();
  }
}

/** A stream entry's JSON, or null (logged by nobody: only a foreign writer could put it there). */
function parseJson<T>(value: Buffer): T | null {
  try {
    return JSON.parse(value.toString()) as T;
  } catch {
    return null;
  }
}
