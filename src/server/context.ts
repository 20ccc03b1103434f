import type { Engine } from '../engine/engine.ts';
import type { Listener, Transport } from './broadcast/listener.ts';
import type { Broadcaster } from './broadcast/pacer.ts';
import type { ServerConfig } from './config.ts';
import type { ControlSource, Controller } from './control.ts';
import type { ClientLimits } from './limits.ts';
import type { NotesFeed } from './notes-feed.ts';
import type { NowFeed } from './now-feed.ts';
import type { StationSchedules } from './schedules.ts';
import type { SleepTimers } from './sleep-timers.ts';
import type { StationRegistry } from './stations.ts';
import type { Station } from './station.ts';
import type { Schedule } from '../music/schedule.ts';

export type ControlResultLabel = 'ok' | 'rejected' | 'rate_limited' | 'forbidden';

/** What the routes and transports share: the pieces of a running server and its bookkeeping. */
export interface ServerContext {
  readonly config: ServerConfig;
  readonly engine: Engine;
  readonly registry: StationRegistry;
  readonly pacer: Broadcaster;
  readonly controller: Controller;
  /** Per-client-address limits (connections, control rate). */
  readonly limits: ClientLimits;
  /** Personal sessions' sleep timers (an ending, then the session ends). */
  readonly sleepTimers: SleepTimers;
  /** The stations' schedules (local-time entries with glides): run here, or shown (an edge). */
  readonly schedules: StationSchedules;
  /** Sets (null: removes) a shared station's schedule: runs it here, or stores it for the cluster (an edge). */
  setSchedule(st: Station, schedule: Schedule | null): Promise<void>;
  /** The now-playing event streams (SSE). */
  readonly nowFeed: NowFeed;
  /** WebSocket listeners subscribed to their station's notes (`?events=1`). */
  readonly notesFeed: NotesFeed;
  /** The key that signs moment tokens (`momentSecret`, or random bytes per start). */
  readonly momentKey: Buffer;
  readonly closing: boolean;
  /** Why the node cannot serve now because of Redis (origin and edge roles), or null. */
  redisProblem(): string | null;
  /** The SoundFont of the sampled layer (presets that need one are refused without it), or null. */
  readonly soundfont: string | null;
  listenerCount(): number;
  listenerJoined(transport: Transport): void;
  listenerLeft(transport: Transport, listener: Listener): void;
  controlAccepted(source: ControlSource): void;
  controlRejected(source: ControlSource, result: Exclude<ControlResultLabel, 'ok'>): void;
  /** The shared stations created through the API changed (created, removed, new parameters): keep them. */
  stationsChanged(): void;
  /** A player's own report (`stats` message). */
  clientStats(listener: Listener, bufferedMs: number, underruns: number): void;
  /** A WebSocket listener switched to a higher (`up`) or lower Opus tier. */
  tierSwitched(up: boolean): void;
}
