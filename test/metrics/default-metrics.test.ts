import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createMetrics } from '../../src/metrics/metrics.ts';

const require = createRequire(import.meta.url);

/** A full GC on demand, whether or not the test runs with --expose-gc. */
function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function sampleValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  assert.ok(line, `${name}${labels} is exposed`);
  return Number(line.split(' ')[1]);
}

/** Active libuv timer handles (referenced or not: the event-loop histogram's timer is unref-ed). */
async function activeUvTimers(): Promise<number> {
  // Let pending JS timers and immediates settle first.
  await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setImmediate(r));
  const report = process.report.getReport() as unknown as { libuv: { type: string; is_active: boolean }[] };
  return report.libuv.filter((h) => h.type === 'timer' && h.is_active).length;
}

test("the registry exposes every one of prom-client's default metrics", async () => {
  const m = createMetrics();
  try {
    const names = new Set(m.registry.getMetricsAsArray().map((x) => x.name));
    const list = (require('prom-client/lib/defaultMetrics.js') as { metricsList: string[] }).metricsList;
    assert.ok(list.length >= 10);
    for (const mod of list) {
      const { metricNames } = require(`prom-client/lib/metrics/${mod}.js`) as { metricNames: string[] };
      for (const n of metricNames) assert.ok(names.has(n), `${n} (from ${mod}) is registered`);
    }
  } finally {
    m.close();
  }
});

test('close() stops the GC observer and the event-loop histogram of the default metrics', async () => {
  const timersBefore = await activeUvTimers();
  const m = createMetrics();
  assert.equal(await activeUvTimers(), timersBefore + 1, "the histogram's timer runs");
  // Running: a GC is observed, the event-loop histogram's timer is active.
  fullGc();
  await new Promise((r) => setTimeout(r, 50));
  let text = await m.metricsText();
  const gcBefore = sampleValue(text, 'nodejs_gc_duration_seconds_count', '{kind="major"}');
  assert.ok(gcBefore >= 1, `a major GC was observed while running (${gcBefore})`);

  m.close();
  m.close(); // idempotent
  fullGc();
  fullGc();
  await new Promise((r) => setTimeout(r, 50));
  text = await m.metricsText();
  assert.equal(
    sampleValue(text, 'nodejs_gc_duration_seconds_count', '{kind="major"}'),
    gcBefore,
    'no GC observed after close()',
  );
  assert.equal(await activeUvTimers(), timersBefore, "the histogram's timer is stopped");
});

test('the first scrape already reports the event-loop delay percentiles', async () => {
  const m = createMetrics();
  try {
    await new Promise((r) => setTimeout(r, 300));
    const text = await m.metricsText();
    // The histogram samples every 10 ms and records the whole interval: an idle loop reads ≥ ~10 ms.
    for (const name of ['nodejs_eventloop_lag_min_seconds', 'nodejs_eventloop_lag_p99_seconds']) {
      assert.ok(sampleValue(text, name) >= 0.005, `${name} = ${sampleValue(text, name)}`);
    }
  } finally {
    m.close();
  }
});
