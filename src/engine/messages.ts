import type { ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import type { RingLayout } from './ring.ts';

/** Messages between the main thread (EngineHost) and an engine worker. Structured-clone plain data. */

export interface AddStationMessage {
  type: 'add';
  id: string;
  seed: number;
  params: MusicParams;
  chunkFrames: number;
  /** Sequence number of the first chunk this worker renders (0 for a new station, more after a restart). */
  startSeq: number;
  /**
   * Unix ms at which position 0 plays (the station clock; never changes, so it cannot drift).
   * 0 for a new station: the worker sets it once the station is built, so that building it
   * never makes the first chunks late.
   */
  startTimeMs: number;
  ring: SharedArrayBuffer;
  layout: RingLayout;
  /** Set the discontinuity flag on the first chunk (after a worker restart). */
  discontinuity: boolean;
  opusBitrate: number;
  opusComplexity: number;
}

export type ToWorker =
  | AddStationMessage
  /** Always answered with `removed` (also for a station the worker does not have), in order. */
  | { type: 'remove'; id: string }
  /** The worker applies the patch to the parameters it plays and answers with the result. */
  | { type: 'change'; id: string; requestId: number; patch: ParamsPatch }
  | { type: 'timing'; leadMs: number; renderAheadMs: number }
  /** Test hook: make the worker throw, to exercise crash recovery. */
  | { type: 'crash' }
  /** Test hook: keep the worker busy for `ms` (a hung worker). */
  | { type: 'hang'; ms: number };

export interface StationStats {
  id: string;
  /** Wall seconds to render each chunk (composition + DSP) since the last report. */
  synthSeconds: number[];
  encodeOpusSeconds: number[];
  encodePcmSeconds: number[];
  /** How far ahead of its due time the newest rendered chunk is, in ms. */
  bufferedMs: number;
}

export type FromWorker =
  | { type: 'ready' }
  | {
      type: 'added';
      id: string;
      preSkipFrames: number;
      opusBackend: string;
      oggHeader: Uint8Array;
      startTimeMs: number;
    }
  | { type: 'changed'; id: string; requestId: number; effectiveAt: number; params: MusicParams }
  | { type: 'change-failed'; id: string; requestId: number; message: string }
  /** The station is gone from the worker: it no longer writes into its ring. */
  | { type: 'removed'; id: string }
  | { type: 'now'; id: string; position: number; chord: string; key: string; mode: string; section: string }
  /** Once a second: per-station timings, and this worker isolate's V8 heap in use (bytes). */
  | { type: 'stats'; stations: StationStats[]; heapUsedBytes: number }
  | { type: 'failed'; id: string; message: string };
