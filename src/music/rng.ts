/**
 * The one random number generator of Auralis: sfc32 (Chris Doty-Humphrey's Small Fast Counter,
 * 32-bit variant), seeded through splitmix32. Deterministic across platforms (only 32-bit integer
 * arithmetic through Math.imul and >>> 0), allocation-free after construction, and forkable into
 * independent sub-streams so that adding a random call in one part of the score (say, texture)
 * does not shift the numbers another part (say, melody) receives.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** The seed this generator was built from; fork() mixes it with a label. */
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    // splitmix32 expands one 32-bit seed into four well-mixed state words, so neighbouring
    // seeds (0, 1, 2 …) give unrelated streams.
    let s = this.seed;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    // sfc32 recommends discarding the first outputs to leave the seeding neighbourhood.
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** Uniform integer in [0, 2^32). */
  nextU32(): number {
    const a = this.a;
    const b = this.b;
    const c = this.c;
    const d = this.d;
    const t = (((a + b) >>> 0) + d) >>> 0;
    this.d = (d + 1) >>> 0;
    this.a = (b ^ (b >>> 9)) >>> 0;
    this.b = (c + (c << 3)) >>> 0;
    this.c = (((c << 21) | (c >>> 11)) + t) >>> 0;
    return t;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4_294_967_296;
  }

  /** Uniform float in [min, max). */
  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Uniform integer in [0, n) for n ≥ 1 (n < 2^32). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(arr: readonly T[]): T {
    return arr[this.int(arr.length)]!;
  }

  /**
   * An independent generator derived from this one's seed and a label (not from its current
   * position), so forks are stable no matter how many numbers the parent has produced.
   */
  fork(label: number): Rng {
    const mixed = Math.imul((this.seed ^ Math.imul(label >>> 0, 0x27d4eb2d)) >>> 0, 0x165667b1) >>> 0;
    return new Rng((mixed ^ (mixed >>> 15) ^ 0x5bd1e995) >>> 0);
  }
}
