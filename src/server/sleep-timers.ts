import { monoNowMs } from '../engine/clock.ts';
import { ENDING_SECONDS, SAMPLE_RATE } from '../music/types.ts';
import type { Controller } from './control.ts';
import type { Station } from './station.ts';

/** Longest sleep timer, in minutes (12 h). */
export const MAX_SLEEP_MINUTES = 720;
/** The period of the one check that runs every sleep timer (see StationSchedules for why short). */
const TICK_MS = 500;

interface SleepLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

interface Timer {
  st: Station;
  /** The minutes asked for (what a reloaded page shows). */
  minutes: number;
  /** Monotonic ms when the music should be over. */
  endsAtMono: number;
  /** The ending was asked for (the engine answered with `endAtMono`) or is being asked for. */
  ending: 'no' | 'asking' | 'playing';
  /** Monotonic ms when the ending's fade is over (audible), once the engine answered. */
  endAtMono: number;
  /** While `ending` is 'asking': the engine's answer (settled either way). */
  asking: Promise<void> | null;
}

/** A session's timer as its owner's page shows it (the welcome's `sleep`). */
export interface SleepState {
  minutes: number;
  /** Monotonic ms when the music will be over. */
  endsAtMono: number;
}

/** What validateSleep answers: the minutes, or why not. */
export type SleepMinutes = { ok: true; minutes: number } | { ok: false; message: string };

/** `minutes`: 0 cancels; otherwise more than 0 and at most MAX_SLEEP_MINUTES. */
export function validateSleep(value: unknown): SleepMinutes {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_SLEEP_MINUTES)
    return {
      ok: false,
      message: `minutes must be a number from 0 (cancel) to ${MAX_SLEEP_MINUTES}, got ${JSON.stringify(value) ?? 'nothing'}`,
    };
  return { ok: true, minutes: value };
}

/**
 * Personal sessions' sleep timers. ENDING_SECONDS before the time is up, the session's parameters
 * get `ending: true` through the controller (so the engine thins the score, resolves to the tonic
 * and fades its master to silence, as part of the parameter history); once that ending has been
 * heard, every WebSocket peer gets `{"type":"sleep","ended":true}` and the session ends. A cancel
 * before the end (0 minutes) takes the ending back. One interval runs them all while one exists;
 * close() stops it.
 */
export class SleepTimers {
  private readonly timers = new Map<string, Timer>();
  private readonly controller: Controller;
  private readonly log: SleepLog;
  private readonly end: (st: Station) => void;
  private readonly keep: (st: Station, endAtMono: number | null) => void;
  private interval: NodeJS.Timeout | null = null;
  private closed = false;
  /** Sessions that ended while they had a timer: a set() that waited for one of them sets nothing. */
  private readonly gone = new WeakSet<Station>();

  /**
   * `keep`: told when the music of a session's timer will be over (monotonic ms; null: no timer),
   * so that the timer outlives this node (an edge keeps it in Redis for the session's next edge).
   */
  constructor(
    controller: Controller,
    log: SleepLog,
    end: (st: Station) => void,
    keep: (st: Station, endAtMono: number | null) => void = () => {},
  ) {
    this.controller = controller;
    this.log = log;
    this.end = end;
    this.keep = keep;
  }

  /**
   * Runs on a timer kept elsewhere (a session taken back from its token on another edge): its music
   * is over at `endAtMono`; an ending already under way (the session's parameters say so) goes on.
   * Nothing happens when the session has a timer here already.
   */
  restore(st: Station, endAtMono: number): void {
    if (this.closed || this.timers.has(st.id)) return;
    const playing = st.params.ending === true;
    this.timers.set(st.id, {
      st,
      // What was asked is not kept with the timer: the minutes left stand for it.
      minutes: Math.max(1, Math.ceil((endAtMono - monoNowMs()) / 60_000)),
      asking: null,
      endsAtMono: endAtMono,
      ending: playing ? 'playing' : 'no',
      endAtMono: playing ? endAtMono : 0,
    });
    this.log.info({ personal: true }, 'a sleep timer kept by the cluster runs on here');
    this.run();
  }

