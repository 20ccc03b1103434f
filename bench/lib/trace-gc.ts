// Counts GC pauses per kind from V8's --trace-gc lines, which cover every isolate of a process (the
// main thread and the engine's worker threads alike), unlike a PerformanceObserver on the main thread.
//
// A line looks like:
// [pid:0x5581…]  1234 ms: Scavenge 4.1 (5.2) -> 3.2 (6.2) MB, 0.52 / 0.00 ms  (average mu = …) allocation failure;
// [pid:0x5581…]  5678 ms: Mark-Compact 9.9 (12.0) -> 7.1 (12.3) MB, 3.10 / 0.00 ms  (+ 1.2 ms in 14 steps since start of marking, …

export interface TraceGcKind {
  count: number;
  totalPauseMs: number;
  maxPauseMs: number;
}

export interface TraceGcTotals {
  /** Scavenge / minor mark-compact: the young generation (the seed's Gen-0). */
  minor: TraceGcKind;
  /** Incremental marking steps before a mark-compact (the seed's Gen-1, by our mapping). */
  incremental: TraceGcKind;
  /** Mark-compact / mark-sweep of the whole heap (the seed's Gen-2). */
  major: TraceGcKind;
  /** Distinct isolates seen (main thread + workers that collected at least once). */
  isolates: number;
}

const LINE =
  /^\[\d+:(0x[0-9a-f]+)\]\s+\d+ ms: (.+?) [\d.]+ \([\d.]+\) -> [\d.]+ \([\d.]+\) MB, ([\d.]+) \/ [\d.]+ ms(.*)$/;
const STEPS = /\(\+ ([\d.]+) ms in (\d+) steps/;

export class TraceGcCounter {
  private totals: TraceGcTotals = TraceGcCounter.empty();
  private readonly isolates = new Set<string>();
  /** While false, lines are parsed but not counted (warm-up). */
  counting = true;

  static empty(): TraceGcTotals {
    const k = (): TraceGcKind => ({ count: 0, totalPauseMs: 0, maxPauseMs: 0 });
    return { minor: k(), incremental: k(), major: k(), isolates: 0 };
  }

  /** Feeds one output line; answers true when it was a GC trace line (not program output). */
  line(l: string): boolean {
    const m = LINE.exec(l);
    if (!m) return false;
    if (!this.counting) return true;
    this.isolates.add(m[1]!);
    const kind = m[2]!;
    const pause = Number(m[3]);
    const add = (k: TraceGcKind, ms: number, n = 1): void => {
      k.count += n;
      k.totalPauseMs += ms;
      k.maxPauseMs = Math.max(k.maxPauseMs, n > 0 ? ms / n : 0);
    };
    if (/Scavenge|Minor/i.test(kind)) add(this.totals.minor, pause);
    else {
      add(this.totals.major, pause);
      const s = STEPS.exec(m[4]!);
      if (s && Number(s[2]) > 0) add(this.totals.incremental, Number(s[1]), Number(s[2]));
    }
    return true;
  }

  snapshot(): TraceGcTotals {
    return {
      minor: { ...this.totals.minor },
      incremental: { ...this.totals.incremental },
      major: { ...this.totals.major },
      isolates: this.isolates.size,
    };
  }
}
