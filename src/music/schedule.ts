import { applyPatch, validatePatch, type ParamsPatch } from './params.ts';
import type { MusicParams } from './types.ts';

/**
 * A station's day: entries at local times (`HH:MM` in an IANA time zone), each a preset and/or a
 * parameter patch, reached by a glide of `glideMinutes` that starts when the entry's time comes.
 * Pure functions here (validation, local-time arithmetic, the glide's steps); the server's
 * scheduler (src/server/schedules.ts) runs them on its clock.
 */

/** Longest glide, in minutes (a glide longer than the gap to the next entry is cut short by it). */
export const MAX_GLIDE_MINUTES = 120;
/** At most this many entries in one schedule (one a minute for a day would be absurd anyway). */
export const MAX_SCHEDULE_ENTRIES = 48;
/** A glide moves tempo and intensity at most every this many ms … */
export const MIN_GLIDE_STEP_MS = 2000;
/** … in at most this many steps (a 10-minute glide: one step every 10 s). */
export const MAX_GLIDE_STEPS = 60;

export interface ScheduleEntry {
  /** `HH:MM`, local time in the schedule's zone. */
  at: string;
  preset?: string;
  /** Explicit values over the preset's (key, mode, bpm, intensity). */
  params?: Omit<ParamsPatch, 'preset' | 'seed'>;
}

export interface Schedule {
  timeZone: string;
  glideMinutes: number;
  /** Sorted by time of day; no two at the same time. */
  entries: ScheduleEntry[];
}

export type ScheduleResult = { ok: true; schedule: Schedule } | { ok: false; field: string; message: string };

const AT = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes after local midnight of an entry's `at` (validated). */
export function minuteOfDay(at: string): number {
  const m = AT.exec(at)!;
  return Number(m[1]) * 60 + Number(m[2]);
}

/** Whether Intl knows the zone (the IANA database of this Node). */
function validZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Validates a schedule body as a whole; the first bad field is named (`entries[2].at`).
 * `soundfont: false` (a server without a SoundFont) refuses an entry's preset that needs one, as
 * validatePatch does for a change: refused when set, not when the entry comes due.
 */
