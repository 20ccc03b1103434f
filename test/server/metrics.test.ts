import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, json, sleep, withServer } from './helpers.ts';

/** Value of one sample of the text exposition, e.g. `auralis_listeners{transport="ws"}`. */
function sample(text: string, name: string, labels = ''): number {
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith(`${name}${labels} `) ||
        (labels === '' && l.startsWith(`${name}{`) === false && l.startsWith(`${name} `)),
    );
  assert.ok(line, `${name}${labels} in /metrics`);
  return Number(line.split(' ').pop());
}

describe('metrics wired to the server', () => {
  it('counts listeners, chunks, synthesis, control changes and client reports', async () => {
    await withServer({}, async (server) => {
      const a = await connect(server, 'codec=pcm');
      const b = await connect(server);
      await a.waitChunks(5);
      await json(server, 'PATCH', '/api/stations/default', { intensity: 0.6 });
      await json(server, 'PATCH', '/api/stations/default', { bpm: 500 });
      a.send({ type: 'stats', bufferedMs: 120, underruns: 2, playedFrames: 48000 });
      a.send({ type: 'stats', bufferedMs: 130, underruns: 3, playedFrames: 96000 });
      // The engine worker reports its timings once a second: poll until they are in (or 10 s pass).
      let text = '';
      for (let tries = 0; tries < 20; tries++) {
        await sleep(500);
        const res = await fetch(`${server.url}/metrics`);
        assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
        text = await res.text();
        const synthesized = /auralis_synthesis_seconds_count\{station="default"\} (\d\d+)/.test(text);
        const workerHeap = /auralis_worker_heap_used_bytes\{worker="0"\} /.test(text);
        if (synthesized && workerHeap && /auralis_ring_buffered_seconds\{station="default"\} /.test(text))
          break;
      }
      assert.equal(sample(text, 'auralis_listeners', '{transport="ws"}'), 2);
      assert.ok(sample(text, 'auralis_chunks_sent_total', '{transport="ws"}') >= 10);
      assert.ok(sample(text, 'auralis_synthesis_seconds_count', '{station="default"}') >= 10);
      // Reported (its size right after start-up reflects cold JIT; the benchmark measures it properly).
      assert.ok(sample(text, 'auralis_realtime_factor', '{station="default"}') > 0);
      assert.ok(sample(text, 'auralis_encode_seconds_count', '{codec="opus"}') >= 10);
      assert.ok(sample(text, 'auralis_ring_buffered_seconds', '{station="default"}') > 0);
      assert.equal(sample(text, 'auralis_control_changes_total', '{source="api",result="ok"}'), 1);
      assert.equal(sample(text, 'auralis_control_changes_total', '{source="api",result="rejected"}'), 1);
      assert.equal(sample(text, 'auralis_control_latency_seconds_count'), 1);
      assert.equal(sample(text, 'auralis_client_underruns_total'), 3, 'increases, not totals, are added');
      assert.equal(sample(text, 'auralis_client_buffer_seconds_count'), 2);
      assert.ok(sample(text, 'auralis_chunk_lateness_seconds_count', '{transport="ws"}') >= 5);
      // The engine worker's own heap, from its stats report: a live isolate uses megabytes.
      assert.ok(sample(text, 'auralis_worker_heap_used_bytes', '{worker="0"}') > 1_000_000);
      assert.match(text, /nodejs_eventloop_lag_seconds/);
      assert.match(text, /nodejs_gc_duration_seconds/);
      a.close();
      b.close();
    });
  });
});
