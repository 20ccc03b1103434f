/**
 * The load generator's second clock (`bench/load-generator.ts`): one time stamp per event-loop turn.
 *
 * When thousands of sockets become readable together, libuv's poll phase runs their read callbacks
 * one after the other, and the per-read clock (`performance.now()` in each callback) stamps the
 * last of them with the time the generator took to walk the ones before: its own CPU, not the
 * server's lateness. The batch clock stamps every read of one poll phase with the time of the
 * phase's first read, the moment the generator learned that the batch was there.
 *
 * A phase ends with the loop's turn: the first read of a phase schedules a callback for the turn's
 * check phase (`setImmediate`, which runs after every poll callback of the turn) that closes the
 * batch; the next read after it opens a new one. Neither clock is the truth: the per-read stamp is
 * late by the walk before it, the batch stamp is early for bytes that arrived during the walk (libuv
 * polls again within the same phase when one poll returned a full event array). The benchmark
 * reports both.
 */
export class BatchClock {
  private batchMs = 0;
  private open = false;
  private readonly atTurnEnd: (close: () => void) => void;
  private readonly close = (): void => {
    this.open = false;
  };
  /** Batches opened (loop turns that read something). */
  batches = 0;

  /**
   * `atTurnEnd` schedules its argument to run once the loop's current turn has run its poll
   * callbacks (`setImmediate` in the generator; a fake in tests).
   */
  constructor(atTurnEnd: (close: () => void) => void = (c) => setImmediate(c)) {
    this.atTurnEnd = atTurnEnd;
  }

  /**
   * The batch time for a read made at `readMs` (its per-read stamp, so no second clock read): the
   * first read of a turn opens a batch at its own time, every later read of the turn gets that time.
   */
  stamp(readMs: number): number {
    if (!this.open) {
      this.open = true;
      this.batchMs = readMs;
      this.batches++;
      this.atTurnEnd(this.close);
    }
    return this.batchMs;
  }
}
