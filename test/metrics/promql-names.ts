// Finds the metric names a PromQL expression reads, so the dashboard and alert tests can check them against the
// registry. Not a full PromQL parser: it removes what cannot be a metric name (label matchers, range and
// subquery brackets, grouping clauses, strings, numbers, function calls and keywords) and keeps the rest.
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'atan2',
  'inf',
  'nan',
]);

export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ') // strings (inside matchers too)
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges, subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // grouping label lists
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ' ') // Grafana variables
    .replace(/\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b/gi, ' '); // numbers
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const rest = stripped.slice((m.index ?? 0) + word.length);
    if (/^\s*\(/.test(rest)) continue; // a function call
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

export interface KnownMetric {
  name: string;
  type: string;
}

/** Resolves a name as exposed: a registered metric, or a histogram's _bucket/_sum/_count (a summary's _sum/_count). */
export function resolvesTo(name: string, known: Map<string, KnownMetric>): boolean {
  if (known.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m === null) return false;
  const base = known.get(m[1]);
  if (base === undefined) return false;
  return base.type === 'histogram' || (base.type === 'summary' && m[2] !== 'bucket');
}
