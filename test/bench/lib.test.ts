import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { histogramDelta, histogramQuantile, parseProm } from '../../bench/lib/prom.ts';
import { improvement } from '../../bench/lib/stats.ts';
import { TraceGcCounter } from '../../bench/lib/trace-gc.ts';

const scrape = (counts: number[], sum: number): string =>
  [
    ...['0.001', '0.002', '0.005', '+Inf'].map(
      (le, i) => `h_bucket{le="${le}",station="bench"} ${counts[i]}`,
    ),
    `h_sum{station="bench"} ${sum}`,
    `h_count{station="bench"} ${counts[3]}`,
    'h_bucket{le="+Inf",station="other"} 99',
  ].join('\n');

describe('benchmark helpers', () => {
  it('interpolates a quantile inside the bucket of the window, like histogram_quantile', () => {
    const h = histogramDelta(
      parseProm(scrape([1, 1, 1, 1], 0.001)),
      parseProm(scrape([11, 21, 31, 31], 0.061)),
      'h',
      {
        station: 'bench',
      },
    );
    assert.equal(h.count, 30);
    assert.ok(Math.abs(h.sum - 0.06) < 1e-12);
    assert.equal(histogramQuantile(h, 0.5), 0.0015); // rank 15: halfway through (1 ms, 2 ms]
    assert.equal(histogramQuantile(h, 1), 0.005);
  });

  it('counts GC pauses per kind from --trace-gc lines of every isolate, ignoring other output', () => {
    const c = new TraceGcCounter();
    assert.equal(c.line('auralis: serving on http://127.0.0.1:1'), false);
    c.line(
      '[1:0x9e8ee10]       72 ms: Scavenge 4.6 (4.7) -> 4.2 (5.7) MB, 1.62 / 0.00 ms  (average mu = 1.000) allocation failure; ',
    );
    c.line(
      '[1:0x7f368c000f00]  8175 ms: Mark-Compact (reduce) 8.7 (15.7) -> 5.9 (8.7) MB, 2.03 / 0.03 ms  (+ 12.5 ms in 12 steps since start of marking, biggest step 11.6 ms) finalize',
    );
    const s = c.snapshot();
    assert.deepEqual([s.minor.count, s.major.count, s.incremental.count, s.isolates], [1, 1, 12, 2]);
    assert.equal(s.major.totalPauseMs, 2.03);
    assert.equal(s.incremental.totalPauseMs, 12.5);
  });

  it('computes the improvement from the printed values, and refuses a meaningless ratio', () => {
    assert.equal(improvement('10.0', '4.0'), '60.0%');
    assert.equal(improvement('4.0', '10.0'), '-150.0%');
    assert.equal(improvement('0', '0'), '0.0%');
    assert.equal(improvement('0', '3'), 'n/a (baseline 0)');
    assert.equal(improvement('-2.5', '1'), 'n/a (baseline < 0)');
  });
});