export function validateSchedule(input: unknown, opts: { soundfont?: boolean } = {}): ScheduleResult {
  const bad = (field: string, message: string): ScheduleResult => ({ ok: false, field, message });
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return bad('schedule', 'the schedule must be a JSON object');
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!['timeZone', 'glideMinutes', 'entries'].includes(k))
      return bad(k, `unknown field ${k}; allowed: timeZone, glideMinutes, entries`);
  if (typeof o.timeZone !== 'string' || o.timeZone.length > 64 || !validZone(o.timeZone))
    return bad(
      'timeZone',
      `timeZone must be an IANA time zone such as Europe/Paris, got ${JSON.stringify(o.timeZone)}`,
    );
  const glide = o.glideMinutes === undefined ? 10 : o.glideMinutes;
  if (typeof glide !== 'number' || !Number.isFinite(glide) || glide < 0 || glide > MAX_GLIDE_MINUTES)
    return bad(
      'glideMinutes',
      `glideMinutes must be a number between 0 and ${MAX_GLIDE_MINUTES}, got ${JSON.stringify(o.glideMinutes)}`,
    );
  if (!Array.isArray(o.entries) || o.entries.length === 0 || o.entries.length > MAX_SCHEDULE_ENTRIES)
    return bad('entries', `entries must be an array of 1 to ${MAX_SCHEDULE_ENTRIES} entries`);
  const entries: ScheduleEntry[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < o.entries.length; i++) {
    const f = `entries[${i}]`;
    const e = o.entries[i] as unknown;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return bad(f, `${f} must be an object`);
    const r = e as Record<string, unknown>;
    for (const k of Object.keys(r))
      if (!['at', 'preset', 'params'].includes(k))
        return bad(`${f}.${k}`, `unknown field ${f}.${k}; allowed: at, preset, params`);
    if (typeof r.at !== 'string' || !AT.test(r.at))
      return bad(
        `${f}.at`,
        `${f}.at must be a local time HH:MM (00:00 to 23:59), got ${JSON.stringify(r.at)}`,
      );
    const prev = seen.get(r.at);
    if (prev !== undefined) return bad(`${f}.at`, `${f}.at repeats entries[${prev}].at (${r.at})`);
    seen.set(r.at, i);
    const entry: ScheduleEntry = { at: r.at };
    if (r.preset !== undefined) {
      const v = validatePatch({ preset: r.preset }, { soundfont: opts.soundfont });
      if (!v.ok) return bad(`${f}.preset`, `${f}.${v.message}`);
      entry.preset = v.patch.preset!;
    }
    if (r.params !== undefined) {
      if (typeof r.params !== 'object' || r.params === null || Array.isArray(r.params))
        return bad(`${f}.params`, `${f}.params must be an object`);
      if ('preset' in r.params || 'seed' in r.params)
        return bad(`${f}.params`, `${f}.params takes key, mode, bpm and intensity (preset goes beside it)`);
      const v = validatePatch(r.params);
      if (!v.ok) return bad(`${f}.params.${v.field}`, `${f}.params.${v.message}`);
      if (Object.keys(v.patch).length > 0) entry.params = v.patch;
    }
    if (entry.preset === undefined && entry.params === undefined)
      return bad(`${f}.preset`, `${f}.preset or ${f}.params is required`);
    entries.push(entry);
  }
  entries.sort((a, b) => minuteOfDay(a.at) - minuteOfDay(b.at));
  return { ok: true, schedule: { timeZone: o.timeZone, glideMinutes: glide, entries } };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    // Bounded: zones come from validated schedules; a server runs a handful.
    if (formatters.size >= 256) formatters.clear();
    formatters.set(tz, f);
  }
  return f;
}

interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

/** The local wall time in `tz` at Unix ms `t`. */
export function localTime(tz: string, t: number): LocalTime {
  const p: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(new Date(t)))
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  return { year: p.year!, month: p.month!, day: p.day!, hour: p.hour!, minute: p.minute! };
}

/** The zone's offset from UTC at Unix ms `t`, in ms (local = UTC + offset). */
export function zoneOffsetMs(tz: string, t: number): number {
  const p: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(new Date(t)))
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  return asUtc - Math.floor(t / 1000) * 1000;
}

/**
 * The Unix ms at which the local date (`year`, `month`, `day`, JS-normalised) reads `minute` minutes
 * after midnight in `tz`. A time that the day skips (the spring-forward gap, e.g. 02:30 in
 * Europe/Paris on the last Sunday of March) is taken as the end of the gap (03:00), the first instant
 * after it; a time the day has twice (the fall-back hour) is its first occurrence.
 */
