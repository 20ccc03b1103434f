// Garbage collection counts and pauses per kind, from PerformanceObserver 'gc' entries.
//
// The benchmark report reads the snapshot (the seed's "Gen-0/1/2" rows map to minor/scavenge, incremental
// marking and major/mark-sweep-compact); the server may also feed auralis_gc_pause_seconds. prom-client's own
// default GC metric reads only the first entry of each batch the observer delivers; this one counts them all.
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { GC_KINDS, type AuralisMetrics, type GcKind } from './metrics.ts';

export interface GcKindStats {
  count: number;
  totalPauseMs: number;
  maxPauseMs: number;
}

export interface GcSnapshot {
  byKind: Record<GcKind, GcKindStats>;
  count: number;
  totalPauseMs: number;
  maxPauseMs: number;
}

const KIND_BY_FLAG = new Map<number, GcKind>([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

function emptyStats(): Record<GcKind, GcKindStats> {
  return Object.fromEntries(GC_KINDS.map((k) => [k, { count: 0, totalPauseMs: 0, maxPauseMs: 0 }])) as Record<
    GcKind,
    GcKindStats
  >;
}

export interface GcObserverOptions {
  /** When given, every pause is also observed in auralis_gc_pause_seconds. */
  metrics?: Pick<AuralisMetrics, 'recordGcPause'>;
}

export class GcObserver {
  private stats = emptyStats();
  private observer: PerformanceObserver | undefined;
  private readonly metrics: GcObserverOptions['metrics'];

  constructor(opts: GcObserverOptions = {}) {
    this.metrics = opts.metrics;
  }

  get running(): boolean {
    return this.observer !== undefined;
  }

  /** Starts counting GCs from now (counts so far are kept; see reset()). Idempotent. */
  start(): void {
    if (this.observer !== undefined) return;
    const observer = new PerformanceObserver((list) => this.record(list.getEntries()));
    observer.observe({ entryTypes: ['gc'] });
    this.observer = observer;
  }

  /** Stops observing; entries already queued but not yet delivered are counted first. */
  stop(): void {
    const observer = this.observer;
    if (observer === undefined) return;
    this.observer = undefined;
    this.record(observer.takeRecords());
    observer.disconnect();
  }

  reset(): void {
    this.stats = emptyStats();
  }

  /** A copy: later GCs do not change it. */
  snapshot(): GcSnapshot {
    const byKind = emptyStats();
    let count = 0;
    let totalPauseMs = 0;
    let maxPauseMs = 0;
    for (const k of GC_KINDS) {
      const s = this.stats[k];
      byKind[k] = { ...s };
      count += s.count;
      totalPauseMs += s.totalPauseMs;
      maxPauseMs = Math.max(maxPauseMs, s.maxPauseMs);
    }
    return { byKind, count, totalPauseMs, maxPauseMs };
  }

  private record(entries: readonly PerformanceEntry[]): void {
    for (const entry of entries) {
      // @types/node 20 does not declare `detail` on PerformanceEntry; gc entries carry { kind, flags } there.
      const detail = (entry as PerformanceEntry & { detail?: { kind?: number } | null }).detail;
      const kind = detail?.kind === undefined ? undefined : KIND_BY_FLAG.get(detail.kind);
      if (kind === undefined) continue;
      const s = this.stats[kind];
      s.count++;
      s.totalPauseMs += entry.duration;
      if (entry.duration > s.maxPauseMs) s.maxPauseMs = entry.duration;
      this.metrics?.recordGcPause(kind, entry.duration / 1000);
    }
  }
}
