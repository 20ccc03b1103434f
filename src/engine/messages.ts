import type { ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import type { RingLayout } from './ring.ts';
import type { RenderHistory } from './station-renderer.ts';

/** Messages between the main thread (EngineHost) and an engine worker. Structured-clone plain data. */

/** How the worker's SoundFont parse went (at its first sampled station): its time, or why it failed (its stations then play the built-in instruments). */
export type SoundFontReady = { parsedMs: number } | { failure: string };

/** What an engine worker is started with (its `workerData`). */
export interface EngineWorkerData {
  /**
   * The SoundFont of the sampled layer, or null. Parsed when the worker is first given a station or
   * a change that plays a sampled preset, between renders (not inside a chunk's render).
   */
  soundfont: string | null;
}

export interface AddStationMessage {
  type: 'add';
  id: string;
  seed: number;
  params: MusicParams;
  chunkFrames: number;
  /** Sequence number of the first chunk this worker renders (0 for a new station, more after a restart). */
  startSeq: number;
  /**
   * Monotonic ms (`monoNowMs`, src/engine/clock.ts) at which position 0 plays: the station clock,
   * which never changes, so it cannot drift, and never jumps with the wall clock. 0 for a new
   * station: the worker sets it once the station is built, so that building it never makes the
   * first chunks late.
   */
  startMonoMs: number;
  /**
   * Wall minus monotonic time, taken once when the station was created: a chunk's play time in
   * Unix ms (the header's `playTimeMs`) is its monotonic play time plus this. Fixed for the
   * station's life, so the stamps stay regular when the system clock is set.
   */
  wallOffsetMs: number;
  ring: SharedArrayBuffer;
  layout: RingLayout;
  /** Set the discontinuity flag on the first chunk (after a worker restart). */
  discontinuity: boolean;
  /**
   * A station another process ran (src/cluster/): the parameter changes it had applied, in order,
   * each with the position where it took effect; replayed into the score (asleep, from position 0)
   * so that the score is the one that process played. Absent: none.
   */
  history?: ParamsChange[];
  opusBitrate: number;
  opusComplexity: number;
  /** MP3 bitrate (bit/s) of the station's MP3 frames; the ring's MP3 region is sized for it. */
  mp3Bitrate: number;
  /** What to encode besides the default tier from the first chunk (the wish the host holds: after a worker restart). */
  wish: EncodeWish;
  /**
   * A personal session started at a moment (src/engine/moment.ts): the renderer replays this
   * history's score up to station position `startSeq × chunkFrames` and wakes there (warm-up as
   * for a lazy station). Only on the first add: a restarted worker starts the score again from
   * the seed, as for every station.
   */
  moment?: HistoryReply;
  /** The SoundFont of the sampled layer (the worker's, parsed as it started: EngineWorkerData), or null. */
  soundfont?: string | null;
}

/**
 * What a station's worker encodes besides the default Opus tier and PCM, which it always does:
 * MP3 (someone listens to the MP3 stream) and the other Opus tiers (a bit per tier index, set
 * while someone listens to that tier; the default tier's bit is ignored).
 */
export interface EncodeWish {
  mp3: boolean;
  tiers: number;
  /**
   * Whether anyone listens (absent: true). False: the station is idle (docs/ARCHITECTURE.md,
   * "Lazy stations"): no synthesis, no encoding, only its clock and its score go on; true again:
   * it wakes up at the chunk due then.
   */
  live?: boolean;
  /**
   * Whether a WebSocket listener subscribed to the score (`?events=1`, absent: false): the worker
   * then sends each chunk's notes as one ready WebSocket text frame (`notes` below).
   */
  events?: boolean;
}

/** A parameter change as it took effect: from `effectiveAt` (frames) on, `params`. */
export interface ParamsChange {
  effectiveAt: number;
  params: MusicParams;
}

export type ToWorker =
  | AddStationMessage
  /** Always answered with `removed` (also for a station the worker does not have), in order. */
  | { type: 'remove'; id: string }
  /** The worker applies the patch to the parameters it plays and answers with the result. */
  | { type: 'change'; id: string; requestId: number; patch: ParamsPatch }
  | { type: 'timing'; leadMs: number; renderAheadMs: number }
  /**
   * The station's render history (a moment, src/engine/moment.ts) for station position
   * `position`; answered with `history` (`history` null: no such station).
   */
  | { type: 'history'; id: string; requestId: number; position: number }
  /**
   * The notes sounding in station positions [from, to) as a Standard MIDI File; answered with
   * `score` (`midi` null: no such station).
   */
  | { type: 'score'; id: string; requestId: number; from: number; to: number; title: string }
  /**
   * What to encode from now on (the whole wish, so it is idempotent): the main thread sends it when
   * a station's first listener of MP3 or of an Opus tier joins and when its last one leaves. While
   * off, no encoder exists for it and the chunks carry no bytes of it (length 0); a tier switched on
   * is published after its warm-up (TIER_WARMUP_CHUNKS).
   */
  | { type: 'encode'; id: string; wish: EncodeWish }
  /** Test hook: make the worker throw, to exercise crash recovery. */
  | { type: 'crash' }
  /** Fault injection (`--fault-injection on` only): see EngineFault. */
  | { type: 'fault'; fault: EngineFault }
  /** Test hook: keep the worker busy for `ms` (a hung worker). */
  | { type: 'hang'; ms: number };

/**
 * Faults an engine worker can be told to inject (src/server/faults.ts, test-only switch):
 * `exit-mid-chunk` ends the thread rendering station `id` in the middle of writing that station's
 * next chunk into the ring (Opus, PCM and Ogg bytes written, not published); `encoder-throw` makes
 * the station's Opus encoder throw on its next `chunks` chunks: once each (the retry with a rebuilt
 * encoder works), or, `persistent`, on the retry too (the chunks are dropped).
 */
export type EngineFault =
  | { kind: 'exit-mid-chunk'; id: string }
  | { kind: 'encoder-throw'; id: string; chunks: number; persistent: boolean };

export interface StationStats {
  id: string;
  /** Wall seconds to render each chunk (composition + DSP) since the last report. */
  synthSeconds: number[];
  encodeOpusSeconds: number[];
  encodePcmSeconds: number[];
  /** Wall seconds to encode each chunk's MP3 frames (empty while MP3 is off). */
  encodeMp3Seconds: number[];
  /** Whether the worker encodes this station's MP3 stream now. */
  mp3: boolean;
  /** The Opus tiers the worker encodes now (a bit per tier index, the default tier's included). */
  opusTiers: number;
  /** How far ahead of its due time the newest rendered chunk is, in ms (0 while idle). */
  bufferedMs: number;
  /** False while the station is idle (renders nothing). */
  live: boolean;
  /** Wall seconds the last wake-up took (warm-up included) since the last report; -1 when none. */
  wakeSeconds: number;
  /**
   * Since the last report: times rendering stopped because the next chunk's slot was still held by
   * the main thread (a socket may still send its old bytes: ring.ts, HOLD), and seconds it waited.
   */
  ringWaits: number;
  ringWaitSeconds: number;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'soundfont'; soundfont: SoundFontReady }
  | {
      type: 'added';
      id: string;
      preSkipFrames: number;
      opusBackend: string;
      oggHeader: Uint8Array;
      startMonoMs: number;
    }
  | { type: 'changed'; id: string; requestId: number; effectiveAt: number; params: MusicParams }
  | { type: 'change-failed'; id: string; requestId: number; message: string }
  | { type: 'history'; id: string; requestId: number; reply: HistoryReply | null }
  | { type: 'score'; id: string; requestId: number; midi: Uint8Array | null }
  /**
   * The notes and releases handed out while chunk `seq` was rendered, as one WebSocket text frame
   * (`{"type":"notes",…}`, PROTOCOL.md), sent only while the wish has `events`.
   */
  | { type: 'notes'; id: string; seq: number; frame: Uint8Array }
  /** The station is gone from the worker: it no longer writes into its ring. */
  | { type: 'removed'; id: string }
  /** What sounds from `position` on (see NowReport). */
  | ({ type: 'now'; id: string } & NowReport)
  /** Once a second: per-station timings, and this worker isolate's V8 heap in use (bytes). */
  | { type: 'stats'; stations: StationStats[]; heapUsedBytes: number }
  | { type: 'failed'; id: string; message: string }
  /**
   * Chunks the worker did not publish, so the pacer skips them and flags the next one: `encode`
   * when encoding failed twice (the encoder was rebuilt in between), `late` when they were already overdue by more
   * than the pacer would still send (after the thread or the process was stopped).
   */
  | { type: 'dropped'; id: string; reason: DropReason; fromSeq: number; count: number; message: string }
  /**
   * The Opus encoder threw on chunk `seq`; `dropped`: the retry with a rebuilt encoder threw too.
   * Also sent when the MP3 encoder or another tier's Opus encoder threw (`dropped` false: the chunk
   * went out without those bytes, or with that tier re-encoded and flagged, and the encoder was rebuilt).
   */
  | { type: 'encoder-error'; id: string; seq: number; dropped: boolean; message: string };

export type DropReason = 'encode' | 'late';

/** What sounds from `position` on; `next`: the frame where the composer expects it to change, or null. */
export interface NowReport {
  position: number;
  chord: string;
  key: string;
  mode: string;
  section: string;
  next: number | null;
}

/** What reproduces a station's audio (src/engine/moment.ts): its renderer's history and clock offset. */
export interface HistoryReply {
  history: RenderHistory;
  /** Station position minus renderer position. */
  baseFrames: number;
}
