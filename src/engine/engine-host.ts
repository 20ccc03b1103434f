import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import { SAMPLE_RATE } from '../music/types.ts';
import type {
  AddStationMessage,
  DropReason,
  EncodeWish,
  EngineFault,
  FromWorker,
  HistoryReply,
  NowReport,
  ParamsChange,
  StationStats,
  ToWorker,
  EngineWorkerData,
} from './messages.ts';
import { monoNowMs, wallOffsetMs } from './clock.ts';
import { ChunkRing } from './ring.ts';
import { DEFAULT_MP3_BITRATE } from '../codec/mp3-encoder.ts';

export interface EngineOptions {
  /** Number of engine worker threads; stations are spread over them. */
  workers: number;
  chunkFrames: number;
  ringSlots: number;
  leadMs: number;
  renderAheadMs: number;
  opusBitrate: number;
  opusComplexity: number;
  /** MP3 bitrate in bit/s (default 128 000): sizes each ring slot's MP3 region. */
  mp3Bitrate?: number;
  /** Opus tiers (kb/s, ascending; the default tier, opusBitrate, among them); default: opusBitrate alone. */
  opusTiers?: readonly number[];
  /** Rings of removed stations kept for reuse (default 64; the server passes its station limit). */
  ringPoolSize?: number;
  /** The SoundFont of the sampled layer (each worker parses it once, as it starts), or none. */
  soundfont?: string | null;
}

/** What the main thread knows of a station the engine renders. */
export interface EngineStation {
  id: string;
  seed: number;
  ring: ChunkRing;
  /** Monotonic ms (src/engine/clock.ts) at which position 0 plays: the station clock. */
  startMonoMs: number;
  /** Wall minus monotonic ms at the station's creation: play times in Unix ms are startMonoMs + this. */
  wallOffsetMs: number;
  chunkFrames: number;
  chunkMs: number;
  /** OpusHead + OpusTags pages, sent first to every Ogg listener. */
  oggHeader: Uint8Array;
  preSkipFrames: number;
  opusBackend: string;
  params: MusicParams;
  workerIndex: number;
  /** Last bufferedMs the worker reported. */
  bufferedMs: number;
  /** What the main thread wants the worker to encode besides the default tier (someone listens to it). */
  wish: EncodeWish;
  /** Whether the worker said, in its last stats report, that it encodes this station's MP3. */
  mp3Encoding: boolean;
  /** The Opus tiers the worker said, in its last stats report, that it encodes (a bit per index). */
  opusTiersEncoding: number;
}

/**
 * The clock of a station another process started (a standby origin taking it over, src/cluster/):
 * it is rendered from the chunk due now at the same position of the same score, and that first
 * chunk carries the discontinuity flag.
 */
export interface ResumeClock {
  startMonoMs: number;
  wallOffsetMs: number;
  /** The changes the other process had applied (the station is added with the parameters it started with). */
  history?: ParamsChange[];
}

/** A station's `now` report from its worker (`next` is a forecast, or null). */
export interface NowEvent extends NowReport {
  id: string;
}

/** Chunks an engine worker did not publish (see the `dropped` worker message). */
export interface DroppedEvent {
  id: string;
  reason: DropReason;
  fromSeq: number;
  count: number;
  message: string;
}

/** The Opus encoder of a station threw (see the `encoder-error` worker message). */
export interface EncoderErrorEvent {
  id: string;
  seq: number;
  dropped: boolean;
  message: string;
}

interface WorkerSlot {
  worker: Worker;
  ready: Promise<void>;
  /** Set once the worker said `ready`: change requests are posted to it from then on. */
  isReady: boolean;
  stations: Set<string>;
  alive: boolean;
  /** The thread's exit code once it ended (a crash is 1, `process.exit(n)` n). */
  exitCode: number | null;
  /** Rings of removed stations, in the order their `remove` was posted, until the worker answers. */
  removing: { id: string; ring: ChunkRing; reusableAtMs: number }[];
}

export type EngineErrorCode = 'closed' | 'restarting' | 'unknown-station' | 'failed';

