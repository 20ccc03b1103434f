import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics, MAX_WORKER_LABELS, OTHER_STATION_LABEL } from '../../src/metrics/metrics.ts';
import { ClientStatsTracker } from '../../src/metrics/client-stats.ts';
import { JitterTracker } from '../../src/metrics/jitter.ts';
import { parseExposition, seriesOf, valueOf } from './exposition.ts';

async function scrape(m: ReturnType<typeof createMetrics>) {
  return parseExposition(await m.metricsText());
}

test('each registry is its own: two instances do not share values', async () => {
  const a = createMetrics({ collectDefault: false });
  const b = createMetrics({ collectDefault: false });
  a.recordWorkerRestart();
  assert.equal(valueOf(await scrape(a), 'auralis_worker_restarts_total'), 1);
  assert.equal(valueOf(await scrape(b), 'auralis_worker_restarts_total'), 0);
});

test('exposes every fixed-label series at zero before the first event', async () => {
  const exp = await scrape(createMetrics({ collectDefault: false }));
  for (const transport of ['ws', 'ogg', 'wav']) {
    assert.equal(valueOf(exp, 'auralis_chunks_sent_total', { transport }), 0);
    assert.equal(valueOf(exp, 'auralis_chunks_skipped_total', { transport }), 0);
    assert.equal(valueOf(exp, 'auralis_listeners', { transport }), 0);
    assert.equal(valueOf(exp, 'auralis_chunk_lateness_seconds_count', { transport }), 0);
  }
  assert.equal(seriesOf(exp, 'auralis_control_changes_total').length, 4 * 4); // api, listener, preset, schedule
  assert.equal(valueOf(exp, 'auralis_leak_suspected'), 0);
  assert.equal(exp.types.get('auralis_synthesis_seconds'), 'histogram');
  assert.equal(exp.types.get('auralis_chunks_sent_total'), 'counter');
  assert.equal(exp.types.get('auralis_listeners'), 'gauge');
});

test('registers Node default metrics only when asked', async () => {
  const withDefaults = await scrape(createMetrics());
  assert.ok(withDefaults.types.has('nodejs_gc_duration_seconds'));
  assert.ok(withDefaults.types.has('process_cpu_seconds_total'));
  assert.ok(withDefaults.types.has('nodejs_eventloop_lag_p99_seconds'));
  const without = await scrape(createMetrics({ collectDefault: false }));
  assert.equal([...without.types.keys()].filter((n) => !n.startsWith('auralis_')).length, 0);
});

test('records chunk sends with lateness in seconds, counting early sends as on time', async () => {
  const m = createMetrics({ collectDefault: false });
  m.recordChunkSent('ws', 1_000_030, 1_000_000); // 30 ms late
  m.recordChunkSent('ws', 1_000_000, 1_000_020); // 20 ms early ⇒ 0
  m.recordChunkSent('ogg', 5_000_000.5, 5_000_000); // 0.5 ms late
  const exp = await scrape(m);
  assert.equal(valueOf(exp, 'auralis_chunks_sent_total', { transport: 'ws' }), 2);
  assert.equal(valueOf(exp, 'auralis_chunks_sent_total', { transport: 'ogg' }), 1);
  assert.equal(valueOf(exp, 'auralis_chunk_lateness_seconds_count', { transport: 'ws' }), 2);
  assert.ok(Math.abs(valueOf(exp, 'auralis_chunk_lateness_seconds_sum', { transport: 'ws' }) - 0.03) < 1e-9);
  // The early one sits in the lowest bucket; the late one only from le=0.05 up.
  assert.equal(valueOf(exp, 'auralis_chunk_lateness_seconds_bucket', { transport: 'ws', le: '0.0005' }), 1);
  assert.equal(valueOf(exp, 'auralis_chunk_lateness_seconds_bucket', { transport: 'ws', le: '0.02' }), 1);
  assert.equal(valueOf(exp, 'auralis_chunk_lateness_seconds_bucket', { transport: 'ws', le: '0.05' }), 2);
  assert.equal(valueOf(exp, 'auralis_chunk_lateness_seconds_bucket', { transport: 'ogg', le: '0.0005' }), 1);
});

