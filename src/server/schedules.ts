import { monoNowMs, wallNowMs } from '../engine/clock.ts';
import {
  currentEntry,
  entryTarget,
  glideSteps,
  isoWithOffset,
  nextEntry,
  type GlideStep,
  type Schedule,
} from '../music/schedule.ts';
import type { ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import type { Station } from './station.ts';

/**
 * The period of the one check that runs every schedule (entries due, glide steps due, wall-clock
 * steps). Short, so that glide steps (at least 2 s apart) keep their spacing and a cleared timer
 * leaves libuv's timer armed for at most this long after close().
 */
const TICK_MS = 1000;
/** A wall clock that moved against the monotonic one by more than this was stepped: re-plan. */
const WALL_STEP_MS = 1000;

interface ScheduleLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

interface Glide {
  steps: GlideStep[];
  startMono: number;
  /** The next step to send. */
  k: number;
  /** A step was sent and has not been answered (steps go one at a time, in order). */
  inFlight: boolean;
}

/** What a schedule moves: a station (its id, what it plays now). */
export interface Scheduled {
  readonly id: string;
  readonly params: MusicParams;
}

/** What sends a schedule's steps: the server's Controller, or an origin's own engine (src/cluster/). */
export interface ScheduleChanger<S extends Scheduled> {
  change(st: S, patch: ParamsPatch, source: 'schedule'): Promise<unknown>;
}

interface Running<S extends Scheduled> {
  st: S;
  schedule: Schedule;
  /** Unix ms of the next entry as planned. */
  nextAtMs: number;
  /** Wall minus monotonic ms when it was planned (a step of the wall clock changes it). */
  plannedOffsetMs: number;
  glide: Glide | null;
}

/** A schedule another node runs (an edge shows the one its station's owning origin runs). */
interface Shown {
  st: Scheduled;
  schedule: Schedule;
  /** Unix ms when this node learnt of it (the owner starts a glide to the entry in force then). */
  sinceMs: number;
}

/**
 * Runs the stations' schedules. One interval (running only while a schedule exists) checks each:
 * when the wall clock reaches the next entry's Unix ms, the station glides to the entry's
 * parameters through the controller (source `schedule`), one step at a time on the monotonic
 * clock; a step of the wall clock (its offset from the monotonic one moved) re-plans the next entry.
 * Owns its interval; close() stops it.
 */
export class StationSchedules<S extends Scheduled = Station> {
  private readonly running = new Map<string, Running<S>>();
  /** Schedules run elsewhere (show()): answered by get() and json(), never fired here. */
  private readonly shown = new Map<string, Shown>();
  private readonly controller: ScheduleChanger<S>;
  private readonly log: ScheduleLog;
  /** Counts each scheduled change (auralis_control_changes_total, source `schedule`). */
  private readonly counted: (ok: boolean) => void;
  private readonly wallNow: () => number;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    controller: ScheduleChanger<S>,
    log: ScheduleLog,
    counted: (ok: boolean) => void = () => {},
    wallNow: () => number = wallNowMs,
  ) {
    this.controller = controller;
    this.log = log;
    this.counted = counted;
    this.wallNow = wallNow;
  }

  get(id: string): Schedule | undefined {
    return this.running.get(id)?.schedule ?? this.shown.get(id)?.schedule;
  }

  /**
   * Shows a schedule that another node runs (an edge: the station's owning origin fires it), or
   * stops showing it (null). Nothing is fired here.
   */
  show(st: Scheduled, schedule: Schedule | null): void {
    if (this.closed) return;
    if (schedule === null) this.shown.delete(st.id);
    else this.shown.set(st.id, { st, schedule, sinceMs: this.wallNow() });
  }

  /**
   * Sets (or replaces) a station's schedule. The entry in force now is reached by a glide starting
   * now (nothing moves when the station already plays it: a restart that missed no entry).
   */
  set(st: S, schedule: Schedule): void {
    if (this.closed) return;
    const r: Running<S> = { st, schedule, nextAtMs: 0, plannedOffsetMs: 0, glide: null };
    this.running.set(st.id, r);
    this.fire(r, currentEntry(schedule, this.wallNow()).index);
    this.plan(r);
    if (this.timer === null) {
      this.timer = setInterval(this.tick, TICK_MS);
      this.timer.unref();
    }
  }

  /** Stops a station's schedule (a glide in progress stops where it is). */
  remove(id: string): void {
    this.running.delete(id);
    this.shown.delete(id);
    if (this.running.size === 0) this.stopTimer();
  }

  /** The schedule as the API shows it, with its next entry. */
  json(id: string): Record<string, unknown> | null {
    const r = this.running.get(id) ?? this.shown.get(id);
    if (!r) return null;
    const now = this.wallNow();
    const n = nextEntry(r.schedule, now);
    return {
      ...r.schedule,
      next: {
        at: isoWithOffset(r.schedule.timeZone, n.atMs),
        localTime: n.entry.at,
        preset: n.entry.preset ?? null,
        ...(n.entry.params ? { params: n.entry.params } : {}),
        inMs: n.atMs - now,
      },
      gliding: 'glide' in r ? r.glide !== null : shownGliding(r, now),
    };
  }

  close(): void {
    this.closed = true;
    this.running.clear();
    this.shown.clear();
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private plan(r: Running<S>): void {
    const now = this.wallNow();
    r.nextAtMs = nextEntry(r.schedule, now).atMs;
    r.plannedOffsetMs = now - monoNowMs();
  }

  private readonly tick = (): void => {
    if (this.closed) return;
    const mono = monoNowMs();
    const wall = this.wallNow();
    for (const r of this.running.values()) {
      if (wall >= r.nextAtMs) {
        // Due (or the wall clock stepped past it, maybe past several: the one in force now wins).
        this.fire(r, currentEntry(r.schedule, wall).index);
        this.plan(r);
      } else if (Math.abs(wall - mono - r.plannedOffsetMs) > WALL_STEP_MS) {
        // The wall clock stepped (back, or forward short of the entry): the next entry from now.
        this.plan(r);
      }
      this.step(r, mono);
    }
  };

  /** Starts the glide to entry `index` from what the station plays now. */
  private fire(r: Running<S>, index: number): void {
    r.glide = null;
    const entry = r.schedule.entries[index]!;
    const p = r.st.params;
    const target = entryTarget(p, entry);
    if (plays(p, target)) return;
    const glideMs = r.schedule.glideMinutes * 60_000;
    this.log.info(
      { station: r.st.id, at: entry.at, preset: entry.preset ?? null, glideMinutes: r.schedule.glideMinutes },
      `station ${r.st.id}: schedule entry ${entry.at} (${entry.preset ?? 'params'}), gliding over ${r.schedule.glideMinutes} min`,
    );
    r.glide = { steps: glideSteps(p, target, glideMs), startMono: monoNowMs(), k: 0, inFlight: false };
    this.step(r, monoNowMs());
  }

  /** Sends the glide's next step when it is due and the one before was answered. */
  private step(r: Running<S>, mono: number): void {
    const g = r.glide;
    if (g === null || g.inFlight) return;
    if (g.k >= g.steps.length) {
      r.glide = null;
      return;
    }
    const step = g.steps[g.k]!;
    if (mono < g.startMono + step.atMs) return;
    g.k++;
    g.inFlight = true;
    this.controller.change(r.st, step.patch, 'schedule').then(
      () => {
        g.inFlight = false;
        this.counted(true);
        if (g.k >= g.steps.length && r.glide === g) r.glide = null;
      },
      (err: unknown) => {
        g.inFlight = false;
        this.counted(false);
        this.log.warn(
          { station: r.st.id, err: (err as Error).message },
          `station ${r.st.id}: a scheduled change was not applied`,
        );
      },
    );
  }
}

/**
 * Whether the glide of a schedule run elsewhere is under way, as far as this node sees: the entry
 * in force came (or the schedule was set) less than `glideMinutes` ago and the station does not
 * play its target yet.
 */
function shownGliding(r: Shown, now: number): boolean {
  const c = currentEntry(r.schedule, now);
  if (now - Math.max(c.atMs, r.sinceMs) >= r.schedule.glideMinutes * 60_000) return false;
  return !plays(r.st.params, entryTarget(r.st.params, c.entry));
}

/** Whether a station playing `p` plays the target `t` (what a schedule moves). */
function plays(p: MusicParams, t: MusicParams): boolean {
  return (
    t.key === p.key &&
    t.mode === p.mode &&
    t.bpm === p.bpm &&
    t.intensity === p.intensity &&
    t.preset === p.preset
  );
}
