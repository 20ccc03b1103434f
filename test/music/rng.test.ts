import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/music/rng.ts';

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextU32());
}

describe('Rng', () => {
  it('reproduces the same stream for the same seed and differs across neighbouring seeds', () => {
    assert.deepEqual(draws(new Rng(42), 1000), draws(new Rng(42), 1000));
    const a = draws(new Rng(1), 1000);
    const b = draws(new Rng(2), 1000);
    const same = a.filter((v, i) => v === b[i]).length;
    assert.equal(same, 0);
  });

  it('is uniform: chi-square over 64 buckets of next() stays within the 99.9% bound', () => {
    const rng = new Rng(7);
    const buckets = new Array<number>(64).fill(0);
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const x = rng.next();
      assert.ok(x >= 0 && x < 1);
      buckets[Math.floor(x * 64)]!++;
    }
    const expected = n / 64;
    const chi2 = buckets.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    // 63 degrees of freedom: the 0.1% tail starts at about 103.4.
    assert.ok(chi2 < 103.4, `chi2 ${chi2}`);
  });

  it('keeps int, range, chance and pick inside their bounds with the right frequencies', () => {
    const rng = new Rng(3);
    const counts = [0, 0, 0, 0, 0];
    let hits = 0;
    for (let i = 0; i < 50_000; i++) {
      const k = rng.int(5);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 5);
      counts[k]!++;
      const r = rng.range(-2, 3);
      assert.ok(r >= -2 && r < 3);
      if (rng.chance(0.25)) hits++;
      assert.ok(['a', 'b'].includes(rng.pick(['a', 'b'])));
    }
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `int bucket ${c}`);
    assert.ok(Math.abs(hits / 50_000 - 0.25) < 0.01, `chance ${hits / 50_000}`);
  });

  it('forks stable sub-streams that do not depend on how much the parent has drawn', () => {
    const p1 = new Rng(9);
    const p2 = new Rng(9);
    draws(p2, 123);
    assert.deepEqual(draws(p1.fork(5), 100), draws(p2.fork(5), 100));
    const f5 = draws(new Rng(9).fork(5), 100);
    const f6 = draws(new Rng(9).fork(6), 100);
    const parent = draws(new Rng(9), 100);
    assert.equal(f5.filter((v, i) => v === f6[i] || v === parent[i]).length, 0);
  });
});
