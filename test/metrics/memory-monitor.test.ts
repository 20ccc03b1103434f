import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { leastSquaresSlope } from '../../src/metrics/least-squares.ts';
import {
  DEFAULT_LEAK_THRESHOLD_BYTES_PER_HOUR,
  MemoryMonitor,
  type MemorySample,
} from '../../src/metrics/memory-monitor.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { parseExposition, valueOf } from './exposition.ts';

const MB = 1024 * 1024;
const HOUR_MS = 3_600_000;

/** A fake process: memory follows rate × time plus a GC-like sawtooth, on a clock the test advances. */
function syntheticProcess(rssBytesPerHour: number, heapBytesPerHour: number) {
  let nowMs = 1_700_000_000_000; // a wall-clock-sized origin: the fit must stay exact with huge x values
  const startMs = nowMs;
  let tick = 0;
  return {
    nowMs: () => nowMs,
    advance: (ms: number) => {
      nowMs += ms;
      tick++;
    },
    sampler: (): MemorySample => {
      const hours = (nowMs - startMs) / HOUR_MS;
      const sawtooth = ((tick % 7) - 3) * 2 * MB; // ±6 MB of collection noise
      return {
        rssBytes: 120 * MB + rssBytesPerHour * hours + sawtooth,
        heapUsedBytes: 40 * MB + heapBytesPerHour * hours + sawtooth,
      };
    },
  };
}

function runFor(monitor: MemoryMonitor, proc: ReturnType<typeof syntheticProcess>, samples: number) {
  for (let i = 0; i < samples; i++) {
    monitor.sample();
    proc.advance(monitor.intervalMs);
  }
}

test('least-squares slope recovers a line exactly, even at timestamp-sized x', () => {
  const xs = [0, 1, 2, 3, 4].map((i) => 1.7e12 + i * 1000);
  const ys = xs.map((x) => 3 * (x - 1.7e12) + 42);
  assert.ok(Math.abs(leastSquaresSlope(xs, ys) - 3) < 1e-9);
  assert.ok(Math.abs(leastSquaresSlope([0, 1, 2, 3], [0, 2, 0, 2]) - 0.4) < 1e-12);
  assert.ok(Number.isNaN(leastSquaresSlope([1], [1])));
  assert.ok(Number.isNaN(leastSquaresSlope([5, 5, 5], [1, 2, 3])));
});

test('flat memory gives a rate near zero and no leak', () => {
  const proc = syntheticProcess(0, 0);
  const metrics = createMetrics({ collectDefault: false });
  const monitor = new MemoryMonitor({ sampler: proc.sampler, nowMs: proc.nowMs, metrics });
  runFor(monitor, proc, 400); // 400 × 10 s ≈ 67 min
  const s = monitor.snapshot();
  assert.equal(s.fitted, true);
  assert.equal(s.samples, 360, 'the window is bounded');
  assert.ok(Math.abs(s.rssGrowthBytesPerHour!) < 1 * MB, `rss ${s.rssGrowthBytesPerHour}`);
  assert.ok(Math.abs(s.heapGrowthBytesPerHour!) < 1 * MB, `heap ${s.heapGrowthBytesPerHour}`);
  assert.equal(s.leakSuspected, false);
});

test('memory growing 30 MB/h is measured within 10% and flagged as a suspected leak', async () => {
  const proc = syntheticProcess(30 * MB, 0);
  const metrics = createMetrics({ collectDefault: false });
  const monitor = new MemoryMonitor({ sampler: proc.sampler, nowMs: proc.nowMs, metrics });
  runFor(monitor, proc, 240); // 40 min: past the 1 min warm-up and the 30 min minimum span
  const s = monitor.snapshot();
  assert.ok(
    Math.abs(s.rssGrowthBytesPerHour! - 30 * MB) < 3 * MB,
    `rss ${s.rssGrowthBytesPerHour! / MB} MB/h`,
  );
  assert.equal(s.leakSuspected, true);
  assert.equal(s.leakThresholdBytesPerHour, DEFAULT_LEAK_THRESHOLD_BYTES_PER_HOUR);
  const exp = parseExposition(await metrics.metricsText());
  assert.equal(valueOf(exp, 'auralis_leak_suspected'), 1);
  const gauge = valueOf(exp, 'auralis_memory_growth_bytes_per_hour', { kind: 'rss' });
  assert.ok(Math.abs(gauge - 30 * MB) < 3 * MB);
  assert.ok(Math.abs(valueOf(exp, 'auralis_memory_growth_bytes_per_hour', { kind: 'heap' })) < 1 * MB);
});