  /** Starts the one check (if it is not running) and checks now. */
  private run(): void {
    if (this.interval === null) {
      this.interval = setInterval(this.tick, TICK_MS);
      this.interval.unref();
    }
    this.tick();
  }

  /**
   * Sets (or replaces) a session's timer; 0 cancels. Answers when the music will be over (mono ms),
   * or null. A second timer replaces the first: an ending under way goes on if the new time falls
   * within it, and is taken back if the new time is later.
   */
  async set(st: Station, minutes: number): Promise<number | null> {
    // An ending being asked for: its answer first (when it is heard), then the new timer.
    await this.timers.get(st.id)?.asking;
    if (this.gone.has(st)) return null;
    const old = this.timers.get(st.id);
    if (minutes === 0) {
      this.timers.delete(st.id);
      this.stopIfIdle();
      this.keep(st, null);
      if (old && old.ending !== 'no') await this.controller.change(st, { ending: false }, 'listener');
      return null;
    }
    if (this.closed) return null;
    const endsAtMono = monoNowMs() + minutes * 60_000;
    const t: Timer = old ?? { st, minutes, endsAtMono, ending: 'no', endAtMono: 0, asking: null };
    t.minutes = minutes;
    t.endsAtMono = endsAtMono;
    this.timers.set(st.id, t);
    if (t.ending === 'playing' && endsAtMono - ENDING_SECONDS * 1000 > monoNowMs()) {
      // A longer timer while the ending plays: the music comes back until the new ending.
      t.ending = 'no';
      await this.controller.change(st, { ending: false }, 'listener');
    }
    this.timers.set(st.id, t);
    this.run();
    const endAt = this.endsAt(t);
    this.keep(st, endAt);
    return endAt;
  }

  /** A session's timer now (its minutes, and when the music will be over), or null. */
  state(id: string): SleepState | null {
    const t = this.timers.get(id);
    return t ? { minutes: t.minutes, endsAtMono: this.endsAt(t) } : null;
  }

  private endsAt(t: Timer): number {
    return t.ending === 'playing' ? t.endAtMono : Math.max(t.endsAtMono, monoNowMs() + ENDING_SECONDS * 1000);
  }

  /** The session ended otherwise (its owner left, it was removed). */
  remove(id: string): void {
    const t = this.timers.get(id);
    if (t) this.gone.add(t.st);
    this.timers.delete(id);
    this.stopIfIdle();
  }

  close(): void {
    this.closed = true;
    this.timers.clear();
    this.stopIfIdle();
  }

  private stopIfIdle(): void {
    if (this.timers.size > 0 || this.interval === null) return;
    clearInterval(this.interval);
    this.interval = null;
  }

  private readonly tick = (): void => {
    if (this.closed) return;
    const now = monoNowMs();
    for (const t of this.timers.values()) {
      if (t.ending === 'no' && now >= t.endsAtMono - ENDING_SECONDS * 1000) {
        t.ending = 'asking';
        t.asking = this.controller.change(t.st, { ending: true }, 'listener').then(
          (r) => {
            t.asking = null;
            if (this.timers.get(t.st.id) !== t || t.ending !== 'asking') return;
            t.ending = 'playing';
            const audible = t.st.engine.startMonoMs + (r.effectiveAt * 1000) / SAMPLE_RATE;
            t.endAtMono = audible + ENDING_SECONDS * 1000;
            this.keep(t.st, t.endAtMono);
          },
          (err: unknown) => {
            t.asking = null;
            // Retried at the next check.
            if (t.ending === 'asking') t.ending = 'no';
            this.log.warn({ err: (err as Error).message }, 'a sleep timer could not start its ending');
          },
        );
      } else if (t.ending === 'playing' && now >= t.endAtMono) {
        this.timers.delete(t.st.id);
        this.gone.add(t.st);
        this.log.info({ personal: true }, 'a personal session ended by its sleep timer');
        const text = JSON.stringify({ type: 'sleep', ended: true });
        for (const peer of t.st.peers) peer.send(text);
        this.end(t.st);
      }
    }
    this.stopIfIdle();
  };
}