/** Why the engine refused or could not answer a request; the server maps the code to an API error. */
export class EngineError extends Error {
  readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, message: string) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
  }
}

/**
 * Where a personal session started at a moment begins (src/engine/moment.ts): the station's
 * history, its position offset, and the position (frames, on the chunk grid) of its first chunk.
 */
export interface StartMoment extends HistoryReply {
  position: number;
}

export interface ChangeResult {
  /** Station position (frames) at which the change is heard. */
  effectiveAt: number;
  /** The parameters the worker plays from then on. */
  params: MusicParams;
}

interface PendingRequest {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** A change request: replayed to a restarted worker until it is answered. */
  change?: { stationId: string; message: ToWorker; sentTo: WorkerSlot | null };
}

/**
 * The native Opus addon unloads its library when the last thread that loaded it ends; a worker
 * started after that (a restart, or the next server in the same process) then crashes with
 * SIGSEGV. Loading it once on the main thread keeps the library resident for the process.
 */
function pinNativeOpus(): void {
  try {
    createRequire(import.meta.url)('@evan/opus');
  } catch {
    // No native build here: the encoder falls back to WASM inside the worker.
  }
}

/**
 * The worker's entry: the compiled module beside this one when running the built server
 * (`npm start` runs dist/main.js, which loads dist/cli), or the TypeScript source through tsx.
 */
const WORKER_ENTRY = import.meta.url.endsWith('.ts')
  ? new URL('./worker-boot.mjs', import.meta.url)
  : new URL('./worker.js', import.meta.url);

/** A worker that cannot even start (a broken install) fails the server's start instead of hanging it. */
const WORKER_START_TIMEOUT_MS = 20_000;

/**
 * How long a station start or a parameter change may wait for its worker. A change sent while its
 * worker restarts waits for the restarted worker within this time; a worker that holds a change
 * this long without answering is considered hung and restarted.
 */
const WORKER_REPLY_TIMEOUT_MS = 5000;

/** Rings kept for reuse when no option says otherwise. */
const DEFAULT_RING_POOL_SIZE = 64;

/**
 * The main thread's handle on the engine workers: places stations on workers, forwards parameter
 * changes, restarts a crashed worker and resumes its stations where they were (same clock, next
 * sequence number, discontinuity flag set).
 *
 * Lifecycle: it owns the worker threads, every station's ring and the requests waiting for a worker.
 * A removed station's ring is reused for a later station once its worker confirmed the removal (and,
 * when listeners were still attached, one ring length later): a SharedArrayBuffer's memory is not
 * counted by V8's GC heuristics, so rings left to the GC made RSS grow with every station created.
 * close() rejects every waiting request, terminates the workers and drops the rings.
 *
 * Events: 'now' (NowEvent), 'stats' (StationStats[], workerIndex, heapUsedBytes), 'restart' (workerIndex, exit code),
 * 'worker-error' (workerIndex, Error), 'dropped' (DroppedEvent), 'encoder-error' (EncoderErrorEvent).
 */
export class EngineHost extends EventEmitter {
  readonly options: EngineOptions;
  private readonly slots: WorkerSlot[] = [];
  private readonly stations = new Map<string, EngineStation>();
  private readonly pending = new Map<string, PendingRequest>();
  /** Sessions started at a moment, until their worker answered the first `add`. */
  private readonly startMoments = new Map<string, StartMoment>();
  /** Rings no writer or reader uses, each usable from `reusableAtMs` on. */
  private readonly freeRings: { ring: ChunkRing; reusableAtMs: number }[] = [];
  private readonly ringPoolSize: number;
  private nextRequestId = 1;
  private closed = false;
  private closing: Promise<void> | null = null;
  private fastFailures = 0;
  restarts = 0;

  constructor(options: EngineOptions) {
    super();
    this.options = options;
    this.ringPoolSize = options.ringPoolSize ?? DEFAULT_RING_POOL_SIZE;
  }

