// The comparison tables of the report, built from the raw results: every numeric cell records the
// result path it was printed from (and a scale), so a test can check the markdown against the JSON.
import type { BenchResults } from './results.ts';
import { fmt, improvement } from './stats.ts';

export interface NumericCell {
  /** Dotted path into BenchResults. */
  path: string;
  /** Printed value = value at path × scale. */
  scale: number;
  decimals: number;
}

export interface TableRow {
  label: string;
  baseline: string;
  optimized: string;
  improvement: string;
  target: string;
  /** Present when baseline/optimized are numbers printed from the results. */
  baselineSource?: NumericCell;
  optimizedSource?: NumericCell;
  unit: string;
}

export interface ComparisonTable {
  id: string;
  title: string;
  rows: TableRow[];
}

export function valueAt(results: unknown, path: string): number {
  let v: unknown = results;
  for (const k of path.split('.')) v = (v as Record<string, unknown> | undefined)?.[k];
  return typeof v === 'number' ? v : Number.NaN;
}

/** A row of two numbers from the results, with the improvement computed from the printed values. */
function numRow(
  r: BenchResults,
  label: string,
  basePath: string,
  optPath: string,
  unit: string,
  decimals: number,
  target: string,
  scale = 1,
): TableRow {
  const b = fmt(valueAt(r, basePath) * scale, decimals);
  const o = fmt(valueAt(r, optPath) * scale, decimals);
  return {
    label,
    baseline: b,
    optimized: o,
    improvement: improvement(b, o),
    target,
    unit,
    baselineSource: { path: basePath, scale, decimals },
    optimizedSource: { path: optPath, scale, decimals },
  };
}

function both(
  r: BenchResults,
  label: string,
  sub: string,
  unit: string,
  decimals: number,
  target: string,
  scale = 1,
): TableRow {
  const [root, rest] = sub.split(':') as [string, string];
  return numRow(
    r,
    label,
    `${root}.baseline.${rest}`,
    `${root}.optimized.${rest}`,
    unit,
    decimals,
    target,
    scale,
  );
}

/** Growth over 8 h (MB) from a slope in MB per hour. */
const EIGHT_HOURS = 8;

export function leakVerdict(r: BenchResults, profile: 'baseline' | 'optimized'): 'yes' | 'no' {
  const s = r.soak[profile];
  const rss8h = s.rssGrowthMbPerAudioHour * EIGHT_HOURS;
  const heap8h = (s.settledHeapGrowthMbPerAudioHour ?? s.heapGrowthMbPerAudioHour) * EIGHT_HOURS;
  return rss8h >= 10 || heap8h >= 10 ? 'yes' : 'no';
}

export function soakSpeedX(r: BenchResults): number {
  return Math.min(r.soak.baseline.speedX, r.soak.optimized.speedX);
}

export function gpuNotApplicable(r: BenchResults): string {
  return `not applicable: no GPU backend (CPU DSP, measured ${fmt(r.soak.optimized.synthesisRealtimeFactor, 0)}× real time per core)`;
}

