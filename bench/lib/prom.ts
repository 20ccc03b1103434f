// Minimal Prometheus text parsing for the benchmark: samples by name and labels, histogram deltas
// between two scrapes and histogram_quantile-style interpolation.

export type Scrape = Map<string, number>;

/** Parses exposition text into a map from `name{labels}` (labels as printed) to value. */
export function parseProm(text: string): Scrape {
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    if (sp < 0) continue;
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

function labelsOf(key: string): Record<string, string> {
  const open = key.indexOf('{');
  const labels: Record<string, string> = {};
  if (open < 0) return labels;
  for (const m of key.slice(open + 1, -1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
  return labels;
}

function nameOf(key: string): string {
  const open = key.indexOf('{');
  return open < 0 ? key : key.slice(0, open);
}

/** Sum of the samples named `name` whose labels include `match`. */
export function value(s: Scrape, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const [k, v] of s) {
    if (nameOf(k) !== name) continue;
    const l = labelsOf(k);
    if (Object.entries(match).every(([a, b]) => l[a] === b)) {
      sum += v;
      found = true;
    }
  }
  return found ? sum : Number.NaN;
}

export interface Histogram {
  /** Upper bounds (+Inf last) and cumulative counts. */
  buckets: { le: number; count: number }[];
  count: number;
  sum: number;
}

/** The histogram `name` (labels `match`) in `after` minus the same in `before` (a window's observations). */
export function histogramDelta(
  before: Scrape,
  after: Scrape,
  name: string,
  match: Record<string, string> = {},
): Histogram {
  const les = new Set<string>();
  for (const k of after.keys()) {
    if (nameOf(k) !== `${name}_bucket`) continue;
    const l = labelsOf(k);
    if (Object.entries(match).every(([a, b]) => l[a] === b)) les.add(l.le!);
  }
  const buckets = [...les]
    .map((le) => {
      const m = { ...match, le };
      const b = value(before, `${name}_bucket`, m);
      return {
        le: le === '+Inf' ? Infinity : Number(le),
        count: value(after, `${name}_bucket`, m) - (b || 0),
      };
    })
    .sort((a, b) => a.le - b.le);
  const d = (n: string): number => value(after, n, match) - (value(before, n, match) || 0);
  return { buckets, count: d(`${name}_count`), sum: d(`${name}_sum`) };
}

/**
 * Quantile q (0…1) as Prometheus' histogram_quantile computes it: linear interpolation inside the
 * bucket holding the rank, the lower bound of the first bucket taken as 0; a rank in +Inf answers the
 * highest finite bound.
 */
export function histogramQuantile(h: Histogram, q: number): number {
  const total = h.buckets.length > 0 ? h.buckets[h.buckets.length - 1]!.count : 0;
  if (!(total > 0)) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket > 0 ? prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket : prevLe;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/**
 * The smallest bucket bound with at least q (0…1) of the observations at or below it: what the
 * histogram can say of the quantile without interpolating (the quantile is at most this bound).
 */
export function histogramBound(h: Histogram, q: number): number {
  if (!(h.count > 0)) return Number.NaN;
  for (const b of h.buckets) if (b.count >= q * h.count) return b.le;
  return Infinity;
}

/** Upper bound of the highest non-empty bucket (the histogram's bound on the maximum). */
export function histogramMaxBound(h: Histogram): number {
  let prev = 0;
  let bound = Number.NaN;
  for (const b of h.buckets) {
    if (b.count > prev) bound = b.le;
    prev = b.count;
  }
  return bound;
}
