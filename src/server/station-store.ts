import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { validatePatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import { validateSchedule, type Schedule } from '../music/schedule.ts';

/** One shared station as it is kept across restarts. */
export interface StoredStation {
  id: string;
  seed: number;
  params: MusicParams;
  /** Its schedule, if it has one (the default station is kept for this alone). */
  schedule?: Schedule;
}

/** The file's shape: a version, so a later format can read (or refuse) an older one. */
interface StoreFile {
  version: 1;
  stations: StoredStation[];
}

interface StoreLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * The stations created through the API, kept in one small JSON file (`--state-file`) so they
 * survive a restart: id, seed and current parameters. Written atomically (a temporary file in the
 * same folder, flushed to disk, then renamed over the old one), so a crash or a full disk never
 * leaves a half-written file; writes are coalesced (at most one in flight and one waiting). A file
 * that cannot be parsed is moved aside (`.corrupt-<time>`) with a warning, and the server starts
 * without it rather than refusing to start.
 */
export class StationStore {
  readonly path: string;
  private readonly log: StoreLog;
  private writing: Promise<void> | null = null;
  /** The snapshot to write after the one in flight (only the newest is kept). */
  private next: StoredStation[] | null = null;
  private closed = false;

  constructor(path: string, log: StoreLog) {
    this.path = path;
    this.log = log;
  }

  /** Reads the stored stations at start-up (synchronously: before the server listens). */
  load(): StoredStation[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      this.log.warn(
        { path: this.path, code: (err as NodeJS.ErrnoException).code },
        'station store cannot be read; starting without it',
      );
      return [];
    }
    let file: unknown;
    try {
      file = JSON.parse(text);
    } catch {
      return this.setAside('not valid JSON');
    }
    const f = file as Partial<StoreFile> | null;
    if (typeof f !== 'object' || f === null || f.version !== 1 || !Array.isArray(f.stations)) {
      return this.setAside('not a version 1 station store');
    }
    const out: StoredStation[] = [];
    for (const s of f.stations as unknown[]) {
      const entry = checkEntry(s);
      if (typeof entry === 'string')
        this.log.warn({ path: this.path }, `station store: entry skipped: ${entry}`);
      else out.push(entry);
    }
    return out;
  }

  /** Schedules writing `stations` (the whole set); returns when it (or a newer snapshot) is on disk. */
  save(stations: StoredStation[]): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.writing) {
      this.next = stations;
      return this.writing;
    }
    this.writing = this.writeLoop(stations);
    return this.writing;
  }

  /** Waits for the pending write; later saves are ignored. */
  async close(): Promise<void> {
    const pending = this.writing;
    this.closed = true;
    await pending;
  }

  private async writeLoop(first: StoredStation[]): Promise<void> {
    let stations: StoredStation[] | null = first;
    try {
      while (stations !== null) {
        await this.writeFile(stations);
        stations = this.next;
        this.next = null;
      }
    } finally {
      this.writing = null;
    }
  }

  private async writeFile(stations: StoredStation[]): Promise<void> {
    const body: StoreFile = { version: 1, stations };
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      await mkdir(dirname(this.path), { recursive: true });
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(body, null, 2)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      // The stations go on playing; only their survival of a restart is at risk. Said once per failure.
      this.log.warn(
        { path: this.path, code: (err as NodeJS.ErrnoException).code },
        'station store could not be written; created stations will not survive a restart until it can',
      );
    }
  }

  private setAside(why: string): StoredStation[] {
    const aside = `${this.path}.corrupt-${Date.now()}`;
    try {
      mkdirSync(dirname(aside), { recursive: true });
      renameSync(this.path, aside);
    } catch {
      // Leave it where it is; it is ignored either way.
    }
    this.log.warn(
      { path: this.path, movedTo: aside },
      `station store is ${why}; moved aside, starting without it`,
    );
    return [];
  }
}

/** A stored entry checked with the same rules as the API, or why it is refused. */
function checkEntry(s: unknown): StoredStation | string {
  if (typeof s !== 'object' || s === null) return 'not an object';
  const e = s as Record<string, unknown>;
  if (typeof e.id !== 'string') return 'no id';
  const p = (typeof e.params === 'object' && e.params !== null ? e.params : {}) as Record<string, unknown>;
  const v = validatePatch({ ...pick(p), seed: e.seed }, { allowSeed: true });
  if (!v.ok) return `${e.id}: ${v.message}`;
  const { key, mode, bpm, intensity, seed } = v.patch;
  if (
    key === undefined ||
    mode === undefined ||
    bpm === undefined ||
    intensity === undefined ||
    seed === undefined
  ) {
    return `${e.id}: key, mode, bpm, intensity and seed are required`;
  }
  const out: StoredStation = {
    id: e.id,
    seed,
    params: { key, mode, bpm, intensity, preset: v.patch.preset ?? null },
  };
  if (e.schedule !== undefined) {
    const s = validateSchedule(e.schedule);
    if (!s.ok) return `${e.id}: schedule: ${s.message}`;
    out.schedule = s.schedule;
  }
  return out;
}

function pick(p: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['key', 'mode', 'bpm', 'intensity', 'preset'])
    if (p[k] !== undefined && p[k] !== null) out[k] = p[k];
  return out;
}