test('heap growth alone is enough to suspect a leak, and a threshold can be set', () => {
  const proc = syntheticProcess(0, 12 * MB);
  const lenient = new MemoryMonitor({ sampler: proc.sampler, nowMs: proc.nowMs });
  const strict = new MemoryMonitor({
    sampler: proc.sampler,
    nowMs: proc.nowMs,
    leakThresholdBytesPerHour: 10 * MB,
  });
  for (let i = 0; i < 400; i++) {
    lenient.sample();
    strict.sample();
    proc.advance(10_000);
  }
  assert.equal(lenient.snapshot().leakSuspected, false);
  assert.equal(strict.snapshot().leakSuspected, true);
  assert.ok(Math.abs(strict.snapshot().heapGrowthBytesPerHour! - 12 * MB) < 1.2 * MB);
});

test('no rate before warm-up and minimum span: start-up growth is not a leak', () => {
  let nowMs = 0;
  // Start-up: 50 MB in the first minute, then flat.
  const sampler = (): MemorySample => {
    const grown = Math.min(nowMs, 60_000) * ((50 * MB) / 60_000);
    return { rssBytes: 100 * MB + grown, heapUsedBytes: 30 * MB + grown };
  };
  const monitor = new MemoryMonitor({ sampler, nowMs: () => nowMs });
  for (; nowMs < 25 * 60_000; nowMs += 10_000) monitor.sample();
  let s = monitor.snapshot();
  assert.equal(s.fitted, false, 'window spans under 30 min after warm-up');
  assert.equal(s.rssGrowthBytesPerHour, null);
  assert.equal(s.leakSuspected, false);
  for (; nowMs < 45 * 60_000; nowMs += 10_000) monitor.sample();
  s = monitor.snapshot();
  assert.equal(s.fitted, true);
  assert.ok(
    Math.abs(s.rssGrowthBytesPerHour!) < 1 * MB,
    `warm-up growth leaked into the fit: ${s.rssGrowthBytesPerHour}`,
  );
  assert.equal(s.leakSuspected, false);
  assert.equal(s.rssBytes, 150 * MB);
});

test('rejects unbounded or meaningless options', () => {
  assert.throws(() => new MemoryMonitor({ windowSamples: 2 }), RangeError);
  assert.throws(() => new MemoryMonitor({ windowSamples: 1e9 }), RangeError);
  assert.throws(() => new MemoryMonitor({ intervalMs: 0 }), RangeError);
  assert.throws(() => new MemoryMonitor({ leakThresholdBytesPerHour: -5 }), RangeError);
});

test('a failing sampler skips the sample instead of throwing from the timer', () => {
  let fail = true;
  const monitor = new MemoryMonitor({
    warmupMs: 0,
    sampler: () => {
      if (fail) throw new Error('EMFILE');
      return { rssBytes: 1, heapUsedBytes: 1 };
    },
  });
  monitor.sample();
  assert.equal(monitor.snapshot().samples, 0);
  fail = false;
  monitor.sample();
  assert.equal(monitor.snapshot().samples, 1);
});

test('start() samples on a timer and stop() leaves nothing running', async () => {
  let calls = 0;
  const monitor = new MemoryMonitor({
    intervalMs: 10,
    sampler: () => {
      calls++;
      return { rssBytes: 1, heapUsedBytes: 1 };
    },
  });
  monitor.start();
  monitor.start(); // idempotent: still one timer
  assert.equal(calls, 1, 'start() samples at once');
  await sleep(120);
  assert.ok(calls >= 3, `only ${calls} samples in 120 ms at 10 ms`);
  monitor.stop();
  assert.equal(monitor.running, false);
  const atStop = calls;
  await sleep(80);
  assert.equal(calls, atStop, 'sampled after stop()');
});
