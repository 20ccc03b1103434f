import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { FixedLabelCounter, FixedLabelHistogram } from '../../src/metrics/fixed-label-metrics.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const VALUES = [0, 0.0005, 0.001, 0.002, 0.05, 0.1, 0.7, 3, 12];

/** The sample lines of an exposition, without HELP/TYPE comments. */
function sampleLines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

test('a fixed-label histogram exposes exactly what prom-client exposes for the same observations', async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const fast = new FixedLabelHistogram({
    name: 'h_seconds',
    help: 'h',
    labelName: 'transport',
    labelValues: ['ws', 'ogg'] as const,
    buckets: BUCKETS,
    registry: ours,
  });
  const reference = new Histogram({
    name: 'h_seconds',
    help: 'h',
    labelNames: ['transport'],
    buckets: BUCKETS,
    registers: [theirs],
  });
  reference.zero({ transport: 'ws' });
  reference.zero({ transport: 'ogg' });
  for (const v of VALUES) {
    fast.observe('ws', v);
    reference.observe({ transport: 'ws' }, v);
  }
  fast.observeManyAt(fast.slot('ogg'), 0.05, 3);
  for (let i = 0; i < 3; i++) reference.observe({ transport: 'ogg' }, 0.05);
  assert.deepEqual(sampleLines(await ours.metrics()), sampleLines(await theirs.metrics()));
  assert.match(await ours.metrics(), /# TYPE h_seconds histogram/);
  assert.equal(fast.count('ws'), VALUES.length);
  fast.reset();
  assert.equal(fast.count('ws'), 0);
  assert.equal(fast.sum('ogg'), 0);
});

test('a fixed-label counter exposes exactly what prom-client exposes', async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const fast = new FixedLabelCounter({
    name: 'c_total',
    help: 'c',
    labelName: 'transport',
    labelValues: ['ws', 'ogg', 'wav'] as const,
    registry: ours,
  });
  const reference = new Counter({
    name: 'c_total',
    help: 'c',
    labelNames: ['transport'],
    registers: [theirs],
  });
  for (const t of ['ws', 'ogg', 'wav']) reference.inc({ transport: t }, 0);
  fast.inc('ws');
  fast.incAt(fast.slot('wav'), 4);
  reference.inc({ transport: 'ws' });
  reference.inc({ transport: 'wav' }, 4);
  assert.deepEqual(sampleLines(await ours.metrics()), sampleLines(await theirs.metrics()));
  assert.equal(fast.value('wav'), 4);
});

test('fixed-label metrics refuse unknown label values, bad amounts and duplicate names', () => {
  const registry = new Registry();
  const c = new FixedLabelCounter({
    name: 'x_total',
    help: 'x',
    labelName: 't',
    labelValues: ['a'],
    registry,
  });
  assert.throws(() => c.inc('b' as 'a'), RangeError);
  assert.throws(() => c.inc('a', -1), RangeError);
  assert.throws(() => c.inc('a', Number.NaN), RangeError);
  const h = new FixedLabelHistogram({
    name: 'y_seconds',
    help: 'y',
    labelName: 't',
    labelValues: ['a'],
    buckets: [1, 2],
    registry,
  });
  assert.throws(() => h.observe('a', Number.POSITIVE_INFINITY), RangeError);
  assert.throws(
    () =>
      new FixedLabelCounter({ name: 'x_total', help: 'again', labelName: 't', labelValues: ['a'], registry }),
    /already been registered/,
  );
  assert.throws(
    () =>
      new FixedLabelHistogram({
        name: 'z_seconds',
        help: 'z',
        labelName: 't',
        labelValues: ['a'],
        buckets: [2, 1],
        registry,
      }),
    RangeError,
  );
});
