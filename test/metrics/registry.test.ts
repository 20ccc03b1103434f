import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createMetrics } from '../../src/metrics/metrics.ts';

const DOC = fileURLToPath(new URL('../../docs/metrics.md', import.meta.url));

interface DocumentedMetric {
  name: string;
  type: string;
  labels: string[];
}

/** The rows of the first table under the `## heading` section of docs/metrics.md. */
function documented(heading: string): DocumentedMetric[] {
  const text = readFileSync(DOC, 'utf8');
  const start = text.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `docs/metrics.md has no "## ${heading}" section`);
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  const rows: DocumentedMetric[] = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(\w+)\s*\|([^|]*)\|/.exec(line);
    if (m === null) continue;
    const labels = [...m[3].matchAll(/`([a-z_]+)`/g)].map((x) => x[1]).sort();
    rows.push({ name: m[1], type: m[2], labels });
  }
  return rows;
}

interface RegisteredMetric {
  name: string;
  type: string;
  labelNames?: readonly string[];
}

function registered(): Map<string, RegisteredMetric> {
  const m = createMetrics();
  const all = m.registry.getMetricsAsArray() as unknown as RegisteredMetric[];
  return new Map(all.map((x) => [x.name, x]));
}

test('every auralis_* metric in the registry is documented, and every documented one is registered', () => {
  const docs = documented('Auralis metrics');
  const reg = registered();
  const inRegistry = [...reg.keys()].filter((n) => n.startsWith('auralis_')).sort();
  const inDocs = docs.map((d) => d.name).sort();
  assert.ok(inDocs.length >= 15, `only ${inDocs.length} metrics parsed from the docs table`);
  assert.deepEqual(
    inRegistry.filter((n) => !inDocs.includes(n)),
    [],
    'registered but not documented',
  );
  assert.deepEqual(
    inDocs.filter((n) => !inRegistry.includes(n)),
    [],
    'documented but not registered',
  );
  assert.equal(new Set(inDocs).size, inDocs.length, 'a metric is documented twice');
});

test('documented types and labels match the registry', () => {
  const reg = registered();
  for (const d of [...documented('Auralis metrics'), ...documented('Node.js default metrics')]) {
    const r = reg.get(d.name);
    assert.ok(r, `${d.name} is documented but not registered`);
    assert.equal(String(r.type), d.type, `${d.name}: type`);
    const labels = [...(r.labelNames ?? [])].sort();
    assert.deepEqual(labels, d.labels, `${d.name}: labels`);
  }
});

test('names follow Prometheus conventions: counters end in _total, units are in the name', () => {
  for (const d of documented('Auralis metrics')) {
    if (d.type === 'counter') assert.match(d.name, /_total$/, d.name);
    else assert.doesNotMatch(d.name, /_total$/, d.name);
    if (d.type === 'histogram') assert.match(d.name, /_seconds$/, `${d.name}: histograms here measure time`);
  }
});
