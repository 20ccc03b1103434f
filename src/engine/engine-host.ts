import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { MusicParams } from '../music/types.ts';
import { SAMPLE_RATE } from '../music/types.ts';
import type {
  AddStationMessage,
  DropReason,
  EngineFault,
  FromWorker,
  StationStats,
  ToWorker,
} from './messages.ts';
import { monoNowMs, wallOffsetMs } from './clock.ts';
import { ChunkRing } from './ring.ts';

export interface EngineOptions {
  /** Number of engine worker threads; stations are spread over them. */
  workers: number;
  chunkFrames: number;
  ringSlots: number;
  leadMs: number;
  renderAheadMs: number;
  opusBitrate: number;
  opusComplexity: number;
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
}

export interface NowEvent {
  id: string;
  position: number;
  chord: string;
  key: string;
  mode: string;
  section: string;
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
  stations: Set<string>;
  alive: boolean;
  /** The thread's exit code once it ended (a crash is 1, `process.exit(n)` n). */
  exitCode: number | null;
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
 * The worker's entry: next to the bundle when running the built server (`npm start` runs
 * dist/main.js, with dist/worker.js beside it), or the TypeScript source through tsx.
 */
const WORKER_ENTRY = import.meta.url.endsWith('.ts')
  ? new URL('./worker-boot.mjs', import.meta.url)
  : new URL('./worker.js', import.meta.url);

/** A worker that cannot even start (a broken install) fails the server's start instead of hanging it. */
const WORKER_START_TIMEOUT_MS = 20_000;

/** How long a station start or a parameter change may wait for its worker. */
const WORKER_REPLY_TIMEOUT_MS = 5000;

/**
 * The main thread's handle on the engine workers: places stations on workers, forwards parameter
 * changes, restarts a crashed worker and resumes its stations where they were (same clock, next
 * sequence number, discontinuity flag set).
 *
 * Events: 'now' (NowEvent), 'stats' (StationStats[], workerIndex, heapUsedBytes), 'restart' (workerIndex, exit code),
 * 'worker-error' (workerIndex, Error), 'dropped' (DroppedEvent), 'encoder-error' (EncoderErrorEvent).
 */
export class EngineHost extends EventEmitter {
  readonly options: EngineOptions;
  private readonly slots: WorkerSlot[] = [];
  private readonly stations = new Map<string, EngineStation>();
  private readonly pending = new Map<
    string,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private nextRequestId = 1;
  private closed = false;
  private fastFailures = 0;
  restarts = 0;

  constructor(options: EngineOptions) {
    super();
    this.options = options;
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
    });
    const spawnedMs = monoNowMs();
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const slot: WorkerSlot = { worker, ready, stations: new Set(), alive: true, exitCode: null };
    worker.on('message', (msg: FromWorker) => this.onMessage(index, msg, markReady));
    worker.on('error', (err) => {
      // The 'exit' handler restarts it; the server logs why it died.
      this.emit('worker-error', index, err);
    });
    worker.on('exit', (code) => {
      slot.alive = false;
      slot.exitCode = code;
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
    // Resume each station at the next unpublished chunk, on the same clock.
    for (const id of slot.stations) {
      const st = this.stations.get(id);
      if (!st) continue;
      // Chunks that fell due while the worker was down are skipped (the pacer jumps over them and
      // the next chunk carries the discontinuity flag), so the station stays on its wall clock.
      const dueSeq = Math.floor((monoNowMs() + this.options.leadMs - st.startMonoMs) / st.chunkMs) + 1;
      this.post(slot, this.addMessage(st, Math.max(st.ring.published(), dueSeq), true));
    }
  }

  private onMessage(index: number, msg: FromWorker, markReady: () => void): void {
    switch (msg.type) {
      case 'ready':
        markReady();
        break;
      case 'added':
        this.settle(`add:${msg.id}`, null, msg);
        break;
      case 'failed':
        this.settle(`add:${msg.id}`, new Error(msg.message), null);
        break;
      case 'changed':
        this.settle(`change:${msg.requestId}`, null, msg.effectiveAt);
        break;
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
          if (st) st.bufferedMs = s.bufferedMs;
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

  private request<T>(key: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new Error(`engine worker did not answer ${key} in ${WORKER_REPLY_TIMEOUT_MS} ms`));
      }, WORKER_REPLY_TIMEOUT_MS);
      this.pending.set(key, { resolve: resolve as (v: unknown) => void, reject, timer });
    });
  }

  private post(slot: WorkerSlot, msg: ToWorker): void {
    slot.worker.postMessage(msg);
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
    };
  }

  /** Starts rendering a station; resolves once its first chunks are being rendered. */
  async addStation(id: string, seed: number, params: MusicParams): Promise<EngineStation> {
    const { chunkFrames, ringSlots } = this.options;
    const chunkMs = (chunkFrames * 1000) / SAMPLE_RATE;
    // Least-loaded worker.
    let index = 0;
    for (let i = 1; i < this.slots.length; i++) {
      if (this.slots[i]!.stations.size < this.slots[index]!.stations.size) index = i;
    }
    const st: EngineStation = {
      id,
      seed,
      ring: ChunkRing.create(ringSlots, chunkFrames),
      // Set by the worker once the station is built (see AddStationMessage.startMonoMs).
      startMonoMs: 0,
      wallOffsetMs: wallOffsetMs(),
      chunkFrames,
      chunkMs,
      oggHeader: new Uint8Array(0),
      preSkipFrames: 0,
      opusBackend: '',
      params: { ...params },
      workerIndex: index,
      bufferedMs: 0,
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
    this.post(slot, this.addMessage(st, 0, false));
    try {
      const r = await reply;
      st.oggHeader = r.oggHeader;
      st.startMonoMs = r.startMonoMs;
      st.preSkipFrames = r.preSkipFrames;
      st.opusBackend = r.opusBackend;
    } catch (err) {
      this.stations.delete(id);
      slot.stations.delete(id);
      throw err;
    }
    return st;
  }

  removeStation(id: string): void {
    const st = this.stations.get(id);
    if (!st) return;
    this.stations.delete(id);
    const slot = this.slots[st.workerIndex]!;
    slot.stations.delete(id);
    this.post(slot, { type: 'remove', id });
  }

  /** Sends validated parameters to the station's worker; resolves with the effective position. */
  async change(id: string, params: MusicParams): Promise<number> {
    const st = this.stations.get(id);
    if (!st) throw new Error(`unknown station ${id}`);
    st.params = { ...params };
    const requestId = this.nextRequestId++;
    const reply = this.request<number>(`change:${requestId}`);
    this.post(this.slots[st.workerIndex]!, { type: 'change', id, requestId, params });
    return reply;
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

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
