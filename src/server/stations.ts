import { randomBytes, randomInt } from 'node:crypto';
import { wallOffsetMs } from '../engine/clock.ts';
import type { Engine } from '../engine/engine.ts';
import { EngineError, type EngineStation } from '../engine/engine-host.ts';
import { withoutEnding, type Moment } from '../engine/moment.ts';
import { applyPatch, DEFAULT_PARAMS, type ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import type { Broadcaster } from './broadcast/pacer.ts';
import type { ServerConfig } from './config.ts';
import { ApiError } from './errors.ts';
import { SessionTokens, tokenProblemMessage, type SessionState } from './session-token.ts';
import { Station } from './station.ts';
import { monoNowMs } from '../engine/clock.ts';

export const STATION_ID_PATTERN = /^[a-z0-9-]{1,32}$/;
export const DEFAULT_STATION_ID = 'default';
/** Longest period of the check that puts stations idle (shorter when idleAfterMs is). */
const IDLE_CHECK_MS = 250;
/** Random bytes in a personal session id (`p-` + 30 hex digits: 120 bits, within the 32-character id). */
export const PERSONAL_ID_BYTES = 15;

/** Creates, finds and removes stations; personal sessions and their grace period live here. */
export class StationRegistry {
  private readonly stations = new Map<string, Station>();
  /** Signs and verifies personal sessions' resume tokens (the session secret). */
  readonly tokens: SessionTokens;
  private readonly engine: Engine;
  private readonly pacer: Broadcaster;
  private readonly config: ServerConfig;
  /** Creations in flight count against maxStations too. */
  private creating = 0;
  private closed = false;
  private creatingPersonal = 0;
  private personalCount = 0;
  /** Stations without consumers go idle (idleAfterMs > 0, worker engine). */
  private readonly lazy: boolean;
  /** Stations idle now (the auralis_idle_stations gauge). */
  idleCount = 0;
  /** Live stations with no consumer, waiting idleAfterMs to go idle; checked by `idleCheck`. */
  private readonly goingIdle = new Set<Station>();
  private idleCheck: NodeJS.Timeout | null = null;
  onRemoved: (st: Station) => void = () => {};
  onCreated: (st: Station) => void = () => {};
  /** What a station sounds changed outside the pacer (it went idle): peers and event streams are told. */
  onNowChanged: (st: Station) => void = () => {};

  constructor(engine: Engine, pacer: Broadcaster, config: ServerConfig) {
    this.engine = engine;
    this.pacer = pacer;
    this.config = config;
    this.lazy = config.idleAfterMs > 0 && config.profile !== 'baseline';
    this.tokens = new SessionTokens(config.sessionSecret, config.sessionTokenTtlMs);
  }

  get(id: string): Station | undefined {
    return this.stations.get(id);
  }

  all(): Station[] {
    return [...this.stations.values()];
  }

  get size(): number {
    return this.stations.size;
  }

  /** Personal sessions open now (each is also a station). */
  get personalSessions(): number {
    return this.personalCount;
  }

  /** Creates a station from a validated patch (preset first, explicit params override). */
  async create(opts: {
    id?: string;
    patch?: ParamsPatch;
    seed?: number;
    personal?: boolean;
    /** A personal session recreated from its resume token: the same id, piece and clock. */
    resume?: SessionState;
    /** A personal session that continues this moment (its seed and parameters win). */
    moment?: Moment;
  }): Promise<Station> {
    if (this.stations.size + this.creating >= this.config.maxStations) {
      throw new ApiError('SERVER_FULL', `the server runs its maximum of ${this.config.maxStations} stations`);
    }
    const personal = opts.personal ?? false;
    if (personal && this.personalCount + this.creatingPersonal >= this.config.maxPersonalSessions) {
      throw new ApiError(
        'SERVER_FULL',
        `the server runs its maximum of ${this.config.maxPersonalSessions} personal sessions`,
      );
    }
    let id = opts.id;
    if (id !== undefined) {
      if (!STATION_ID_PATTERN.test(id))
        throw new ApiError('BAD_REQUEST', `id must match [a-z0-9-]{1,32}, got ${JSON.stringify(id)}`, 'id');
      if (this.stations.has(id)) throw new ApiError('STATION_EXISTS', `station ${id} exists`, 'id');
    } else {
      // A personal session's id is its capability (whoever knows it may listen): 120 random bits.
      do
        id = personal
          ? `p-${randomBytes(PERSONAL_ID_BYTES).toString('hex')}`
          : `s-${randomBytes(5).toString('hex')}`;
      while (this.stations.has(id));
    }
    // A listener opening a moment's link is not put to sleep by whoever took it.
    const m = opts.moment && withoutEnding(opts.moment);
    const lastChange = m?.history.changes[m.history.changes.length - 1];
    const params: MusicParams = m
      ? { ...(lastChange?.params ?? m.history.params) }
      : applyPatch(DEFAULT_PARAMS, opts.patch ?? {});
    const seed = m ? m.history.seed : (opts.seed ?? opts.patch?.seed ?? randomInt(0, 0xffff_ffff));
    this.creating++;
    if (personal) this.creatingPersonal++;
    try {
      let engineStation: EngineStation;
      try {
        // A shared station starts idle when stations may be (nobody listens yet); a personal
        // session starts with its owner.
        const r = opts.resume;
        if (r) {
          const offset = wallOffsetMs();
          // Added asleep; the owner's connection wakes it through the lazy stations' path (wake()),
          // which composes its score up to the chunk due now on its clock.
          engineStation = await this.engine.addStation(id, r.seed, r.params, {
            live: false,
            resume: { startMonoMs: r.startWallMs - offset, wallOffsetMs: offset, history: r.history },
          });
        } else
          engineStation = await this.engine.addStation(id, seed, params, {
            live: !this.lazy || personal,
            ...(m ? { moment: { history: m.history, baseFrames: m.baseFrames, position: m.position } } : {}),
          });
      } catch (err) {
        // A worker that could not build it ('failed') is a server fault: reported as INTERNAL.
        if (!(err instanceof EngineError) || err.code === 'failed') throw err;
        // Nothing was created (the engine removed what it had started).
        throw new ApiError(
          'NOT_READY',
          err.code === 'closed'
            ? 'the server is shutting down'
            : `the station could not be started now (${err.message}); retry`,
        );
      }
      if (this.stations.has(id)) {
        this.engine.removeStation(id, { inUse: false });
        throw new ApiError('STATION_EXISTS', `station ${id} exists`, 'id');
      }
      // The engine's seed and parameters: in a cluster, those the station was first defined with.
      const st = new Station({
        id,
        personal,
        seed: engineStation.seed,
        params: engineStation.params,
        engine: engineStation,
      });
      // A session at a moment starts on the moment's chunk (its clock was set back that far).
      if (m) st.nextSeq = m.position / engineStation.chunkFrames;
      st.live = engineStation.wish.live !== false;
      if (!st.live) this.idleCount++;
      if (personal) {
        st.initialParams = opts.resume?.params ?? engineStation.params;
        st.history = opts.resume ? [...opts.resume.history] : [];
        st.issueResumeToken = () => this.resumeToken(st);
        st.ownerConnected = true;
      }
      this.stations.set(id, st);
      if (personal) this.personalCount++;
      this.pacer.add(st);
      this.consumersChanged(st);
      this.onCreated(st);
      return st;
    } finally {
      this.creating--;
      if (personal) this.creatingPersonal--;
    }
  }

  remove(id: string, reason: 'station-removed' | 'slept' = 'station-removed'): void {
    const st = this.stations.get(id);
    if (!st) return;
    this.stations.delete(id);
    if (st.personal) this.personalCount--;
    if (st.graceTimer) clearTimeout(st.graceTimer);
    this.goingIdle.delete(st);
    if (this.goingIdle.size === 0) this.stopIdleCheck();
    if (!st.live) this.idleCount--;
    this.pacer.remove(st);
    // Listeners still attached may hold views of the ring's bytes until their sockets close.
    this.engine.removeStation(id, { inUse: st.listeners.size > 0 });
    for (const l of st.listeners) l.kick(reason);
    this.onRemoved(st);
  }

  /**
   * A consumer is about to join (a listener, an HLS lease): an idle station wakes up now, so that
   * the welcome's position and the burst see it live. Should the consumer never be counted, the
   * station goes idle again after the grace.
   */
  wake(st: Station): void {
    if (this.closed || this.stations.get(st.id) !== st) return;
    if (!st.live) {
      st.live = true;
      this.idleCount--;
      // The pacer goes on at the chunk due now: the worker renders it first, or still holds it
      // in the ring from before it went idle (woken within the render-ahead). Chunks older than
      // it are never sent: once past, the ring is emptied (the worker, idle, writes nothing), so
      // a burst or an HLS backfill never takes audio from before the sleep.
      const e = st.engine;
      const dueSeq = Math.floor((monoNowMs() + this.config.leadMs - e.startMonoMs) / e.chunkMs);
      if (e.ring.published() <= dueSeq) e.ring.reset();
      st.nextSeq = Math.max(st.nextSeq, dueSeq);
      this.engine.setLive(st.id, true);
      this.pacer.wake?.(st);
    }
    this.consumersChanged(st);
  }

  /**
   * A consumer joined or left: with none left, the station goes idle after idleAfterMs (a player
   * that reconnects within it finds it live); with one, it is live and no longer waits to go idle.
   */
  consumersChanged(st: Station): void {
    if (this.closed || this.stations.get(st.id) !== st) return;
    if (st.consumers > 0) {
      st.idleSinceMs = -1;
      this.goingIdle.delete(st);
      if (!st.live) this.wake(st);
      return;
    }
    if (!this.lazy || !st.live || st.idleSinceMs >= 0) return;
    st.idleSinceMs = monoNowMs();
    this.goingIdle.add(st);
    if (this.idleCheck === null) {
      // One check for every station waiting to go idle, running only while one waits. (A timer per
      // station would leave libuv's timer armed for up to idleAfterMs once cleared.)
      this.idleCheck = setInterval(this.checkIdle, Math.min(IDLE_CHECK_MS, this.config.idleAfterMs));
      this.idleCheck.unref();
    }
  }

  private readonly checkIdle = (): void => {
    const now = monoNowMs();
    for (const st of this.goingIdle) {
      if (st.consumers > 0 || !st.live || this.stations.get(st.id) !== st) {
        st.idleSinceMs = -1;
        this.goingIdle.delete(st);
      } else if (now - st.idleSinceMs >= this.config.idleAfterMs) {
        st.idleSinceMs = -1;
        this.goingIdle.delete(st);
        st.live = false;
        this.idleCount++;
        if (st.wentIdle()) this.onNowChanged(st);
        this.engine.setLive(st.id, false);
      }
    }
    if (this.goingIdle.size === 0) this.stopIdleCheck();
  };

  private stopIdleCheck(): void {
    if (this.idleCheck) clearInterval(this.idleCheck);
    this.idleCheck = null;
  }

  /** The owner of a personal session left: keep it for the grace period, then remove it. */
  ownerLeft(st: Station): void {
    st.ownerConnected = false;
    this.consumersChanged(st);
    // Owners' sockets close during shutdown too: no grace timer may start after close().
    if (this.closed) return;
    if (st.graceTimer) clearTimeout(st.graceTimer);
    st.graceTimer = setTimeout(() => {
      if (!st.ownerConnected) this.remove(st.id);
    }, this.config.gracePeriodMs);
    st.graceTimer.unref();
  }

  /** A fresh resume token for a personal session: its piece and its clock, signed (session-token.ts). */
  resumeToken(st: Station): string {
    const e = st.engine;
    return this.tokens.issue({
      id: st.id,
      seed: st.seed,
      params: st.initialParams ?? st.params,
      history: st.history,
      startWallMs: e.startMonoMs + e.wallOffsetMs,
      position: st.positionFrames,
    });
  }

  /**
   * Takes back a personal session by its resume token: the one running here once its previous
   * owner is gone, else (another process ran it, or it ended) the same session recreated from the
   * token, on its clock. A token that does not verify is refused with INVALID_PARAM (`resume`).
   */
  async resume(token: string): Promise<Station> {
    const v = this.tokens.verify(token);
    if (!v.ok) throw new ApiError('INVALID_PARAM', tokenProblemMessage(v.problem), 'resume');
    const running = this.stations.get(v.state.id);
    if (running) {
      if (!running.personal || running.ownerConnected)
        throw new ApiError('UNKNOWN_STATION', 'no personal session waits for this resume token', 'resume');
      if (running.graceTimer) clearTimeout(running.graceTimer);
      running.graceTimer = null;
      running.ownerConnected = true;
      this.consumersChanged(running);
      return running;
    }
    return this.create({ id: v.state.id, personal: true, resume: v.state });
  }

  /** Stops every station's timers and refuses new ones (the engine owns the rest). Idempotent. */
  close(): void {
    this.closed = true;
    for (const st of this.stations.values()) {
      if (st.graceTimer) clearTimeout(st.graceTimer);
      st.graceTimer = null;
    }
    this.goingIdle.clear();
    this.stopIdleCheck();
  }
}
