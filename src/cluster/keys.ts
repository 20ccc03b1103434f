import type { ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import type { ParamsChange } from '../engine/messages.ts';
import { validateSchedule, type Schedule } from '../music/schedule.ts';

/**
 * The one vocabulary of the Redis keys and channels that origins and edges share (src/cluster/,
 * docs/ARCHITECTURE.md "Origins and edges"). Every key starts with `auralis:`.
 */

const PREFIX = 'auralis:';

/** SET of the station ids the cluster runs (edges add them; origins claim each one's lease). */
export const STATIONS_KEY = `${PREFIX}stations`;
/** Pub/sub: control requests from any node to the owning origin (ControlRequest JSON). */
export const CONTROL_CHANNEL = `${PREFIX}control`;
/** Pub/sub: a station was defined or removed by a node (StationEvent JSON). */
export const STATION_CHANNEL = `${PREFIX}station`;
/** Pub/sub: a station id whose schedule (keys.schedule) changed: its owner and every edge re-read it. */
export const SCHEDULE_CHANNEL = `${PREFIX}schedule`;
/** Pub/sub: a station id whose wishes changed (an origin re-reads them at once). */
export const WISH_CHANNEL = `${PREFIX}wish`;

export const keys = {
  /** `{seed, params}` the station was created with (SET NX: the first node's wins). */
  def: (id: string): string => `${PREFIX}st:${id}:def`,
  /** The owning origin's node id, with a TTL (SET NX PX, renewed by the owner). */
  lease: (id: string): string => `${PREFIX}st:${id}:lease`,
  /** StationMeta JSON, written by the owner: the clock, the Ogg header, the current parameters. */
  meta: (id: string): string => `${PREFIX}st:${id}:meta`,
  /** Stream of the station's chunks (field `c`), `now` events (`n`) and parameter changes (`p`). */
  chunks: (id: string): string => `${PREFIX}st:${id}:chunks`,
  /** HASH node id → EdgeWish JSON (each entry carries its own expiry). */
  wish: (id: string): string => `${PREFIX}st:${id}:wish`,
  /**
   * A personal session recreated from its resume token before any origin ran it: `{startWallMs,
   * seed, initialParams, history}` (SET NX PX), which the origin that claims it starts it from.
   */
  resume: (id: string): string => `${PREFIX}st:${id}:resume`,
  /**
   * A personal session's sleep timer: the Unix ms when its music is over (PX: until a while after),
   * written by its owner's edge; an edge that takes the session back from its token runs it on.
   */
  sleep: (id: string): string => `${PREFIX}st:${id}:sleep`,
  /** A personal session's edge (its owner's connection): only that edge ends it cluster-wide. */
  owner: (id: string): string => `${PREFIX}st:${id}:owner`,
  /**
   * A shared station's schedule (Schedule JSON, or `null`: it has none), written by the node that
   * got the PUT or DELETE; the owning origin runs it, edges show it. No key: not known (Redis lost
   * its data; the owner writes back the one it runs).
   */
  schedule: (id: string): string => `${PREFIX}st:${id}:schedule`,
  /** Pub/sub: answers to one node's control requests. */
  reply: (node: string): string => `${PREFIX}reply:${node}`,
};

/** How long a lease lives without renewal (ms): a dead origin's stations are taken over after it. */
export const LEASE_TTL_MS = 1000;
/** How often an owner renews its leases (ms). */
export const LEASE_RENEW_MS = 250;
/** How often an origin looks for stations without an owner (ms). */
export const CLAIM_INTERVAL_MS = 200;
/** How often an edge rewrites its wishes (ms); an entry older than WISH_TTL_MS is ignored. */
export const WISH_REFRESH_MS = 1000;
export const WISH_TTL_MS = 3500;
/** How long a control request waits for the owning origin's answer (ms). */
export const CONTROL_TIMEOUT_MS = 5000;
/** How long an edge waits for an origin to start a station it asks for (ms). */
export const STATION_START_TIMEOUT_MS = 10_000;

/** What the owner of a station writes for the edges (keys.meta). */
export interface StationMeta {
  /** The origin node that owns it now. */
  node: string;
  /** Unix ms at which position 0 plays: the station clock, the same on every node. */
  startWallMs: number;
  chunkFrames: number;
  /** Opus tiers (kb/s) and MP3 bitrate of the ring layout: an edge must have the same. */
  tiers: number[];
  defaultKbps: number;
  mp3Bitrate: number;
  /** OpusHead + OpusTags pages, base64. */
  oggHeader: string;
  preSkipFrames: number;
  opusBackend: string;
  seed: number;
  /** The parameters it plays now. */
  params: MusicParams;
  /** The parameters it started with, and the changes since (the last MAX_HISTORY): a standby replays them. */
  initialParams: MusicParams;
  history: ParamsChange[];
}

/** How often an owner and the edges re-read the schedules (ms): a change whose message was lost. */
export const SCHEDULE_REFRESH_MS = 5000;

/**
 * The value at keys.schedule as a schedule, `null` (the station has none), or undefined (no key, or
 * a value that is not a valid schedule: nothing to go by).
 */
export function parseSchedule(text: string | null): Schedule | null | undefined {
  if (text === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null) return null;
  const v = validateSchedule(value);
  return v.ok ? v.schedule : undefined;
}

/** How long a resume key waits for an origin to claim its station (ms). */
export const RESUME_TTL_MS = 60_000;

/** What an edge writes at keys.resume: a personal session's clock and score from its token. */
export interface ResumeStub {
  startWallMs: number;
  seed: number;
  initialParams: MusicParams;
  history: ParamsChange[];
}

/** Changes kept in a station's meta for a standby to replay (older ones are dropped: see ARCHITECTURE.md). */
export const MAX_HISTORY = 256;

/** Appends a change to a meta's history, keeping the last MAX_HISTORY. */
export function recordChange(meta: StationMeta, change: ParamsChange): void {
  meta.params = change.params;
  meta.history.push(change);
  if (meta.history.length > MAX_HISTORY) meta.history.splice(0, meta.history.length - MAX_HISTORY);
}

/** One edge's wish for one station (keys.wish); `expiresAtMs`: Unix ms after which it is ignored. */
export interface EdgeWish {
  mp3: boolean;
  tiers: number;
  live: boolean;
  expiresAtMs: number;
}

export interface ControlRequest {
  id: string;
  requestId: number;
  /** The node that asks (its reply channel). */
  node: string;
  patch: ParamsPatch;
  source: string;
}

export type ControlReply =
  | { requestId: number; ok: true; effectiveAt: number; params: MusicParams }
  | { requestId: number; ok: false; code: 'unknown-station' | 'restarting'; message: string };

/** A parameter change as the stream carries it (field `p`) to every edge. */
export interface ParamsEvent {
  effectiveAt: number;
  params: MusicParams;
  source: string;
  /** The node whose request it answered (it announces it itself). */
  node: string;
}

/** A station defined (`added`) or removed cluster-wide (`removed`) by node `node`. */
export interface StationEvent {
  op: 'added' | 'removed';
  id: string;
  node: string;
}

/** Personal sessions (`p-…`, src/server/stations.ts) live on their owner's edge only: never mirrored. */
export function isPersonalId(id: string): boolean {
  return id.startsWith('p-');
}
