import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { GcObserver } from '../../src/metrics/gc-observer.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { parseExposition, valueOf } from './exposition.ts';

/** Short-lived garbage: enough young-generation allocation to trigger scavenges. */
function makeGarbage(rounds: number): number {
  let kept = 0;
  for (let r = 0; r < rounds; r++) {
    const arr: { i: number; s: string }[] = [];
    for (let i = 0; i < 20_000; i++) arr.push({ i, s: `x${i}` });
    kept += arr.length;
  }
  return kept;
}

/** Allocates until the observer has seen at least `minMinor` scavenges (deliveries are asynchronous). */
async function garbageUntilScavenges(gc: GcObserver, minMinor: number, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (gc.snapshot().byKind.minor.count < minMinor) {
    if (performance.now() > deadline) assert.fail(`no ${minMinor} scavenges seen in ${timeoutMs} ms`);
    makeGarbage(20);
    await sleep(1); // let the observer's callback run
  }
}

test('counts real scavenges with their pauses', async () => {
  const gc = new GcObserver();
  gc.start();
  try {
    await garbageUntilScavenges(gc, 3);
  } finally {
    gc.stop();
  }
  const s = gc.snapshot();
  assert.ok(s.byKind.minor.count >= 3);
  assert.ok(s.byKind.minor.totalPauseMs > 0);
  assert.ok(s.byKind.minor.maxPauseMs > 0 && s.byKind.minor.maxPauseMs <= s.byKind.minor.totalPauseMs);
  assert.ok(s.count >= s.byKind.minor.count);
  const sumOfKinds = Object.values(s.byKind).reduce((acc, k) => acc + k.totalPauseMs, 0);
  assert.ok(Math.abs(s.totalPauseMs - sumOfKinds) < 1e-9);
});

test('feeds auralis_gc_pause_seconds with the same pauses', async () => {
  const metrics = createMetrics({ collectDefault: false });
  const gc = new GcObserver({ metrics });
  gc.start();
  try {
    await garbageUntilScavenges(gc, 2);
  } finally {
    gc.stop();
  }
  const s = gc.snapshot();
  const exp = parseExposition(await metrics.metricsText());
  assert.equal(valueOf(exp, 'auralis_gc_pause_seconds_count', { kind: 'minor' }), s.byKind.minor.count);
  const sumSeconds = valueOf(exp, 'auralis_gc_pause_seconds_sum', { kind: 'minor' });
  assert.ok(Math.abs(sumSeconds - s.byKind.minor.totalPauseMs / 1000) < 1e-9);
});

test('the snapshot is a copy, reset() clears, and nothing is counted after stop()', async () => {
  const gc = new GcObserver();
  gc.start();
  await garbageUntilScavenges(gc, 1);
  const before = gc.snapshot();
  gc.stop();
  assert.equal(gc.running, false);
  const atStop = gc.snapshot().count;
  assert.ok(atStop >= before.count);
  makeGarbage(200);
  await sleep(20);
  makeGarbage(200);
  await sleep(20);
  assert.equal(gc.snapshot().count, atStop, 'GCs counted after stop()');
  before.byKind.minor.count = -1;
  assert.notEqual(gc.snapshot().byKind.minor.count, -1);
  gc.reset();
  assert.equal(gc.snapshot().count, 0);
  assert.equal(gc.snapshot().totalPauseMs, 0);
});