export function localToUtc(tz: string, year: number, month: number, day: number, minute: number): number {
  const local = Date.UTC(year, month - 1, day, 0, minute);
  // The candidates: the local time read with the offsets in force around it.
  const o1 = zoneOffsetMs(tz, local - 86_400_000 / 2);
  const o2 = zoneOffsetMs(tz, local + 86_400_000 / 2);
  const candidates = [local - Math.max(o1, o2), local - Math.min(o1, o2)];
  for (const t of candidates) if (t + zoneOffsetMs(tz, t) === local) return t;
  // In the gap: the transition lies between the two candidates; find its minute.
  let lo = Math.min(...candidates);
  let hi = Math.max(...candidates);
  const before = zoneOffsetMs(tz, lo);
  while (hi - lo > 60_000) {
    const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
    if (zoneOffsetMs(tz, mid) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

export interface NextEntry {
  index: number;
  entry: ScheduleEntry;
  /** Unix ms when it fires. */
  atMs: number;
}

/** The first entry strictly after Unix ms `now` (looking up to two local days ahead). */
export function nextEntry(s: Schedule, now: number): NextEntry {
  const today = localTime(s.timeZone, now);
  for (let d = 0; d <= 2; d++) {
    for (let i = 0; i < s.entries.length; i++) {
      const e = s.entries[i]!;
      const t = localToUtc(s.timeZone, today.year, today.month, today.day + d, minuteOfDay(e.at));
      if (t > now) return { index: i, entry: e, atMs: t };
    }
  }
  // Unreachable with at least one entry (a day is at most 25 h).
  throw new Error('schedule has no entries');
}

/** The entry in force at Unix ms `now`: the last one at or before it (yesterday's last at the start of a day). */
export function currentEntry(s: Schedule, now: number): NextEntry {
  const today = localTime(s.timeZone, now);
  let best: NextEntry | null = null;
  for (let d = -1; d <= 0; d++) {
    for (let i = 0; i < s.entries.length; i++) {
      const e = s.entries[i]!;
      const t = localToUtc(s.timeZone, today.year, today.month, today.day + d, minuteOfDay(e.at));
      if (t <= now && (best === null || t > best.atMs)) best = { index: i, entry: e, atMs: t };
    }
  }
  return best!;
}

/** ISO 8601 with the zone's offset (`2026-03-29T03:00:00+02:00`). */
export function isoWithOffset(tz: string, t: number): string {
  const off = zoneOffsetMs(tz, t);
  const local = new Date(Math.floor(t / 1000) * 1000 + off).toISOString().slice(0, 19);
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off) / 60_000;
  return `${local}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** The parameters an entry leads to from `current`: its preset's values, then its own. */
export function entryTarget(current: MusicParams, e: ScheduleEntry): MusicParams {
  return applyPatch(current, { ...(e.preset ? { preset: e.preset } : {}), ...e.params });
}

export interface GlideStep {
  /** Ms after the glide's start. */
  atMs: number;
  patch: ParamsPatch;
}

/**
 * The steps of a glide from `from` to `to` over `glideMs`: tempo and intensity move linearly, in at
 * most MAX_GLIDE_STEPS steps at least MIN_GLIDE_STEP_MS apart (the last at `glideMs`), rounded to
 * 0.1 BPM and 0.01; the preset, mode and key change once, at the glide's midpoint step (the engine
 * puts a mode or key change on a bar line). The last step is the whole target. A glide shorter than
 * two steps is one step at its end (0: everything at once).
 */
export function glideSteps(from: MusicParams, to: MusicParams, glideMs: number): GlideStep[] {
  const n = Math.max(1, Math.min(MAX_GLIDE_STEPS, Math.floor(glideMs / MIN_GLIDE_STEP_MS)));
  const mid = Math.ceil(n / 2);
  const steps: GlideStep[] = [];
  for (let k = 1; k <= n; k++) {
    const f = k / n;
    const patch: ParamsPatch = {};
    const bpm = k === n ? to.bpm : Math.round((from.bpm + (to.bpm - from.bpm) * f) * 10) / 10;
    const intensity =
      k === n ? to.intensity : Math.round((from.intensity + (to.intensity - from.intensity) * f) * 100) / 100;
    if (k === mid) {
      // From the midpoint on, the preset, mode and key are the target's; explicit tempo and
      // intensity override the preset's until the last step reaches them.
      if (to.preset !== null && to.preset !== from.preset) patch.preset = to.preset;
      if (to.mode !== from.mode || patch.preset) patch.mode = to.mode;
      if (to.key !== from.key) patch.key = to.key;
    }
    if (k === n) {
      // The last step is the whole target, so a step that was not applied leaves nothing behind.
      if (to.preset !== null) patch.preset = to.preset;
      patch.mode = to.mode;
      patch.key = to.key;
    }
    patch.bpm = bpm;
    patch.intensity = intensity;
    steps.push({ atMs: Math.round((glideMs * k) / n), patch });
  }
  return steps;
}
