// bench:listeners' server view: a histogram's change between two /metrics scrapes, summed over the
// matching series, and the bucket bound at a quantile.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bucketQuantileMs, histogramDelta } from '../../bench/listeners.ts';

const scrape = (lines: string[]): Map<string, number> =>
  new Map(lines.map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));

describe('bench:listeners server view', () => {
  const name = 'auralis_chunk_lateness_seconds';
  const series = (t: string, c: [number, number, number], sum: number): string[] => [
    `${name}_bucket{le="0.01",transport="${t}"} ${c[0]}`,
    `${name}_bucket{le="0.05",transport="${t}"} ${c[1]}`,
    `${name}_bucket{le="+Inf",transport="${t}"} ${c[2]}`,
    `${name}_sum{transport="${t}"} ${sum}`,
    `${name}_count{transport="${t}"} ${c[2]}`,
  ];
  const before = scrape([...series('ws', [10, 10, 10], 0.05), ...series('ogg', [0, 0, 0], 0)]);
  const after = scrape([...series('ws', [60, 108, 110], 2.05), ...series('ogg', [0, 5, 5], 0.1)]);

  it('takes the window delta of the matching series only', () => {
    const h = histogramDelta(before, after, name, 'transport="ws"');
    assert.deepEqual(h.buckets, [
      [0.01, 50],
      [0.05, 98],
      [Infinity, 100],
    ]);
    assert.equal(h.count, 100);
    assert.ok(Math.abs(h.sum - 2) < 1e-9);
    // Without a filter, both transports add up.
    assert.equal(histogramDelta(before, after, name).count, 105);
  });

  it('gives the smallest bucket bound holding the quantile', () => {
    const h = histogramDelta(before, after, name, 'transport="ws"');
    assert.equal(bucketQuantileMs(h, 50), 10);
    assert.equal(bucketQuantileMs(h, 98), 50);
    assert.equal(bucketQuantileMs(h, 99), Infinity);
    assert.ok(Number.isNaN(bucketQuantileMs({ buckets: [], count: 0 }, 50)));
  });
});
