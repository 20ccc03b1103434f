import type { EventEmitter } from 'node:events';
import type { ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import type { ChangeResult, EngineStation, ResumeClock, StartMoment } from './engine-host.ts';
import type { EngineFault, HistoryReply } from './messages.ts';

/**
 * What the server needs of an engine. Two implementations: EngineHost (worker threads rendering
 * ahead into shared rings: the `optimized` profile) and InlineEngine (the main thread renders each
 * chunk when it is due: the `baseline` profile of docs/performance/, kept to measure against).
 *
 * Events: 'now' (NowEvent), 'stats' (StationStats[]), 'restart' (index), 'worker-error' (index, Error),
 * 'dropped' (DroppedEvent), 'encoder-error' (EncoderErrorEvent).
 */
export interface Engine extends EventEmitter {
  readonly restarts: number;
  start(): Promise<void>;
  /**
   * `live: false`: the station starts idle (nobody listens yet; see setLive). `moment`: a personal
   * session that continues a moment's score from its position (not under the baseline profile,
   * which has no `history`).
   */
  addStation(
    id: string,
    seed: number,
    params: MusicParams,
    opts?: { live?: boolean; resume?: ResumeClock; moment?: StartMoment },
  ): Promise<EngineStation>;
  /** `inUse`: listeners may still hold views of the station's ring (their sockets are closing). */
  removeStation(id: string, opts?: { inUse?: boolean }): void;
  /**
   * Applies a validated patch; resolves with the parameters now playing and the position at which
   * the change is heard. Rejects with an EngineError (nothing applied) when it cannot be.
   */
  change(id: string, patch: ParamsPatch, source?: string): Promise<ChangeResult>;
  station(id: string): EngineStation | undefined;
  /**
   * Starts or stops encoding the station's MP3 stream (first MP3 listener joined / last one left).
   * The baseline profile serves no HTTP streams, so its engine never encodes MP3.
   */
  setMp3(id: string, on: boolean): void;
  /**
   * The Opus tiers besides the default that the station's listeners take (a bit per tier index):
   * the worker encodes exactly those (a tier's first listener joined / its last one left).
   */
  setOpusTiers(id: string, mask: number): void;
  /**
   * Whether anyone listens to the station: while false it does no synthesis and no encoding, true
   * again wakes it at the chunk due then. The baseline profile renders only what it sends anyway:
   * it ignores this.
   */
  setLive(id: string, live: boolean): void;
  /**
   * The render history that reproduces the station's audio at station position `position` (a
   * moment, src/engine/moment.ts). Absent under the baseline profile (no moments there).
   */
  history?(id: string, position: number): Promise<HistoryReply>;
  /**
   * Whether the station's score goes out as `notes` frames (event 'notes': id, seq, frame); the
   * baseline profile has none.
   */
  setEvents?(id: string, on: boolean): void;
  /** The notes sounding in station positions [from, to) as a Standard MIDI File (not under the baseline profile). */
  scoreMidi?(id: string, from: number, to: number, title: string): Promise<Uint8Array>;
  /** Test hook (optimized profile): crash the worker that renders `id`. */
  crashWorker(id?: string): void;
  /**
   * Fault injection (src/server/faults.ts): tells the worker rendering `fault.id` (or worker 0)
   * to inject a fault. False where the engine has no workers (baseline profile).
   */
  injectFault(fault: EngineFault): boolean;
  /** Stops everything it started and rejects what waits for it; idempotent. */
  close(): Promise<void>;
}
