import type { PlayoutStats } from './playout-buffer.ts';

/** The name the worklet registers under. */
export const PLAYOUT_PROCESSOR = 'auralis-playout';

/** Main thread → worklet. Audio arrays are transferred, not copied. */
export type ToWorklet =
  | { type: 'audio'; positionFrames: number; left: Float32Array; right: Float32Array; discontinuity: boolean }
  | { type: 'newStream'; chunkMs: number }
  | { type: 'jitter'; jitterMs: number; maxLatenessMs: number }
  | { type: 'fade'; gain: number; ms: number }
  | { type: 'clear' }
  | { type: 'poll'; id: number };

/** Worklet → main thread: the answer to a poll. */
export type FromWorklet = { type: 'stats'; id: number; stats: PlayoutStats };

export interface PlayoutProcessorOptions {
  streamSampleRate: number;
  chunkMs: number;
}
