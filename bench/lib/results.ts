// The raw results of one report run (written as baseline-comparison.json) and the run's settings.
import type { ListenerBenchRow } from '../listeners.ts';
import type { SoakResult } from '../memory-soak.ts';
import type { MachineInfo } from './machine.ts';
import type { IdleStage, RenderStage, SynthStage } from './extra-stages.ts';
import type { StreamRunResult } from './stream-run.ts';

export interface RunSettings {
  mode: 'full' | 'quick';
  /** Measured streaming seconds per profile, after the warm-up. */
  streamSeconds: number;
  warmupSeconds: number;
  /** Audio seconds of the accelerated memory soak, per profile. */
  soakAudioSeconds: number;
  listenerCounts: number[];
  listenerSeconds: number;
  /** Young-generation comparison: measured seconds per setting, listeners, semi-space sizes (MB; 0 = V8 default). */
  semiSeconds: number;
  semiListeners: number;
  semiSizesMb: number[];
  /** Seconds of audio per preset in the synthesis stage (0 skips it). */
  synthSeconds?: number;
  /** Seconds of audio in the whole-process render (0 skips it). */
  renderSeconds?: number;
  /** Seconds per phase of the idle-station stage, and its station count (0 skips it). */
  idleSeconds?: number;
  idleStations?: number;
  /** Seconds of the ten-listener CPU comparison (both profiles; 0 skips it). */
  tenListenerSeconds?: number;
}

export interface SemiSpaceRow {
  semiSpaceMb: number;
  nodeFlags: string[];
  run: StreamRunResult;
}

export interface BenchResults {
  schema: 1;
  command: string;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  gitCommit: string;
  machine: MachineInfo;
  settings: RunSettings;
  semiSpace: { rows: SemiSpaceRow[]; chosenMb: number; chosenFlags: string[]; rule: string };
  soak: { baseline: SoakResult; optimized: SoakResult };
  stream: { baseline: StreamRunResult; optimized: StreamRunResult };
  /** True when the two streaming runs ran at the same time, each server pinned to its own CPU. */
  streamsConcurrent?: boolean;
  synthesis?: SynthStage;
  render?: RenderStage;
  idle?: IdleStage;
  /** Both profiles with ten listeners (the seed's listener target) on the bench station. */
  tenListeners?: { baseline: StreamRunResult; optimized: StreamRunResult };
  listenerScale: { rows: ListenerBenchRow[]; nodeOptions: string; errors: string[] };
  /** The machine's 1-minute load average during the run, when an external monitor recorded it. */
  machineLoad?: {
    source: string;
    samples: { time: string; load1: number }[];
    /** Stage start times from the run's progress log. */
    stages?: { time: string; stage: string }[];
  };
  derived: {
    lateOver50Percent: { baseline: number; optimized: number };
    gcTotalMs: { baseline: number; optimized: number };
    soakGcTotalMs: { baseline: number; optimized: number };
  };
}
