/**
 * Stereo correlation (Pearson coefficient of left and right): +1 mono, 0 unrelated, −1 out of
 * phase. A mix whose correlation stays positive folds down to mono without cancelling.
 */

/** Streaming accumulator: push chunks, read `correlation` at any time. */
export class StereoCorrelationMeter {
  private sumLL = 0;
  private sumRR = 0;
  private sumLR = 0;
  private sumL = 0;
  private sumR = 0;
  private frames = 0;

  push(left: ArrayLike<number>, right: ArrayLike<number>, count = left.length): void {
    let sLL = 0;
    let sRR = 0;
    let sLR = 0;
    let sL = 0;
    let sR = 0;
    for (let i = 0; i < count; i++) {
      const l = left[i]!;
      const r = right[i]!;
      sLL += l * l;
      sRR += r * r;
      sLR += l * r;
      sL += l;
      sR += r;
    }
    this.sumLL += sLL;
    this.sumRR += sRR;
    this.sumLR += sLR;
    this.sumL += sL;
    this.sumR += sR;
    this.frames += count;
  }

  /** Pearson correlation of everything pushed so far; 0 when either channel is silent. */
  get correlation(): number {
    const n = this.frames;
    if (n === 0) return 0;
    const cov = this.sumLR / n - (this.sumL / n) * (this.sumR / n);
    const varL = this.sumLL / n - (this.sumL / n) ** 2;
    const varR = this.sumRR / n - (this.sumR / n) ** 2;
    if (varL <= 0 || varR <= 0) return 0;
    return cov / Math.sqrt(varL * varR);
  }
}

/** Pearson correlation of left[start, end) and right[start, end). */
export function stereoCorrelation(
  left: ArrayLike<number>,
  right: ArrayLike<number>,
  start = 0,
  end = left.length,
): number {
  const m = new StereoCorrelationMeter();
  if (start === 0) m.push(left, right, end);
  else {
    const l = Array.prototype.slice.call(left, start, end) as number[];
    const r = Array.prototype.slice.call(right, start, end) as number[];
    m.push(l, r, l.length);
  }
  return m.correlation;
}
