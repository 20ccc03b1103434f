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
import type { Controller } from './control.ts';
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

interface Running {
  st: Station;
  schedule: Schedule;
  /** Unix ms of the next entry as planned. */
  nextAtMs: number;
  /** Wall minus monotonic ms when it was planned (a step of the wall clock changes it). */
  plannedOffsetMs: number;
  glide: Glide | null;
}

/**
 * Runs the stations' schedules. One interval (running only while a schedule exists) checks each:
 * when the wall clock reaches the next entry's Unix ms, the station glides to the entry's
 * parameters through the controller (source `schedule`), one step at a time on the monotonic
 * clock; a step of the wall clock (its offset from the monotonic one moved) re-plans the next entry.
 * Owns its interval; close() stops it.
 */
export class StationSchedules {
  private readonly running = new Map<string, Running>();
  private readonly controller: Controller;
  private readonly log: ScheduleLog;
  /** Counts each scheduled change (auralis_control_changes_total, source `schedule`). */
  private readonly counted: (ok: boolean) => void;
  private readonly wallNow: () => number;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    controller: Controller,
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
    return this.running.get(id)?.schedule;
  }

  /**
   * Sets (or replaces) a station's schedule. The entry in force now is reached by a glide starting
   * now (nothing moves when the station already plays it: a restart that missed no entry).
   */
  set(st: Station, schedule: Schedule): void {
    if (this.closed) return;
    const r: Running = { st, schedule, nextAtMs: 0, plannedOffsetMs: 0, glide: null };
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
    if (this.running.size === 0) this.stopTimer();
  }

  /** The schedule as the API shows it, with its next entry. */
  json(id: string): Record<string, unknown> | null {
    const r = this.running.get(id);
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
      gliding: r.glide !== null,
    };
  }

  close(): void {
    this.closed = true;
    this.running.clear();
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private plan(r: Running): void {
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
  private fire(r: Running, index: number): void {
    r.glide = null;
    const entry = r.schedule.entries[index]!;
    const p = r.st.params;
    const target = entryTarget(p, entry);
    if (
      target.key === p.key &&
      target.mode === p.mode &&
      target.bpm === p.bpm &&
      target.intensity === p.intensity &&
      target.preset === p.preset
    )
      return;
    const glideMs = r.schedule.glideMinutes * 60_000;
    this.log.info(
      { station: r.st.id, at: entry.at, preset: entry.preset ?? null, glideMinutes: r.schedule.glideMinutes },
      `station ${r.st.id}: schedule entry ${entry.at} (${entry.preset ?? 'params'}), gliding over ${r.schedule.glideMinutes} min`,
    );
    r.glide = { steps: glideSteps(p, target, glideMs), startMono: monoNowMs(), k: 0, inFlight: false };
    this.step(r, monoNowMs());
  }

  /** Sends the glide's next step when it is due and the one before was answered. */
  private step(r: Running, mono: number): void {
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
