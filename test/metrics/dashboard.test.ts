import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { metricNamesIn, resolvesTo, type KnownMetric } from './promql-names.ts';
import { findPromtool, PROMTOOL_MISSING } from './promtool.ts';

const DASHBOARD = fileURLToPath(new URL('../../docs/grafana/auralis.json', import.meta.url));

interface Target {
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  gridPos?: { x: number; y: number; w: number; h: number };
}
interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const known = new Map<string, KnownMetric>(
  (createMetrics().registry.getMetricsAsArray() as unknown as KnownMetric[]).map((m) => [
    m.name,
    { name: m.name, type: String(m.type) },
  ]),
);
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');

test('the metric-name extractor reads PromQL the way the tests need', () => {
  assert.deepEqual(
    metricNamesIn(
      'histogram_quantile(0.99, sum by (le, transport) (rate(a_seconds_bucket{instance=~"$instance"}[$__rate_interval])))',
    ),
    ['a_seconds_bucket'],
  );
  assert.deepEqual(metricNamesIn('sum(rate(x_total[5m])) * 60 / clamp_min(sum(y{t="ws"}), 1) > 0.5').sort(), [
    'x_total',
    'y',
  ]);
  const k = new Map<string, KnownMetric>([
    ['h', { name: 'h', type: 'histogram' }],
    ['g', { name: 'g', type: 'gauge' }],
  ]);
  assert.equal(resolvesTo('h_bucket', k), true);
  assert.equal(resolvesTo('g_sum', k), false);
  assert.equal(resolvesTo('nope', k), false);
});

test('the dashboard is importable: a Prometheus data source variable used by every panel and query', () => {
  assert.equal(dashboard.title, 'Auralis');
  assert.ok(dashboard.uid.length > 0);
  const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
  assert.ok(ds, 'no data source variable');
  assert.equal(ds.query, 'prometheus');
  const ids = new Set<number>();
  for (const p of dashboard.panels) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} used twice`);
    ids.add(p.id);
    assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: grid position`);
  }
  for (const p of queryPanels) {
    assert.equal(p.datasource?.uid, `\${${ds.name}}`, `${p.title}: panel data source`);
    assert.ok(p.targets && p.targets.length > 0, `${p.title}: no queries`);
    for (const t of p.targets) {
      assert.equal(t.datasource?.uid, `\${${ds.name}}`, `${p.title}: query data source`);
      assert.ok(t.expr && t.expr.trim().length > 0, `${p.title}: empty query`);
    }
  }
});

test('every metric the dashboard queries exists in the registry', () => {
  const unknown: string[] = [];
  for (const p of queryPanels) {
    for (const t of p.targets ?? []) {
      const names = metricNamesIn(t.expr ?? '');
      assert.ok(names.length > 0, `${p.title}: no metric in ${t.expr}`);
      for (const n of names) if (!resolvesTo(n, known)) unknown.push(`${p.title}: ${n}`);
    }
  }
  assert.deepEqual(unknown, []);
});

test('the dashboard covers delivery, players, engine, control and process health', () => {
  const used = new Set(
    queryPanels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr ?? ''))),
  );
  const base = (n: string) => n.replace(/_(bucket|sum|count)$/, '');
  const bases = new Set([...used].map(base));
  for (const required of [
    'auralis_chunk_lateness_seconds',
    'auralis_chunk_jitter_seconds',
    'auralis_listeners',
    'auralis_chunks_skipped_total',
    'auralis_client_underruns_total',
    'auralis_client_buffer_seconds',
    'auralis_control_latency_seconds',
    'auralis_synthesis_seconds',
    'auralis_realtime_factor',
    'auralis_ring_buffered_seconds',
    'auralis_worker_restarts_total',
    'auralis_memory_growth_bytes_per_hour',
    'auralis_leak_suspected',
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes',
    'nodejs_gc_duration_seconds',
  ]) {
    assert.ok(bases.has(required), `no panel shows ${required}`);
  }
});

test('every dashboard query is valid PromQL (checked by promtool with Grafana variables filled in)', (t) => {
  const promtool = findPromtool();
  if (promtool === undefined) {
    if (process.env.CI) assert.fail(PROMTOOL_MISSING);
    t.skip(PROMTOOL_MISSING);
    return;
  }
  // Each query becomes a recording rule, the one PromQL-parsing entry point promtool offers for files.
  const exprs = queryPanels.flatMap((p) => (p.targets ?? []).map((q) => q.expr ?? ''));
  const rules = exprs.map((e, i) => {
    const filled = e.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*');
    return `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(filled)}\n`;
  });
  const dir = mkdtempSync(join(tmpdir(), 'auralis-dashboard-'));
  try {
    const file = join(dir, 'dashboard-queries.yml');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('')}`);
    const r = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `promtool rejected a dashboard query:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${exprs.length} rules found`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
