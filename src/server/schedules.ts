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

/** The longest the scheduler sleeps before it reads the wall clock again (a jump re-plans within it). */
const MAX_SLEEP_MS = 10_000;

interface ScheduleLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

interface Running {
  st: Station;
  schedule: Schedule;
  /** Unix ms of the next entry as planned. */
  nextAtMs: number;
  timer: NodeJS.Timeout | null;
  glide: { steps: GlideStep[]; startMono: number; k: number; timer: NodeJS.Timeout | null } | null;
}

/**
 * Runs the stations' schedules: sleeps on the monotonic clock until the next entry's wall time
 * (at most MAX_SLEEP_MS at a time, so a step of the wall clock re-plans it), then glides the station
 * to the entry's parameters through the controller (source `schedule`). Owns its timers; close()
 * stops them all.
 */
export class StationSchedules {
  private readonly running = new Map<string, Running>();
  private readonly controller: Controller;
  private readonly log: ScheduleLog;
  private readonly wallNow: () => number;
  private closed = false;

  /** Counts each scheduled change (auralis_control_changes_total, source `schedule`). */
  private readonly counted: (ok: boolean) => void;

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
    this.remove(st.id);
    const r: Running = { st, schedule, nextAtMs: 0, timer: null, glide: null };
    this.running.set(st.id, r);
    this.fire(r, currentEntry(schedule, this.wallNow()).index);
    this.plan(r);
  }

  remove(id: string): void {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    if (r.timer) clearTimeout(r.timer);
    this.stopGlide(r);
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

  /** Every schedule, for the station store. */
  all(): Map<string, Schedule> {
    const out = new Map<string, Schedule>();
    for (const [id, r] of this.running) out.set(id, r.schedule);
    return out;
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.running.keys()]) this.remove(id);
  }

  private plan(r: Running): void {
    const now = this.wallNow();
    r.nextAtMs = nextEntry(r.schedule, now).atMs;
    this.sleep(r, now);
  }

  private sleep(r: Running, now: number): void {
    if (r.timer) clearTimeout(r.timer);
    r.timer = setTimeout(() => this.wake(r), Math.max(0, Math.min(MAX_SLEEP_MS, r.nextAtMs - now)));
    r.timer.unref();
  }

  private wake(r: Running): void {
    r.timer = null;
    if (this.closed || this.running.get(r.st.id) !== r) return;
    const now = this.wallNow();
    if (now >= r.nextAtMs) {
      // Due (or the wall clock stepped past it, maybe past several: the one in force now wins).
      this.fire(r, currentEntry(r.schedule, now).index);
      this.plan(r);
    } else {
      // Not yet, or the wall clock stepped back: the next entry from now.
      this.plan(r);
    }
  }

  /** Starts the glide to entry `index` from what the station plays now. */
  private fire(r: Running, index: number): void {
    this.stopGlide(r);
    const entry = r.schedule.entries[index]!;
    const target = entryTarget(r.st.params, entry);
    const p = r.st.params;
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
    r.glide = { steps: glideSteps(r.st.params, target, glideMs), startMono: monoNowMs(), k: 0, timer: null };
    this.nextStep(r);
  }

  private nextStep(r: Running): void {
    const g = r.glide;
    if (!g) return;
    if (g.k >= g.steps.length) {
      r.glide = null;
      return;
    }
    const step = g.steps[g.k]!;
    g.timer = setTimeout(
      () => {
        g.timer = null;
        if (r.glide !== g || this.closed) return;
        g.k++;
        // One change at a time, in order; the next waits for this one's answer.
        this.controller.change(r.st, step.patch, 'schedule').then(
          () => {
            this.counted(true);
            this.nextStep(r);
          },
          (err: unknown) => {
            this.counted(false);
            this.log.warn(
              { station: r.st.id, err: (err as Error).message },
              `station ${r.st.id}: a scheduled change was not applied`,
            );
            this.nextStep(r);
          },
        );
      },
      Math.max(0, g.startMono + step.atMs - monoNowMs()),
    );
    g.timer.unref();
  }

  private stopGlide(r: Running): void {
    if (r.glide?.timer) clearTimeout(r.glide.timer);
    r.glide = null;
  }
}
