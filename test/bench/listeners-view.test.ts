// bench:listeners' server view: the window's change of the server's histograms between two /metrics
// scrapes (WebSocket lateness only), read as bucket bounds at a quantile.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serverView } from '../../bench/listeners.ts';
import { histogramBound, histogramDelta, parseProm } from '../../bench/lib/prom.ts';

const L = 'auralis_chunk_lateness_seconds';
const series = (name: string, labels: string, les: string[], c: number[], sum: number): string =>
  [
    ...les.map((le, i) => `${name}_bucket{le="${le}"${labels}} ${c[i]}`),
    `${name}_sum${labels ? `{${labels.slice(1)}}` : ''} ${sum}`,
    `${name}_count${labels ? `{${labels.slice(1)}}` : ''} ${c[c.length - 1]}`,
  ].join('\n');

describe('bench:listeners server view', () => {
  const les = ['0.01', '0.05', '+Inf'];
  const before = parseProm(
    [
      series(L, ',transport="ws"', les, [10, 10, 10], 0.05),
      series(L, ',transport="ogg"', les, [0, 0, 0], 0),
      series('auralis_fanout_seconds', '', ['0.04', '0.05', '+Inf'], [0, 0, 0], 0),
      series('auralis_gc_pause_seconds', ',kind="minor"', ['0.001', '+Inf'], [1, 1], 0.0005),
    ].join('\n'),
  );
  const after = parseProm(
    [
      series(L, ',transport="ws"', les, [60, 108, 110], 2.05),
      series(L, ',transport="ogg"', les, [0, 5, 5], 0.1),
      series('auralis_fanout_seconds', '', ['0.04', '0.05', '+Inf'], [50, 99, 100], 4.5),
      series('auralis_gc_pause_seconds', ',kind="minor"', ['0.001', '+Inf'], [5, 5], 0.0025),
    ].join('\n'),
  );

  it('reads the bucket bound holding a quantile', () => {
    const h = histogramDelta(before, after, L, { transport: 'ws' });
    assert.equal(h.count, 100);
    assert.equal(histogramBound(h, 0.5), 0.01);
    assert.equal(histogramBound(h, 0.98), 0.05);
    assert.equal(histogramBound(h, 0.99), Infinity);
    assert.ok(Number.isNaN(histogramBound({ buckets: [], count: 0, sum: 0 }, 0.5)));
  });

  it("takes the window's WebSocket lateness, fan-out and GC pauses", () => {
    const v = serverView(before, after, 2);
    assert.equal(v.latenessP50LeMs, 10);
    assert.equal(v.latenessP99LeMs, Infinity);
    assert.equal(v.latenessWithin50MsPercent, 98, 'the Ogg series is not counted');
    assert.equal(v.fanouts, 100);
    assert.ok(Math.abs(v.fanoutMeanMs - 45) < 1e-9);
    assert.equal(v.fanoutP99LeMs, 50);
    assert.equal(v.gcPauses, 4);
    assert.ok(Math.abs(v.gcMsPerSecond - 1) < 1e-9);
  });
});
