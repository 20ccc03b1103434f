// Summaries, improvements and number formatting shared by the benchmark report.
import { percentile } from '../../src/metrics/percentile.ts';

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  avg: number;
}

/** Nearest-rank percentiles, max and mean of a sample set. */
export function summarize(values: ArrayLike<number>): Summary {
  const n = values.length;
  let sum = 0;
  let max = Number.NaN;
  for (let i = 0; i < n; i++) {
    sum += values[i]!;
    if (!(values[i]! <= max)) max = values[i]!;
  }
  return {
    n,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max,
    avg: n > 0 ? sum / n : Number.NaN,
  };
}

/** Fixed decimals; NaN/undefined become 'n/a'. */
export function fmt(v: number | null | undefined, decimals: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  const s = v.toFixed(decimals);
  return s === `-${(0).toFixed(decimals)}` ? (0).toFixed(decimals) : s;
}

/**
 * Improvement in percent, (baseline − optimized) / baseline, computed from the values as printed (so a
 * reader can check it from the table). Answers a string: the percentage with one decimal, or 'n/a (…)'.
 */
export function improvement(baselineShown: string, optimizedShown: string): string {
  const b = Number(baselineShown);
  const o = Number(optimizedShown);
  if (!Number.isFinite(b) || !Number.isFinite(o)) return 'n/a';
  if (b === 0) return o === 0 ? '0.0%' : 'n/a (baseline 0)';
  if (b < 0) return 'n/a (baseline < 0)';
  return `${fmt(((b - o) / b) * 100, 1)}%`;
}

/** Parses an improvement cell back; null when it is not a number. */
export function parseImprovement(cell: string): number | null {
  const m = /^(-?\d+(?:\.\d+)?)%$/.exec(cell.trim());
  return m ? Number(m[1]) : null;
}