export function buildTables(r: BenchResults): ComparisonTable[] {
  const soakHours = r.settings.soakAudioSeconds / 3600;
  const soakLabel = `${fmt(soakHours, soakHours >= 1 ? 0 : 2)} h of audio, accelerated (${fmt(soakSpeedX(r), 0)}× real time)`;
  const streamMin = fmt(r.settings.streamSeconds / 60, r.settings.streamSeconds >= 600 ? 0 : 1);
  return [
    {
      id: 'delivery',
      title: 'Delivery at the listener',
      rows: [
        both(r, '**Lateness P50**', 'stream:lateness.p50', 'ms', 2, '-'),
        both(r, '**Lateness P95**', 'stream:lateness.p95', 'ms', 2, '-'),
        both(r, '**Lateness P99**', 'stream:lateness.p99', 'ms', 2, '≤ 5 ms (goal)'),
        both(r, '**Lateness Max**', 'stream:lateness.max', 'ms', 2, '-'),
        numRow(
          r,
          '**Chunks later than 50 ms**',
          'derived.lateOver50Percent.baseline',
          'derived.lateOver50Percent.optimized',
          '%',
          3,
          '<1% (SC-001)',
        ),
        both(r, '**Jitter P95**', 'stream:jitter.p95', 'ms', 2, '<20ms (goal ≤ 2 ms)'),
        both(r, '**Jitter P99**', 'stream:jitter.p99', 'ms', 2, '-'),
      ],
    },
    {
      id: 'synthesis',
      title: 'Synthesis Latency',
      rows: [
        both(r, '**P50 latency**', 'stream:synthesisMs.p50', 'ms', 2, '-'),
        both(r, '**P95 latency**', 'stream:synthesisMs.p95', 'ms', 2, '<20ms'),
        both(r, '**P99 latency**', 'stream:synthesisMs.p99', 'ms', 2, '<50ms'),
        both(r, '**Max latency** (bucket bound)', 'stream:synthesisMs.maxBucketBound', 'ms', 2, '-'),
        both(r, '**Avg latency**', 'stream:synthesisMs.avg', 'ms', 3, '<100ms'),
      ],
    },
    {
      id: 'synthesis-precise',
      title: 'Synthesis Latency, precise (per chunk, in-process, accelerated soak)',
      rows: [
        both(r, '**P50 latency**', 'soak:synthesisMs.p50', 'ms', 3, '-'),
        both(r, '**P95 latency**', 'soak:synthesisMs.p95', 'ms', 3, '<20ms'),
        both(r, '**P99 latency**', 'soak:synthesisMs.p99', 'ms', 3, '<50ms'),
        both(r, '**Max latency**', 'soak:synthesisMs.max', 'ms', 2, '-'),
        both(r, '**Avg latency**', 'soak:synthesisMs.avg', 'ms', 3, '<100ms'),
        both(r, '**Avg encode (Opus + PCM16 + Ogg)**', 'soak:encodeMs.avg', 'ms', 3, '-'),
      ],
    },
    {
      id: 'cpu',
      title: 'CPU Utilization',
      rows: [
        both(r, '**Avg CPU %**', 'stream:cpuPercent.mean', '%', 2, '30% reduction (goal 50%)'),
        both(r, '**P95 CPU %**', 'stream:cpuPercent.p95', '%', 1, '<80%'),
        both(r, '**Max CPU %**', 'stream:cpuPercent.max', '%', 1, '-'),
      ],
    },
    {
      id: 'memory',
      title: 'Memory Usage',
      rows: [
        both(r, '**Initial RSS**', 'stream:memory.initialRssMb', 'MB', 1, '-'),
        both(r, `**Final RSS (${streamMin} min)**`, 'stream:memory.finalRssMb', 'MB', 1, '-'),
        both(
          r,
          `**Growth rate** (RSS, ${streamMin} min streaming)`,
          'stream:memory.rssGrowthMbPerHour',
          'MB/hr',
          2,
          '<10 MB/hr',
        ),
        both(
          r,
          `**Heap growth rate** (main thread, ${streamMin} min streaming)`,
          'stream:memory.heapGrowthMbPerHour',
          'MB/hr',
          2,
          '<1 MB/hr (goal)',
        ),
        both(
          r,
          `**Growth rate, RSS** (${soakLabel})`,
          'soak:rssGrowthMbPerAudioHour',
          'MB/hr',
          3,
          '<1 MB/hr (goal)',
        ),
        both(
          r,
          `**Growth rate, settled heap** (${soakLabel})`,
          'soak:settledHeapGrowthMbPerAudioHour',
          'MB/hr',
          3,
          '<1 MB/hr (goal)',
        ),
        both(
          r,
          `**Growth over 8 h of audio** (RSS fit × 8 h)`,
          'soak:rssGrowthMbPerAudioHour',
          'MB',
          2,
          '<10 MB',
          EIGHT_HOURS,
        ),
        {
          label: '**Memory leaked?**',
          baseline: leakVerdict(r, 'baseline'),
          optimized: leakVerdict(r, 'optimized'),
          improvement: '-',
          target: 'No',
          unit: '',
        },
      ],
    },
    {
      id: 'gpu',
      title: 'GPU Memory (CUDA/Metal)',
      rows: ['**Allocated MB**', '**Reserved MB (CUDA)**', '**Cache clears**'].map((label) => ({
        label,
        baseline: gpuNotApplicable(r),
        optimized: gpuNotApplicable(r),
        improvement: 'not applicable',
        target: '-',
        unit: '',
      })),
    },
    {
      id: 'gc',
      title: 'Garbage Collection',
      rows: [
        both(r, '**Gen-0 collections** (minor: scavenge)', 'stream:gc.minor.count', '', 0, 'Fewer'),
        both(
          r,
          '**Gen-1 collections** (incremental marking steps)',
          'stream:gc.incremental.count',
          '',
          0,
          'Fewer',
        ),
        both(r, '**Gen-2 collections** (major: mark-compact)', 'stream:gc.major.count', '', 0, 'Minimize'),
        both(r, '**Gen-0 pause total**', 'stream:gc.minor.totalPauseMs', 'ms', 1, 'Reduce'),
        both(r, '**Gen-2 pause total**', 'stream:gc.major.totalPauseMs', 'ms', 1, 'Reduce'),
        numRow(
          r,
          '**GC time total**',
          'derived.gcTotalMs.baseline',
          'derived.gcTotalMs.optimized',
          'ms',
          1,
          'Reduce',
        ),
      ],
    },
    {
      id: 'gc-soak',
      title: `Garbage Collection, synthesis + encoding path (${soakLabel}, one thread)`,
      rows: [
        both(r, '**Gen-0 collections** (minor: scavenge)', 'soak:gc.minor.count', '', 0, 'Fewer'),
        both(r, '**Gen-1 collections** (incremental marking)', 'soak:gc.incremental.count', '', 0, 'Fewer'),
        both(
          r,
          '**Gen-2 collections** (major: mark-sweep-compact)',
          'soak:gc.major.count',
          '',
          0,
          'Minimize',
        ),
        numRow(
          r,
          '**GC time total**',
          'derived.soakGcTotalMs.baseline',
          'derived.soakGcTotalMs.optimized',
          'ms',
          1,
          'Reduce',
        ),
      ],
    },
  ];
}

/** Values the tables print that are sums of several results; stored in the JSON under `derived`. */
export function derive(r: Omit<BenchResults, 'derived'>): BenchResults['derived'] {
  const streamTotal = (p: 'baseline' | 'optimized'): number => {
    const g = r.stream[p].gc;
    return g.minor.totalPauseMs + g.incremental.totalPauseMs + g.major.totalPauseMs;
  };
  const soakTotal = (p: 'baseline' | 'optimized'): number => {
    const g = r.soak[p].gc;
    return g.minor.totalPauseMs + g.incremental.totalPauseMs + g.major.totalPauseMs + g.weakcb.totalPauseMs;
  };
  return {
    lateOver50Percent: {
      baseline: 100 - r.stream.baseline.lateness.within50MsPercent,
      optimized: 100 - r.stream.optimized.lateness.within50MsPercent,
    },
    gcTotalMs: { baseline: streamTotal('baseline'), optimized: streamTotal('optimized') },
    soakGcTotalMs: { baseline: soakTotal('baseline'), optimized: soakTotal('optimized') },
  };
}
