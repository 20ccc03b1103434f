import { randomBytes, randomInt } from 'node:crypto';
import type { Engine } from '../engine/engine.ts';
import { EngineError, type EngineStation } from '../engine/engine-host.ts';
import { applyPatch, DEFAULT_PARAMS, type ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import type { Broadcaster } from './broadcast/pacer.ts';
import type { ServerConfig } from './config.ts';
import { ApiError } from './errors.ts';
import { Station } from './station.ts';

export const STATION_ID_PATTERN = /^[a-z0-9-]{1,32}$/;
export const DEFAULT_STATION_ID = 'default';
/** Random bytes in a personal session id (`p-` + 30 hex digits: 120 bits, within the 32-character id). */
export const PERSONAL_ID_BYTES = 15;

/** Creates, finds and removes stations; personal sessions and their grace period live here. */
export class StationRegistry {
  private readonly stations = new Map<string, Station>();
  private readonly byResumeToken = new Map<string, Station>();
  private readonly engine: Engine;
  private readonly pacer: Broadcaster;
  private readonly config: ServerConfig;
  /** Creations in flight count against maxStations too. */
  private creating = 0;
  private closed = false;
  private creatingPersonal = 0;
  private personalCount = 0;
  onRemoved: (st: Station) => void = () => {};
  onCreated: (st: Station) => void = () => {};

  constructor(engine: Engine, pacer: Broadcaster, config: ServerConfig) {
    this.engine = engine;
    this.pacer = pacer;
    this.config = config;
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
    const params: MusicParams = applyPatch(DEFAULT_PARAMS, opts.patch ?? {});
    const seed = opts.seed ?? opts.patch?.seed ?? randomInt(0, 0xffff_ffff);
    this.creating++;
    if (personal) this.creatingPersonal++;
    try {
      let engineStation: EngineStation;
      try {
        engineStation = await this.engine.addStation(id, seed, params);
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
      const st = new Station({ id, personal, seed, params, engine: engineStation });
      if (personal) {
        st.resumeToken = randomBytes(18).toString('base64url');
        st.ownerConnected = true;
        this.byResumeToken.set(st.resumeToken, st);
      }
      this.stations.set(id, st);
      if (personal) this.personalCount++;
      this.pacer.add(st);
      this.onCreated(st);
      return st;
    } finally {
      this.creating--;
      if (personal) this.creatingPersonal--;
    }
  }

  remove(id: string): void {
    const st = this.stations.get(id);
    if (!st) return;
    this.stations.delete(id);
    if (st.personal) this.personalCount--;
    if (st.resumeToken) this.byResumeToken.delete(st.resumeToken);
    if (st.graceTimer) clearTimeout(st.graceTimer);
    this.pacer.remove(st);
    // Listeners still attached may hold views of the ring's bytes until their sockets close.
    this.engine.removeStation(id, { inUse: st.listeners.size > 0 });
    for (const l of st.listeners) l.kick('station-removed');
    this.onRemoved(st);
  }

  /** The owner of a personal session left: keep it for the grace period, then remove it. */
  ownerLeft(st: Station): void {
    st.ownerConnected = false;
    // Owners' sockets close during shutdown too: no grace timer may start after close().
    if (this.closed) return;
    if (st.graceTimer) clearTimeout(st.graceTimer);
    st.graceTimer = setTimeout(() => {
      if (!st.ownerConnected) this.remove(st.id);
    }, this.config.gracePeriodMs);
    st.graceTimer.unref();
  }

  /** Takes back a personal session by its resume token (once its previous owner is gone). */
  resume(token: string): Station | undefined {
    const st = this.byResumeToken.get(token);
    if (!st || st.ownerConnected) return undefined;
    if (st.graceTimer) clearTimeout(st.graceTimer);
    st.graceTimer = null;
    st.ownerConnected = true;
    return st;
  }

  /** Stops every station's timers and refuses new ones (the engine owns the rest). Idempotent. */
  close(): void {
    this.closed = true;
    for (const st of this.stations.values()) {
      if (st.graceTimer) clearTimeout(st.graceTimer);
      st.graceTimer = null;
    }
  }
}