  async start(): Promise<void> {
    pinNativeOpus();
    for (let i = 0; i < this.options.workers; i++) this.slots.push(this.spawn(i));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`engine workers not ready within ${WORKER_START_TIMEOUT_MS} ms`)),
        WORKER_START_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([Promise.all(this.slots.map((s) => s.ready)), timeout]);
    } catch (err) {
      await this.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private spawn(index: number): WorkerSlot {
    const worker = new Worker(WORKER_ENTRY, {
      execArgv: [],
      name: `auralis-engine-${index}`,
      // Parsed by the worker before it says ready, so that no chunk's render pays for it.
      workerData: { soundfont: this.options.soundfont ?? null } satisfies EngineWorkerData,
    });
    const spawnedMs = monoNowMs();
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const slot: WorkerSlot = {
      worker,
      ready,
      isReady: false,
      stations: new Set(),
      alive: true,
      removing: [],
      exitCode: null,
    };
    worker.on('message', (msg: FromWorker) => {
      // A replaced worker's last words are ignored: its successor answers for its stations.
      if (this.slots[index] !== slot && msg.type !== 'ready') return;
      if (msg.type === 'ready') {
        slot.isReady = true;
        markReady();
        this.flushChanges(slot);
        return;
      }
      if (msg.type === 'soundfont') {
        this.emit('soundfont', index, msg.soundfont);
        return;
      }
      this.onMessage(slot, index, msg);
    });
    worker.on('error', (err) => {
      // The 'exit' handler restarts it; the server logs why it died.
      this.emit('worker-error', index, err);
    });
    worker.on('exit', (code) => {
      slot.alive = false;
      slot.exitCode = code;
      slot.isReady = false;
      // A dead worker writes no ring any more.
      for (const r of slot.removing.splice(0)) this.recycle(r.ring, r.reusableAtMs);
      // Changes it had not answered go to its successor.
      for (const p of this.pending.values()) if (p.change?.sentTo === slot) p.change.sentTo = null;
      if (this.closed) return;
      // A worker that dies right after starting would otherwise be restarted in a tight loop:
      // back off (up to 5 s) while restarts keep failing fast.
      const fast = monoNowMs() - spawnedMs < 2000;
      this.fastFailures = fast ? this.fastFailures + 1 : 0;
      const delayMs = fast ? Math.min(5000, 100 * 2 ** Math.min(this.fastFailures, 6)) : 0;
      const t = setTimeout(() => {
        if (!this.closed) this.restart(index);
      }, delayMs);
      t.unref();
    });
    worker.postMessage({
      type: 'timing',
      leadMs: this.options.leadMs,
      renderAheadMs: this.options.renderAheadMs,
    } satisfies ToWorker);
    return slot;
  }

  private restart(index: number): void {
    const old = this.slots[index]!;
    this.restarts++;
    const slot = this.spawn(index);
    slot.stations = old.stations;
    this.slots[index] = slot;
    this.emit('restart', index, old.exitCode);
    // Resume each station at the next unpublished chunk, on the same clock, with the parameters
    // the old worker had confirmed; changes it never answered follow once the new one is ready.
    for (const id of slot.stations) {
      const st = this.stations.get(id);
      if (!st) continue;
      if (st.startMonoMs === 0) {
        // Its first start was never answered: start it afresh (that answer settles the request).
        this.post(slot, this.firstAddMessage(st));
        continue;
      }
      // Chunks that fell due while the worker was down are skipped (the pacer jumps over them and
      // the next chunk carries the discontinuity flag), so the station stays on its wall clock.
      const dueSeq = Math.floor((monoNowMs() + this.options.leadMs - st.startMonoMs) / st.chunkMs) + 1;
      this.post(slot, this.addMessage(st, Math.max(st.ring.published(), dueSeq), true));
    }
  }

  /** Posts the change requests that wait for this (ready) worker, oldest first. */
  private flushChanges(slot: WorkerSlot): void {
    for (const p of this.pending.values()) {
      const c = p.change;
      if (!c || c.sentTo !== null || !slot.stations.has(c.stationId)) continue;
      c.sentTo = slot;
      this.post(slot, c.message);
    }
  }

  private onMessage(slot: WorkerSlot, index: number, msg: FromWorker): void {
    switch (msg.type) {
      case 'added':
        this.settle(`add:${msg.id}`, null, msg);
        break;
      case 'failed':
        this.settle(`add:${msg.id}`, new EngineError('failed', msg.message), null);
        break;
      case 'changed': {
        // Only an answered request changes what the host stores: it is what the worker plays.
        const st = this.stations.get(msg.id);
        if (st && this.pending.has(`change:${msg.requestId}`)) st.params = msg.params;
        this.settle(`change:${msg.requestId}`, null, {
          effectiveAt: msg.effectiveAt,
          params: msg.params,
        } satisfies ChangeResult);
        break;
      }
      case 'notes':
        this.emit('notes', msg.id, msg.seq, msg.frame);
        break;
      case 'score':
        this.answered(msg.id, msg.requestId, msg.midi);
        break;
      case 'history':
        this.answered(msg.id, msg.requestId, msg.reply);
        break;
      case 'change-failed':
        this.settle(`change:${msg.requestId}`, new EngineError('unknown-station', msg.message), null);
        break;
      case 'removed': {
        const i = slot.removing.findIndex((r) => r.id === msg.id);
        if (i >= 0) {
          const [r] = slot.removing.splice(i, 1);
          this.recycle(r!.ring, r!.reusableAtMs);
        }
        break;
      }
      case 'now':
        this.emit('now', msg satisfies NowEvent);
        break;
      case 'encoder-error':
        this.emit('encoder-error', {
          id: msg.id,
          seq: msg.seq,
          dropped: msg.dropped,
          message: msg.message,
        } satisfies EncoderErrorEvent);
        break;
      case 'dropped':
        this.emit('dropped', {
          id: msg.id,
          reason: msg.reason,
          fromSeq: msg.fromSeq,
          count: msg.count,
          message: msg.message,
        } satisfies DroppedEvent);
        break;
      case 'stats':
        for (const s of msg.stations) {
          const st = this.stations.get(s.id);
          if (!st) continue;
          st.bufferedMs = s.bufferedMs;
          st.mp3Encoding = s.mp3;
          st.opusTiersEncoding = s.opusTiers;
        }
        this.emit('stats', msg.stations as StationStats[], index, msg.heapUsedBytes);
        break;
    }
  }

  private settle(key: string, err: Error | null, value: unknown): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
  }

  private request<T>(key: string, change?: PendingRequest['change']): Promise<T> {
    if (this.closed) return Promise.reject(new EngineError('closed', 'the engine is closed'));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => this.timedOut(key), WORKER_REPLY_TIMEOUT_MS);
      this.pending.set(key, { resolve: resolve as (v: unknown) => void, reject, timer, change });
    });
  }

  private timedOut(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    const sentTo = p.change?.sentTo;
    if (sentTo && sentTo.alive && this.slots.includes(sentTo)) {
      // A live worker that holds a change this long is hung. Restarting it resumes its stations
      // with the parameters they had, so this change, refused here, is never heard either.
      void sentTo.worker.terminate();
    }
    p.reject(
      new EngineError(
        'restarting',
        p.change
          ? `the engine worker did not take the change within ${WORKER_REPLY_TIMEOUT_MS} ms (restarting)`
          : key.startsWith('ask:')
            ? `the engine worker did not answer within ${WORKER_REPLY_TIMEOUT_MS} ms`
            : `the engine worker did not start the station within ${WORKER_REPLY_TIMEOUT_MS} ms`,
      ),
    );
  }

  private post(slot: WorkerSlot, msg: ToWorker): void {
    slot.worker.postMessage(msg);
  }

  /** A new station's first `add` (a session at a moment starts on the moment's chunk). */
  private firstAddMessage(st: EngineStation, discontinuity = false): AddStationMessage {
    const m = this.startMoments.get(st.id);
    const msg = this.addMessage(st, m ? m.position / st.chunkFrames : 0, discontinuity);
    if (m) msg.moment = { history: m.history, baseFrames: m.baseFrames };
    return msg;
  }

  private addMessage(st: EngineStation, startSeq: number, discontinuity: boolean): AddStationMessage {
    return {
      type: 'add',
      id: st.id,
      seed: st.seed,
      params: st.params,
      chunkFrames: st.chunkFrames,
      startSeq,
      startMonoMs: st.startMonoMs,
      wallOffsetMs: st.wallOffsetMs,
      ring: st.ring.sab,
      layout: st.ring.layout,
      discontinuity,
      opusBitrate: this.options.opusBitrate,
      opusComplexity: this.options.opusComplexity,
      mp3Bitrate: this.options.mp3Bitrate ?? DEFAULT_MP3_BITRATE,
      wish: { ...st.wish },
      soundfont: this.options.soundfont ?? null,
    };
  }

  /** A ring from the pool (emptied) when one is free, else a new one. */
  private takeRing(): ChunkRing {
    const now = monoNowMs();
    const i = this.freeRings.findIndex((r) => r.reusableAtMs <= now);
    if (i >= 0) {
      const [{ ring }] = this.freeRings.splice(i, 1) as [{ ring: ChunkRing; reusableAtMs: number }];
      ring.reset();
      return ring;
    }
    const defaultKbps = this.options.opusBitrate / 1000;
    return ChunkRing.create(
      this.options.ringSlots,
      this.options.chunkFrames,
      this.options.mp3Bitrate ?? DEFAULT_MP3_BITRATE,
      { kbps: this.options.opusTiers ?? [defaultKbps], defaultKbps },
    );
  }

  /** A ring no worker writes any more goes back to the pool (bounded; the rest is left to GC). */
  private recycle(ring: ChunkRing, reusableAtMs: number): void {
    if (this.closed || this.freeRings.length >= this.ringPoolSize) return;
    this.freeRings.push({ ring, reusableAtMs });
  }

  /** Rings waiting in the pool, and removed stations' rings waiting for their worker (tests, metrics). */
  ringPoolStats(): { free: number; retiring: number } {
    let retiring = 0;
    for (const s of this.slots) retiring += s.removing.length;
    return { free: this.freeRings.length, retiring };
  }

  /** Starts rendering a station; resolves once its first chunks are being rendered. */
  async addStation(
    id: string,
    seed: number,
    params: MusicParams,
    opts: { live?: boolean; resume?: ResumeClock; moment?: StartMoment } = {},
  ): Promise<EngineStation> {
    if (this.closed) throw new EngineError('closed', 'the engine is closed');
    const { chunkFrames } = this.options;
    const chunkMs = (chunkFrames * 1000) / SAMPLE_RATE;
    // Least-loaded worker.
    let index = 0;
    for (let i = 1; i < this.slots.length; i++) {
      if (this.slots[i]!.stations.size < this.slots[index]!.stations.size) index = i;
    }
    const st: EngineStation = {
      id,
      seed,
      ring: this.takeRing(),
      // Set by the worker once the station is built (see AddStationMessage.startMonoMs).
      startMonoMs: opts.resume?.startMonoMs ?? 0,
      wallOffsetMs: opts.resume?.wallOffsetMs ?? wallOffsetMs(),
      chunkFrames,
      chunkMs,
      oggHeader: new Uint8Array(0),
      preSkipFrames: 0,
      opusBackend: '',
      params: { ...params },
      workerIndex: index,
      bufferedMs: 0,
      // A resumed station starts asleep: waking it composes the score up to the chunk due now.
      wish: { mp3: false, tiers: 0, live: opts.resume ? false : opts.live !== false },
      mp3Encoding: false,
      opusTiersEncoding: 0,
    };
    this.stations.set(id, st);
    const slot = this.slots[index]!;
    slot.stations.add(id);
    const reply = this.request<{
      preSkipFrames: number;
      opusBackend: string;
      oggHeader: Uint8Array;
      startMonoMs: number;
    }>(`add:${id}`);
    if (opts.moment) this.startMoments.set(id, opts.moment);
    const add = this.firstAddMessage(st, opts.resume !== undefined);
    if (opts.resume?.history?.length) {
      add.history = opts.resume.history;
      st.params = { ...opts.resume.history[opts.resume.history.length - 1]!.params };
    }
    this.post(slot, add);
    try {
      const r = await reply;
      st.oggHeader = r.oggHeader;
      st.startMonoMs = r.startMonoMs;
      st.preSkipFrames = r.preSkipFrames;
      st.opusBackend = r.opusBackend;
      this.startMoments.delete(id);
    } catch (err) {
      this.startMoments.delete(id);
      // The worker may still build it later: remove it there too, so that nothing renders for it.
      if (this.stations.get(id) === st) this.removeStation(id, { inUse: false });
      throw err;
    }
    if (opts.resume && opts.live !== false) this.setLive(id, true);
    return st;
  }

  /**
   * Stops rendering a station. Its ring is reused once the worker confirms; `inUse`: listeners may
   * still hold views of its bytes (their sockets are closing), so it waits one ring length more.
   */
  removeStation(id: string, opts: { inUse?: boolean } = {}): void {
    const st = this.stations.get(id);
    if (!st) return;
    this.stations.delete(id);
    this.startMoments.delete(id);
    const slot = this.slots[st.workerIndex]!;
    slot.stations.delete(id);
    // Changes still waiting for this station will not be answered by anyone.
    for (const [key, p] of this.pending) {
      if (p.change?.stationId === id)
        this.settle(key, new EngineError('unknown-station', `station ${id} was removed`), null);
    }
    const ringMs = this.options.ringSlots * st.chunkMs;
    // Monotonic: a step of the wall clock must not free a ring that listeners may still read.
    const reusableAtMs = opts.inUse === false ? 0 : monoNowMs() + ringMs;
    if (slot.alive) {
      slot.removing.push({ id, ring: st.ring, reusableAtMs });
      this.post(slot, { type: 'remove', id });
    } else this.recycle(st.ring, reusableAtMs);
  }

  /**
   * Applies a validated patch to the station's parameters on its worker; resolves with the
   * parameters it plays and the position where the change is heard. A change sent while the worker
   * restarts waits for it (bounded by the reply timeout) and is then applied on top of the
   * parameters the station resumed with, so the host never stores parameters that are not playing.
   */
  async change(id: string, patch: ParamsPatch): Promise<ChangeResult> {
    const st = this.stations.get(id);
    if (!st) throw new EngineError('unknown-station', `unknown station ${id}`);
    const requestId = this.nextRequestId++;
    const message: ToWorker = { type: 'change', id, requestId, patch };
    const change: NonNullable<PendingRequest['change']> = { stationId: id, message, sentTo: null };
    const reply = this.request<ChangeResult>(`change:${requestId}`, change);
    const slot = this.slots[st.workerIndex]!;
    if (slot.alive && slot.isReady) {
      change.sentTo = slot;
      this.post(slot, message);
    }
    return reply;
  }

  /**
   * The render history that reproduces the station's audio at station position `position` (a
   * moment, src/engine/moment.ts), from its worker. Rejects (EngineError) when the worker is not
   * ready (restarting) or does not answer in time.
   */
  async history(id: string, position: number): Promise<HistoryReply> {
    return this.ask<HistoryReply>(id, (requestId) => ({ type: 'history', id, requestId, position }));
  }

  /**
   * Starts or stops the station's MP3 encoding in its worker (first MP3 listener joined / last one
   * left). A worker restarted meanwhile gets the current wish with the station. Idempotent.
   */
  setMp3(id: string, on: boolean): void {
    this.want(id, on, undefined);
  }

  /**
   * The Opus tiers besides the default that the station's listeners take (a bit per tier index):
   * the worker starts a fresh encoder for a tier switched on (published after its warm-up) and
   * frees the encoder of one switched off. A worker restarted meanwhile gets the current wish.
   */
  setOpusTiers(id: string, mask: number): void {
    this.want(id, undefined, mask);
  }

  /**
   * Whether anyone listens to the station: false makes its worker stop synthesis and encoding
   * (idle), true wakes it up at the chunk due then (docs/ARCHITECTURE.md, "Lazy stations"). A
   * worker restarted meanwhile gets the current wish with the station. Idempotent.
   */
  setLive(id: string, live: boolean): void {
    this.want(id, undefined, undefined, live);
  }

  /**
   * Whether a WebSocket listener subscribed to the station's score (`?events=1`): its worker then
   * sends each chunk's notes as a ready text frame (the 'notes' event). Idempotent.
   */
  setEvents(id: string, on: boolean): void {
    this.want(id, undefined, undefined, undefined, on);
  }

  /**
   * The notes sounding in station positions [from, to) as a Standard MIDI File, built by the
   * station's worker from the notes it handed out lately.
   */
  async scoreMidi(id: string, from: number, to: number, title: string): Promise<Uint8Array> {
    return this.ask<Uint8Array>(id, (requestId) => ({ type: 'score', id, requestId, from, to, title }));
  }

  /**
   * A question to the station's worker (`history`, `score`), answered from its message handler;
   * rejects when the worker is not ready (restarting) or does not answer in time.
   */
  private ask<T>(id: string, message: (requestId: number) => ToWorker): Promise<T> {
    const st = this.stations.get(id);
    if (!st) return Promise.reject(new EngineError('unknown-station', `unknown station ${id}`));
    const slot = this.slots[st.workerIndex]!;
    if (!slot.alive || !slot.isReady)
      return Promise.reject(new EngineError('restarting', 'the engine worker is restarting'));
    const requestId = this.nextRequestId++;
    const reply = this.request<T>(`ask:${requestId}`);
    this.post(slot, message(requestId));
    return reply;
  }

  /** The answer to `ask` (null: the worker has no such station). */
  private answered(id: string, requestId: number, value: unknown): void {
    if (value !== null) this.settle(`ask:${requestId}`, null, value);
    else this.settle(`ask:${requestId}`, new EngineError('unknown-station', `no station ${id}`), null);
  }

  /** Records what the station's worker should encode and tells it when that changed. */
  private want(
    id: string,
    mp3: boolean | undefined,
    tiers: number | undefined,
    live?: boolean,
    events?: boolean,
  ): void {
    const st = this.stations.get(id);
    if (!st) return;
    const wish: EncodeWish = {
      mp3: mp3 ?? st.wish.mp3,
      tiers: tiers ?? st.wish.tiers,
      live: live ?? st.wish.live,
      events: events ?? st.wish.events === true,
    };
    if (
      wish.mp3 === st.wish.mp3 &&
      wish.tiers === st.wish.tiers &&
      wish.live === st.wish.live &&
      wish.events === (st.wish.events === true)
    )
      return;
    st.wish = wish;
    const slot = this.slots[st.workerIndex]!;
    if (slot.alive) this.post(slot, { type: 'encode', id, wish: { ...wish } });
  }

  station(id: string): EngineStation | undefined {
    return this.stations.get(id);
  }

  /** Test hook: crash the worker that renders `id` (or worker 0). */
  crashWorker(id?: string): void {
    const index = id ? (this.stations.get(id)?.workerIndex ?? 0) : 0;
    this.post(this.slots[index]!, { type: 'crash' });
  }

  injectFault(fault: EngineFault): boolean {
    const st = this.stations.get(fault.id);
    const slot = st ? this.slots[st.workerIndex] : undefined;
    if (!slot?.alive) return false;
    this.post(slot, { type: 'fault', fault });
    return true;
  }

  /** Test hook: keep the worker that renders `id` busy for `ms` (a hung worker). */
  hangWorker(id: string, ms: number): void {
    const index = this.stations.get(id)?.workerIndex ?? 0;
    this.post(this.slots[index]!, { type: 'hang', ms });
  }

  /**
   * Rejects every request still waiting for a worker (at once, with code `closed`), terminates the
   * workers and drops the stations and rings. Idempotent; resolves when the workers have exited.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      for (const [key] of this.pending)
        this.settle(key, new EngineError('closed', 'the engine was closed'), null);
      this.stations.clear();
      this.freeRings.length = 0;
      for (const s of this.slots) s.removing.length = 0;
      await Promise.all(this.slots.map((s) => s.worker.terminate()));
    })();
    return this.closing;
  }
}