test('records synthesis time by station and a smoothed real-time factor', async () => {
  const m = createMetrics({ collectDefault: false });
  for (let i = 0; i < 20; i++) m.recordSynthesis('default', 0.0005, 0.1); // 200× real time
  let exp = await scrape(m);
  assert.equal(valueOf(exp, 'auralis_synthesis_seconds_count', { station: 'default' }), 20);
  assert.ok(Math.abs(valueOf(exp, 'auralis_realtime_factor', { station: 'default' }) - 200) < 1e-6);
  // One slow chunk moves the smoothed factor down, but not all the way to that chunk's own 10×.
  m.recordSynthesis('default', 0.01, 0.1);
  exp = await scrape(m);
  const rtf = valueOf(exp, 'auralis_realtime_factor', { station: 'default' });
  assert.ok(rtf < 200 && rtf > 10, `smoothed factor ${rtf}`);
});

test('drops non-finite or negative measurements instead of poisoning sums', async () => {
  const m = createMetrics({ collectDefault: false });
  m.recordSynthesis('default', Number.NaN, 0.1);
  m.recordSynthesis('default', -1, 0.1);
  m.recordEncode('opus', Number.POSITIVE_INFINITY);
  m.recordChunkSent('wav', Number.NaN, 0);
  m.recordJitter('ws', -0.001);
  const exp = await scrape(m);
  assert.equal(seriesOf(exp, 'auralis_synthesis_seconds_count').length, 0);
  assert.equal(valueOf(exp, 'auralis_encode_seconds_count', { codec: 'opus' }), 0);
  // The send happened (counted) but its lateness was unknown (not observed).
  assert.equal(valueOf(exp, 'auralis_chunks_sent_total', { transport: 'wav' }), 1);
  assert.equal(valueOf(exp, 'auralis_chunk_lateness_seconds_count', { transport: 'wav' }), 0);
  assert.equal(valueOf(exp, 'auralis_chunk_jitter_seconds_count', { transport: 'ws' }), 0);
});

test('records encode time by codec, skips, jitter, ring, control and restarts', async () => {
  const m = createMetrics({ collectDefault: false });
  m.recordEncode('opus', 0.0006);
  m.recordEncode('pcm', 0.00002);
  m.recordChunksSkipped('ws', 3);
  m.recordChunksSkipped('ws');
  m.recordJitter('ws', 0.0015);
  m.recordRingBuffered('default', 1.5);
  m.recordControlChange('api', 'ok');
  m.recordControlChange('listener', 'rate_limited');
  m.recordControlChange('listener', 'rate_limited');
  m.recordControlLatency(10_000, 12_500);
  m.recordControlLatency(10_000, 9_000); // audible "before" the request: clock skew, counted as 0
  m.recordWorkerRestart();
  m.recordGcPause('minor', 0.0008);
  m.listeners.inc({ transport: 'ws' });
  m.listeners.inc({ transport: 'ws' });
  m.listeners.dec({ transport: 'ws' });
  m.stations.set(3);
  const exp = await scrape(m);
  assert.equal(valueOf(exp, 'auralis_encode_seconds_count', { codec: 'opus' }), 1);
  assert.equal(valueOf(exp, 'auralis_encode_seconds_bucket', { codec: 'pcm', le: '0.00005' }), 1);
  assert.equal(valueOf(exp, 'auralis_chunks_skipped_total', { transport: 'ws' }), 4);
  assert.equal(valueOf(exp, 'auralis_chunk_jitter_seconds_bucket', { transport: 'ws', le: '0.002' }), 1);
  assert.equal(valueOf(exp, 'auralis_chunk_jitter_seconds_bucket', { transport: 'ws', le: '0.001' }), 0);
  assert.equal(valueOf(exp, 'auralis_ring_buffered_seconds', { station: 'default' }), 1.5);
  assert.equal(valueOf(exp, 'auralis_control_changes_total', { source: 'api', result: 'ok' }), 1);
  assert.equal(
    valueOf(exp, 'auralis_control_changes_total', { source: 'listener', result: 'rate_limited' }),
    2,
  );
  assert.equal(valueOf(exp, 'auralis_control_changes_total', { source: 'preset', result: 'forbidden' }), 0);
  assert.equal(valueOf(exp, 'auralis_control_latency_seconds_count'), 2);
  assert.equal(valueOf(exp, 'auralis_control_latency_seconds_sum'), 2.5);
  assert.equal(valueOf(exp, 'auralis_control_latency_seconds_bucket', { le: '0.01' }), 1);
  assert.equal(valueOf(exp, 'auralis_worker_restarts_total'), 1);
  assert.equal(valueOf(exp, 'auralis_gc_pause_seconds_bucket', { kind: 'minor', le: '0.001' }), 1);
  assert.equal(valueOf(exp, 'auralis_gc_pause_seconds_count', { kind: 'major' }), 0);
  assert.equal(valueOf(exp, 'auralis_listeners', { transport: 'ws' }), 1);
  assert.equal(valueOf(exp, 'auralis_stations'), 3);
});

