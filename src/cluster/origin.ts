import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { monoNowMs, wallNowMs, wallOffsetMs } from '../engine/clock.ts';
import { EngineError, type EngineHost, type EngineStation, type NowEvent } from '../engine/engine-host.ts';
import type { ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import type { AuralisMetrics } from '../metrics/metrics.ts';
import { redactRedisUrl } from '../server/config.ts';
import { StationSchedules, type Scheduled } from '../server/schedules.ts';
import { chunkSeq, encodeChunk } from './chunk-wire.ts';
import {
  CLAIM_INTERVAL_MS,
  CONTROL_CHANNEL,
  LEASE_RENEW_MS,
  LEASE_TTL_MS,
  SCHEDULE_CHANNEL,
  SCHEDULE_REFRESH_MS,
  STATIONS_KEY,
  STATION_CHANNEL,
  WISH_CHANNEL,
  WISH_TTL_MS,
  keys,
  parseSchedule,
  recordChange,
  type ControlReply,
  type ControlRequest,
  type EdgeWish,
  type ParamsEvent,
  type StationEvent,
  type ResumeStub,
  type StationMeta,
} from './keys.ts';
import { connectRedis, whenReady, type ClusterLog } from './redis.ts';

/** A resume key (keys.resume) as the part of a meta the start of a station reads, or null. */
function resumed(text: string | null): StationMeta | null {
  if (text === null) return null;
  const r = JSON.parse(text) as ResumeStub;
  const params = r.history.length > 0 ? r.history[r.history.length - 1]!.params : r.initialParams;
  return {
    node: 'a resume token',
    startWallMs: r.startWallMs,
    seed: r.seed,
    params,
    initialParams: r.initialParams,
    history: r.history,
  } as StationMeta;
}

/** How often an origin copies newly rendered chunks from its rings to Redis (ms). */
const PUBLISH_INTERVAL_MS = 10;

/**
 * Renews a lease held by this node (1), takes it again when it vanished (Redis restarted: 2), or
 * says another node holds it (0).
 */
const RENEW_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0`;

interface Owned {
  id: string;
  st: EngineStation;
  /** Next sequence number to copy to Redis. */
  nextSeq: number;
  meta: StationMeta;
  /**
   * Taken over from another origin: the chunks up to the last one it published are skipped (the
   * edges have them), and the first one published is flagged as a discontinuity.
   */
  resumeAfterSeq: number;
  /** Monotonic ms since which no edge has any wish entry for it (-1: some have). */
  noWishSinceMs: number;
  /** What its schedule runs on: its id and the parameters its engine plays now. */
  scheduled: Scheduled;
  /** The value of keys.schedule it runs (null: none read yet). */
  scheduleText: string | null;
}

export interface ClusterOriginOptions {
  redisUrl: string;
  /** Ring slots: each station's stream is capped at about this many entries (XADD MAXLEN ~). */
  ringSlots: number;
  engine: EngineHost;
  log: ClusterLog;
  metrics: AuralisMetrics;
  /** Counts each step of a schedule it runs (auralis_control_changes_total, source `schedule`). */
  scheduleCounted?: (ok: boolean) => void;
}

/**
 * The origin role (docs/ARCHITECTURE.md, "Origins and edges"): takes the lease of every station
 * the cluster runs that no live origin holds, renders it with its own engine (a station another
 * origin had is resumed on the same clock at the same position), copies each chunk the engine
 * publishes into the station's Redis stream, applies control requests for its stations and
 * encodes what the edges wish. It runs the schedules of the stations it owns (keys.schedule, set
 * through any edge), so an entry fires once in the cluster, and a standby that takes a station over
 * continues its schedule.
 *
 * Lifecycle: owns two Redis connections, its timers and its schedules; close() stops them and
 * removes its stations from the engine (the server closes the engine itself).
 */
export class ClusterOrigin {
  readonly node = `origin-${randomBytes(6).toString('hex')}`;
  private readonly opts: ClusterOriginOptions;
  // Connected by start().
  private redis!: Redis;
  private sub!: Redis;
  private started = false;
  private readonly owned = new Map<string, Owned>();
  /** Stations being started (a claim in flight): their leases are renewed too. */
  private readonly starting = new Set<string>();
  /** Stations being started whose lease another origin took meanwhile. */
  private readonly lost = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  private upCount = 0;
  /** The schedules of the stations it owns: each step is applied here like a control request. */
  private readonly schedules: StationSchedules<Scheduled>;

  constructor(opts: ClusterOriginOptions) {
    this.opts = opts;
    opts.engine.on('now', this.onNow);
    this.schedules = new StationSchedules<Scheduled>(
      { change: (st, patch, source) => this.apply(st.id, patch, source, this.node) },
      opts.log,
      opts.scheduleCounted,
    );
  }

  /** Whether both connections are up. */
  get up(): boolean {
    return this.upCount === 2;
  }

  /** Stations this origin owns now (tests, logs). */
  ownedIds(): string[] {
    return [...this.owned.keys()];
  }

  async start(): Promise<void> {
    const opts = this.opts;
    const state = (up: boolean): void => {
      this.upCount += up ? 1 : -1;
      opts.metrics.redisUp.set(this.upCount === 2 ? 1 : 0);
    };
    [this.redis, this.sub] = await Promise.all(
      ['origin', 'origin-sub'].map((name) => connectRedis(opts.redisUrl, name, opts.log, state)),
    );
    this.started = true;
    this.redis.defineCommand('auralisRenew', { numberOfKeys: 1, lua: RENEW_SCRIPT });
    const shown = redactRedisUrl(this.opts.redisUrl);
    await Promise.all([whenReady(this.redis, 10_000, shown), whenReady(this.sub, 10_000, shown)]);
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === CONTROL_CHANNEL) void this.onControl(message);
      else if (channel === SCHEDULE_CHANNEL) void this.loadSchedule(message).catch(() => 0);
      else if (channel === WISH_CHANNEL) void this.applyWish(message);
      else if (channel === STATION_CHANNEL) void this.onStationEvent(message);
    });
    await this.sub.subscribe(CONTROL_CHANNEL, WISH_CHANNEL, STATION_CHANNEL, SCHEDULE_CHANNEL);
    this.every(CLAIM_INTERVAL_MS, () => this.claim());
    this.every(LEASE_RENEW_MS, () => this.renew());
    this.every(PUBLISH_INTERVAL_MS, () => this.publish());
    this.every(250, () => {
      for (const id of this.owned.keys()) void this.applyWish(id);
    });
    // A schedule change whose message this origin missed (its pub/sub link was down).
    this.every(SCHEDULE_REFRESH_MS, async () => {
      for (const id of [...this.owned.keys()]) await this.loadSchedule(id);
    });
    this.opts.log.info({ node: this.node }, `origin ${this.node} started`);
  }

  private every(ms: number, fn: () => void | Promise<void>): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy || this.closed) return;
      busy = true;
      Promise.resolve()
        .then(fn)
        .catch(() => {
          // Redis down: the connection's own lines say so; the next round tries again.
        })
        .finally(() => (busy = false));
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  /** Takes the lease of each station that has no owner, and starts it. */
  private async claim(): Promise<void> {
    if (!this.up) return;
    const ids = await this.redis.smembers(STATIONS_KEY);
    for (const id of ids) {
      if (this.owned.has(id) || this.starting.has(id) || this.closed) continue;
      const ok = await this.redis.set(keys.lease(id), this.node, 'PX', LEASE_TTL_MS, 'NX');
      if (ok !== 'OK') continue;
      this.starting.add(id);
      try {
        await this.startStation(id);
      } catch (err) {
        this.opts.log.warn(
          { station: id, err: (err as Error).message },
          `origin could not start station ${id}; releasing its lease`,
        );
        await this.redis.del(keys.lease(id)).catch(() => 0);
      } finally {
        this.starting.delete(id);
        this.lost.delete(id);
      }
    }
  }

  private async startStation(id: string): Promise<void> {
    const [defText, metaText, resumeText] = await Promise.all([
      this.redis.get(keys.def(id)),
      this.redis.get(keys.meta(id)),
      this.redis.get(keys.resume(id)),
    ]);
    if (defText === null) {
      // Left over from a removal: not a station any more (no retry, no log line every round).
      await this.redis.multi().srem(STATIONS_KEY, id).del(keys.lease(id)).exec();
      return;
    }
    const def = JSON.parse(defText) as { seed: number; params: MusicParams };
    // Run before (another origin's :meta), or a personal session recreated from its resume token.
    const prev = metaText !== null ? (JSON.parse(metaText) as StationMeta) : resumed(resumeText);
    const engine = this.opts.engine;
    const wish = await this.readWish(id);
    let st: EngineStation;
    if (prev) {
      // Another origin ran it: the same clock, the same score, from the chunk due now.
      const offset = wallOffsetMs();
      // The parameters it started with, then its changes where they took effect: the same score.
      st = await engine.addStation(id, prev.seed, prev.initialParams ?? prev.params, {
        live: wish.live,
        resume: { startMonoMs: prev.startWallMs - offset, wallOffsetMs: offset, history: prev.history ?? [] },
      });
    } else st = await engine.addStation(id, def.seed, def.params, { live: wish.live });
    if (this.closed || this.lost.delete(id)) {
      // Closed meanwhile, or the start took longer than the lease and another origin has it now.
      engine.removeStation(id, { inUse: false });
      return;
    }
    engine.setMp3(id, wish.mp3);
    engine.setOpusTiers(id, wish.tiers);
    const layout = st.ring.layout;
    const meta: StationMeta = {
      node: this.node,
      startWallMs: prev?.startWallMs ?? st.startMonoMs + st.wallOffsetMs,
      chunkFrames: st.chunkFrames,
      tiers: layout.tiers.map((t) => t.kbps),
      defaultKbps: layout.tiers[layout.defaultTier]!.kbps,
      mp3Bitrate: layout.mp3Bitrate,
      oggHeader: Buffer.from(st.oggHeader).toString('base64'),
      preSkipFrames: st.preSkipFrames,
      opusBackend: st.opusBackend,
      seed: st.seed,
      params: st.params,
      initialParams: prev?.initialParams ?? prev?.params ?? def.params,
      history: prev?.history ?? [],
    };
    await this.redis.set(keys.meta(id), JSON.stringify(meta));
    const resumeAfterSeq = prev ? await this.lastPublishedSeq(id) : -1;
    const scheduled: Scheduled = {
      id,
      get params() {
        return st.params;
      },
    };
    this.owned.set(id, {
      id,
      st,
      nextSeq: st.ring.published(),
      meta,
      noWishSinceMs: -1,
      resumeAfterSeq,
      scheduled,
      scheduleText: null,
    });
    this.opts.log.info(
      { station: id, node: this.node, resumed: prev !== null },
      prev ? `origin took station ${id} over from ${prev.node}` : `origin started station ${id}`,
    );
    // Its schedule (the entry in force is reached if the previous owner had not: nothing moves if it had).
    await this.loadSchedule(id).catch(() => 0);
  }

  /**
   * Runs the schedule stored for a station it owns (keys.schedule), if it changed since it was
   * read: a new one starts (the entry in force now is reached), `null` stops it. No key: Redis
   * lost it, and the one it runs is written back.
   */
  private async loadSchedule(id: string): Promise<void> {
    if (!this.owned.has(id) || !this.up) return;
    const text = await this.redis.get(keys.schedule(id));
    const o = this.owned.get(id);
    if (!o || this.closed) return;
    if (text === null) {
      if (o.scheduleText !== null) await this.redis.set(keys.schedule(id), o.scheduleText, 'NX');
      return;
    }
    if (text === o.scheduleText) return;
    const schedule = parseSchedule(text);
    if (schedule === undefined) {
      this.opts.log.warn({ station: id }, `station ${id}: the stored schedule is not valid; not run`);
      return;
    }
    o.scheduleText = text;
    if (schedule === null) {
      this.schedules.remove(id);
      this.opts.log.info({ station: id, node: this.node }, `origin stopped the schedule of ${id}`);
    } else {
      this.opts.log.info(
        { station: id, node: this.node, entries: schedule.entries.length },
        `origin runs the schedule of ${id}`,
      );
      this.schedules.set(o.scheduled, schedule);
    }
  }

  /** The sequence number of the newest chunk in the station's stream, or -1. */
  private async lastPublishedSeq(id: string): Promise<number> {
    const entries = (await this.redis.xrevrangeBuffer(keys.chunks(id), '+', '-', 'COUNT', 16)) as [
      Buffer,
      Buffer[],
    ][];
    for (const [, fields] of entries) {
      for (let f = 0; f + 1 < fields.length; f += 2) {
        if (fields[f]!.toString() === 'c') return chunkSeq(fields[f + 1]!);
      }
    }
    return -1;
  }

  /** RENEW_SCRIPT on one lease: 1 renewed, 2 taken again (Redis had lost it), 0 another origin's. */
  private async renewLease(id: string): Promise<number> {
    const redis = this.redis as unknown as {
      auralisRenew(key: string, node: string, ttlMs: number): Promise<number>;
    };
    return redis.auralisRenew(keys.lease(id), this.node, LEASE_TTL_MS);
  }

  /** Renews the leases; a station whose lease another origin holds now is stopped here. */
  private async renew(): Promise<void> {
    if (!this.up) return;
    for (const id of [...this.starting]) {
      if ((await this.renewLease(id)) === 0) this.lost.add(id);
    }
    for (const o of [...this.owned.values()]) {
      const r = await this.renewLease(o.id);
      if (r === 2) {
        // Redis lost everything (restarted without persistence): write what edges and standbys need.
        o.meta.params = o.st.params;
        const multi = this.redis
          .multi()
          .set(keys.meta(o.id), JSON.stringify(o.meta))
          .set(keys.def(o.id), JSON.stringify({ seed: o.st.seed, params: o.st.params }), 'NX')
          .sadd(STATIONS_KEY, o.id);
        if (o.scheduleText !== null) multi.set(keys.schedule(o.id), o.scheduleText, 'NX');
        await multi.exec();
      } else if (r === 0) {
        this.owned.delete(o.id);
        this.schedules.remove(o.id);
        this.opts.engine.removeStation(o.id, { inUse: false });
        this.opts.log.warn(
          { station: o.id, node: this.node },
          `origin lost the lease of ${o.id}; stopped it`,
        );
      }
    }
  }

  /** Copies the chunks rendered since the last round into the stations' streams. */
  private async publish(): Promise<void> {
    if (this.owned.size === 0) return;
    const metrics = this.opts.metrics.redisChunksTotal;
    const maxLen = this.opts.ringSlots;
    let pipe = null;
    let count = 0;
    for (const o of this.owned.values()) {
      const ring = o.st.ring;
      const published = ring.published();
      if (o.nextSeq < published - ring.layout.slots) o.nextSeq = published - ring.layout.slots;
      for (; o.nextSeq < published; o.nextSeq++) {
        if (!ring.has(o.nextSeq) || o.nextSeq <= o.resumeAfterSeq) continue;
        if (!this.up) {
          metrics.inc({ direction: 'dropped' });
          continue;
        }
        pipe ??= this.redis.pipeline();
        const flag = o.resumeAfterSeq >= 0;
        o.resumeAfterSeq = -1;
        pipe.xadd(keys.chunks(o.id), 'MAXLEN', '~', maxLen, '*', 'c', encodeChunk(ring, o.nextSeq, flag));
        count++;
      }
    }
    if (pipe === null) return;
    const results = await pipe.exec();
    let failed = 0;
    for (const [err] of results ?? []) if (err) failed++;
    if (count - failed > 0) metrics.inc({ direction: 'published' }, count - failed);
    if (failed > 0) metrics.inc({ direction: 'dropped' }, failed);
  }

  private readonly onNow = (e: NowEvent): void => {
    const o = this.owned.get(e.id);
    if (!o || !this.up) return;
    const { id: _id, ...report } = e;
    void this.redis
      .xadd(keys.chunks(e.id), 'MAXLEN', '~', this.opts.ringSlots, '*', 'n', JSON.stringify(report))
      .catch(() => 0);
  };

  private async readWish(
    id: string,
  ): Promise<{ mp3: boolean; tiers: number; live: boolean; entries: number }> {
    const all = await this.redis.hgetall(keys.wish(id));
    const now = wallNowMs();
    const out = { mp3: false, tiers: 0, live: false, entries: Object.keys(all).length };
    const stale: string[] = [];
    for (const [node, text] of Object.entries(all)) {
      let w: EdgeWish;
      try {
        w = JSON.parse(text) as EdgeWish;
      } catch {
        stale.push(node);
        continue;
      }
      // An edge that died without deleting its entry: dropped once well past its expiry, so the
      // hash holds the live edges only.
      if (w.expiresAtMs < now - WISH_TTL_MS) stale.push(node);
      if (w.expiresAtMs < now) continue;
      out.mp3 ||= w.mp3;
      out.tiers |= w.tiers;
      out.live ||= w.live;
    }
    if (stale.length > 0) await this.redis.hdel(keys.wish(id), ...stale);
    return out;
  }

  /** Encodes the union of the edges' wishes for one of its stations (wakes it when any edge has listeners). */
  private async applyWish(id: string): Promise<void> {
    if (!this.owned.has(id) || !this.up) return;
    const w = await this.readWish(id);
    const o = this.owned.get(id);
    if (!o) return;
    if (w.entries === 0) {
      // No entry at all: the edges left, or Redis restarted and they have not written theirs
      // again yet (within WISH_REFRESH_MS). Keep what is encoded until that is long past.
      const now = monoNowMs();
      if (o.noWishSinceMs < 0) o.noWishSinceMs = now;
      if (now - o.noWishSinceMs < WISH_TTL_MS) return;
    } else o.noWishSinceMs = -1;
    const engine = this.opts.engine;
    engine.setMp3(id, w.mp3);
    engine.setOpusTiers(id, w.tiers);
    engine.setLive(id, w.live);
  }

  /** A station removed cluster-wide: its owner stops rendering it and gives its lease back. */
  private async onStationEvent(message: string): Promise<void> {
    let e: StationEvent;
    try {
      e = JSON.parse(message) as StationEvent;
    } catch {
      return;
    }
    if (e.op !== 'removed' || !this.owned.delete(e.id)) return;
    this.schedules.remove(e.id);
    this.opts.engine.removeStation(e.id, { inUse: false });
    await this.release(e.id);
    this.opts.log.info({ station: e.id, node: this.node }, `origin stopped station ${e.id}: removed`);
  }

  private async release(id: string): Promise<void> {
    await this.redis
      .eval(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        1,
        keys.lease(id),
        this.node,
      )
      .catch(() => 0);
  }

  private async onControl(message: string): Promise<void> {
    let req: ControlRequest;
    try {
      req = JSON.parse(message) as ControlRequest;
    } catch {
      return;
    }
    if (!this.owned.has(req.id)) return; // another origin's station
    let reply: ControlReply;
    try {
      const r = await this.apply(req.id, req.patch, req.source, req.node);
      reply = { requestId: req.requestId, ok: true, effectiveAt: r.effectiveAt, params: r.params };
    } catch (err) {
      reply = {
        requestId: req.requestId,
        ok: false,
        code: err instanceof EngineError && err.code === 'unknown-station' ? 'unknown-station' : 'restarting',
        message: (err as Error).message,
      };
    }
    await this.redis.publish(keys.reply(req.node), JSON.stringify(reply)).catch(() => 0);
  }

  /**
   * Applies a change to a station it owns (a control request from node `node`, or a step of its
   * schedule): its engine takes it, `:meta` records it for a standby, and the stream carries it to
   * every edge, which announces it to its listeners (all but `node`, which answers its own).
   */
  private async apply(
    id: string,
    patch: ParamsPatch,
    source: string,
    node: string,
  ): Promise<{ effectiveAt: number; params: MusicParams }> {
    const o = this.owned.get(id);
    if (!o) throw new EngineError('unknown-station', `station ${id} is not rendered by ${this.node}`);
    const r = await this.opts.engine.change(id, patch);
    recordChange(o.meta, { effectiveAt: r.effectiveAt, params: r.params });
    const event: ParamsEvent = { effectiveAt: r.effectiveAt, params: r.params, source, node };
    await this.redis
      .multi()
      .set(keys.meta(id), JSON.stringify(o.meta))
      .xadd(keys.chunks(id), 'MAXLEN', '~', this.opts.ringSlots, '*', 'p', JSON.stringify(event))
      .exec();
    return r;
  }

  /** Stops its timers, gives its leases back (a standby takes over at once) and closes both connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.schedules.close();
    this.opts.engine.off('now', this.onNow);
    if (!this.started) return;
    if (this.up) for (const id of this.owned.keys()) await this.release(id);
    for (const id of this.owned.keys()) this.opts.engine.removeStation(id, { inUse: false });
    this.owned.clear();
    this.redis.disconnect();
    this.sub.disconnect();
  }
}
