import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { metricNamesIn, resolvesTo, type KnownMetric } from './promql-names.ts';
import { findPromtool, PROMTOOL_MISSING } from './promtool.ts';

const RULES = fileURLToPath(new URL('../../docs/prometheus/alerts.yml', import.meta.url));
const RULE_TESTS = fileURLToPath(new URL('../../docs/prometheus/alerts.test.yml', import.meta.url));
// promtool's own unit tests evaluate hours of series in-process; generous for a shared 2-core machine.
const PROMTOOL_TIMEOUT_MS = 60_000;

interface Rule {
  alert: string;
  expr: string;
  text: string;
}

/**
 * The alert rules of alerts.yml, read with a few regular expressions: the file is ours, in prettier's YAML
 * style, and promtool (below) is the real parser; this only needs each rule's name, expression and text.
 */
function readRules(): Rule[] {
  const yaml = readFileSync(RULES, 'utf8');
  const blocks = yaml.split(/\n\s*- alert: /).slice(1);
  return blocks.map((block) => {
    const alert = block.split('\n')[0].trim();
    const lines = block.split('\n');
    const at = lines.findIndex((l) => /^\s*expr:/.test(l));
    assert.ok(at >= 0, `${alert}: no expr`);
    const inline = lines[at].replace(/^\s*expr:\s*/, '');
    let expr = inline;
    if (inline === '|' || inline === '>') {
      const indent = /^(\s*)/.exec(lines[at])![1].length;
      const body: string[] = [];
      for (const l of lines.slice(at + 1)) {
        if (l.trim() !== '' && /^(\s*)/.exec(l)![1].length <= indent) break;
        body.push(l.trim());
      }
      expr = body.join(' ');
    }
    return { alert, expr, text: block };
  });
}

test('promtool accepts the rules and their unit tests pass', (t) => {
  const promtool = findPromtool();
  if (promtool === undefined) {
    // In CI a missing tool must not turn into a silent pass.
    if (process.env.CI) assert.fail(PROMTOOL_MISSING);
    t.skip(PROMTOOL_MISSING);
    return;
  }
  const check = spawnSync(promtool, ['check', 'rules', RULES], {
    encoding: 'utf8',
    timeout: PROMTOOL_TIMEOUT_MS,
  });
  assert.equal(check.status, 0, `promtool check rules failed:\n${check.stdout}${check.stderr}`);
  assert.match(check.stdout + check.stderr, /SUCCESS: \d+ rules found/);
  const unit = spawnSync(promtool, ['test', 'rules', RULE_TESTS], {
    encoding: 'utf8',
    timeout: PROMTOOL_TIMEOUT_MS,
  });
  assert.equal(unit.status, 0, `promtool test rules failed:\n${unit.stdout}${unit.stderr}`);
  assert.match(unit.stdout + unit.stderr, /SUCCESS/);
});

test('every alert has a severity, a summary and a description, and reads only registered metrics', () => {
  const rules = readRules();
  const names = rules.map((r) => r.alert);
  for (const required of [
    'AuralisLateChunks',
    'AuralisLeakSuspected',
    'AuralisRingStarved',
    'AuralisWorkerRestarts',
    'AuralisClientUnderruns',
    'AuralisEventLoopLag',
  ]) {
    assert.ok(names.includes(required), `no ${required} rule`);
  }
  const known = new Map<string, KnownMetric>(
    (createMetrics().registry.getMetricsAsArray() as unknown as KnownMetric[]).map((m) => [
      m.name,
      { name: m.name, type: String(m.type) },
    ]),
  );
  for (const r of rules) {
    assert.match(r.text, /\n\s+severity: (critical|warning|info)\n/, `${r.alert}: severity`);
    assert.match(r.text, /\n\s+summary: \S/, `${r.alert}: summary`);
    assert.match(r.text, /\n\s+description: \S/, `${r.alert}: description`);
    const used = metricNamesIn(r.expr);
    assert.ok(used.length > 0, `${r.alert}: no metric in ${r.expr}`);
    for (const n of used) assert.ok(resolvesTo(n, known), `${r.alert}: ${n} is not a registered metric`);
  }
});

test('every alert has a promtool unit test', () => {
  const tests = readFileSync(RULE_TESTS, 'utf8');
  const tested = new Set([...tests.matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
  assert.deepEqual(
    readRules()
      .map((r) => r.alert)
      .filter((a) => !tested.has(a)),
    [],
  );
});