test('caps distinct station labels and maps the rest to "other"', async () => {
  const m = createMetrics({ collectDefault: false, maxStationLabels: 3 });
  assert.deepEqual(
    ['a', 'b', 'c', 'd', 'e', 'a'].map((id) => m.stationLabel(id)),
    ['a', 'b', 'c', OTHER_STATION_LABEL, OTHER_STATION_LABEL, 'a'],
  );
  for (const id of ['a', 'b', 'c', 'd', 'e']) m.recordSynthesis(id, 0.001, 0.1);
  const exp = await scrape(m);
  const stations = seriesOf(exp, 'auralis_synthesis_seconds_count').map((s) => s.labels.station);
  assert.deepEqual(stations.sort(), ['a', 'b', 'c', 'other']);
  assert.equal(valueOf(exp, 'auralis_synthesis_seconds_count', { station: 'other' }), 2);
});

test('the default station label cap is 50', () => {
  const m = createMetrics({ collectDefault: false });
  const labels = Array.from({ length: 60 }, (_, i) => m.stationLabel(`s${i}`));
  assert.equal(new Set(labels).size, 51);
  assert.equal(labels[49], 's49');
  assert.equal(labels[50], OTHER_STATION_LABEL);
});

test('releasing a station removes its series and frees its slot for a new station', async () => {
  const m = createMetrics({ collectDefault: false, maxStationLabels: 2 });
  m.recordSynthesis('a', 0.001, 0.1);
  m.recordRingBuffered('a', 2);
  m.recordSynthesis('b', 0.001, 0.1);
  assert.equal(m.stationLabel('c'), OTHER_STATION_LABEL);
  m.releaseStation('a');
  let exp = await scrape(m);
  assert.equal(
    seriesOf(exp, 'auralis_synthesis_seconds_count').filter((s) => s.labels.station === 'a').length,
    0,
  );
  assert.equal(seriesOf(exp, 'auralis_ring_buffered_seconds').length, 0);
  assert.equal(seriesOf(exp, 'auralis_realtime_factor').filter((s) => s.labels.station === 'a').length, 0);
  assert.equal(m.stationLabel('c'), 'c');
  assert.equal(m.stationLabel('d'), OTHER_STATION_LABEL);
  // Releasing a station that never held a slot changes nothing.
  m.releaseStation('d');
  exp = await scrape(m);
  assert.equal(valueOf(exp, 'auralis_synthesis_seconds_count', { station: 'b' }), 1);
  assert.equal(m.stationLabel('e'), OTHER_STATION_LABEL);
});

test('rejects an unbounded or invalid station label cap', () => {
  assert.throws(() => createMetrics({ collectDefault: false, maxStationLabels: 0 }), RangeError);
  assert.throws(() => createMetrics({ collectDefault: false, maxStationLabels: 1e6 }), RangeError);
  assert.throws(() => createMetrics({ collectDefault: false, maxStationLabels: 2.5 }), RangeError);
});

test('client stats add only the increase of underruns per connection', async () => {
  const m = createMetrics({ collectDefault: false });
  const first = new ClientStatsTracker(m);
  const second = new ClientStatsTracker(m);
  assert.deepEqual(first.report({ bufferedMs: 200, underruns: 2, playedFrames: 1 }), {
    ok: true,
    underrunIncrease: 2,
  });
  assert.deepEqual(first.report({ bufferedMs: 250, underruns: 2 }), { ok: true, underrunIncrease: 0 });
  assert.deepEqual(first.report({ bufferedMs: 150, underruns: 5 }), { ok: true, underrunIncrease: 3 });
  // Another connection counts from its own start.
  second.report({ bufferedMs: 80, underruns: 1 });
  // A player that restarted counting: its new total is the increase.
  assert.deepEqual(first.report({ bufferedMs: 300, underruns: 1 }), { ok: true, underrunIncrease: 1 });
  const exp = await scrape(m);
  assert.equal(valueOf(exp, 'auralis_client_underruns_total'), 2 + 3 + 1 + 1);
  assert.equal(valueOf(exp, 'auralis_client_buffer_seconds_count'), 5);
  assert.equal(valueOf(exp, 'auralis_client_buffer_seconds_bucket', { le: '0.1' }), 1);
  assert.ok(Math.abs(valueOf(exp, 'auralis_client_buffer_seconds_sum') - 0.98) < 1e-9);
});

test('client stats reject malformed reports and bound what one report can add', async () => {
  const m = createMetrics({ collectDefault: false });
  const t = new ClientStatsTracker(m, 10);
  assert.deepEqual(t.report({ bufferedMs: -1, underruns: 0 }), { ok: false, field: 'bufferedMs' });
  assert.deepEqual(t.report({ bufferedMs: Number.NaN, underruns: 0 }), { ok: false, field: 'bufferedMs' });
  assert.deepEqual(t.report({ bufferedMs: 10, underruns: 1.5 }), { ok: false, field: 'underruns' });
  assert.deepEqual(t.report({ bufferedMs: 10, underruns: '3' as unknown as number }), {
    ok: false,
    field: 'underruns',
  });
  assert.deepEqual(t.report({ bufferedMs: 1e9, underruns: 1e6 }), { ok: true, underrunIncrease: 10 });
  const exp = await scrape(m);
  assert.equal(valueOf(exp, 'auralis_client_underruns_total'), 10);
  assert.equal(valueOf(exp, 'auralis_client_buffer_seconds_count'), 1);
  assert.equal(valueOf(exp, 'auralis_client_buffer_seconds_sum'), 60);
});

test('jitter is the absolute difference between send interval and chunk duration', () => {
  const j = new JitterTracker(0.1);
  assert.equal(j.onSend(1000), undefined);
  assert.ok(Math.abs(j.onSend(1103)! - 0.003) < 1e-9);
  assert.ok(Math.abs(j.onSend(1199)! - 0.004) < 1e-9);
  j.reset();
  assert.equal(j.onSend(5000), undefined);
  assert.ok(Math.abs(j.onSend(5100)!) < 1e-9);
  assert.throws(() => new JitterTracker(0), RangeError);
});

test('a batch of sends counts each listener and observes each lateness', async () => {
  const m = createMetrics({ collectDefault: false });
  m.recordChunksSent('ws', 5000, 2_000_012, 2_000_000);
  m.recordChunksSent('ws', 0, 2_000_012, 2_000_000); // nothing sent: nothing recorded
  m.recordChunksSent('wav', 2, 1000, 1010); // early
  const exp = await scrape(m);
  assert.equal(valueOf(exp, 'auralis_chunks_sent_total', { transport: 'ws' }), 5000);
  assert.equal(valueOf(exp, 'auralis_chunk_lateness_seconds_count', { transport: 'ws' }), 5000);
  assert.ok(Math.abs(valueOf(exp, 'auralis_chunk_lateness_seconds_sum', { transport: 'ws' }) - 60) < 1e-6);
  assert.equal(valueOf(exp, 'auralis_chunk_lateness_seconds_bucket', { transport: 'ws', le: '0.01' }), 0);
  assert.equal(valueOf(exp, 'auralis_chunk_lateness_seconds_bucket', { transport: 'ws', le: '0.02' }), 5000);
  assert.equal(valueOf(exp, 'auralis_chunk_lateness_seconds_bucket', { transport: 'wav', le: '0.0005' }), 2);
});

test('records each engine worker heap by its index, dropping bad indexes and sizes', async () => {
  const m = createMetrics({ collectDefault: false });
  m.recordWorkerHeap(0, 9_000_000);
  m.recordWorkerHeap(1, 7_500_000);
  m.recordWorkerHeap(0, 8_000_000); // the latest report wins
  m.recordWorkerHeap(-1, 1);
  m.recordWorkerHeap(1.5, 1);
  m.recordWorkerHeap(MAX_WORKER_LABELS, 1);
  m.recordWorkerHeap(1, Number.NaN);
  m.recordWorkerHeap(1, -5);
  const exp = await scrape(m);
  assert.equal(valueOf(exp, 'auralis_worker_heap_used_bytes', { worker: '0' }), 8_000_000);
  assert.equal(valueOf(exp, 'auralis_worker_heap_used_bytes', { worker: '1' }), 7_500_000);
  assert.equal(seriesOf(exp, 'auralis_worker_heap_used_bytes').length, 2);
});
