/**
 * Notices when the player has fallen far behind live and asks for a fresh connection.
 *
 * On a link slower than the stream (or behind a deep queue), TCP delivers every byte, late: the
 * backlog sits in the network (the server's socket buffer, a router queue), not in the jitter
 * buffer, so the buffer's own limits cannot see it and the lag behind live grows without bound.
 * Only a new connection drops that backlog (the server starts it at live). The watchdog asks for
 * one when the lag has stayed above the buffer target + MAX_EXCESS_LAG_MS for HOLD_MS, and at most
 * once per COOLDOWN_MS, so a link that cannot carry the stream reconnects now and then instead of
 * drifting minutes behind.
 */
export const MAX_EXCESS_LAG_MS = 2000;
export const HOLD_MS = 3000;
export const COOLDOWN_MS = 15_000;

export class LagWatchdog {
  private aboveSinceMs: number | null = null;
  private lastCatchUpMs = -Infinity;
  private count = 0;

  /**
   * One observation: `lagMs` behind live (null when unknown, e.g. while buffering: ignored) with
   * the buffer's current target. Returns true when the caller should reconnect now.
   */
  update(nowMs: number, lagMs: number | null, targetMs: number): boolean {
    if (lagMs === null || !Number.isFinite(lagMs)) return false;
    if (lagMs <= targetMs + MAX_EXCESS_LAG_MS) {
      this.aboveSinceMs = null;
      return false;
    }
    this.aboveSinceMs ??= nowMs;
    if (nowMs - this.aboveSinceMs < HOLD_MS || nowMs - this.lastCatchUpMs < COOLDOWN_MS) return false;
    this.aboveSinceMs = null;
    this.lastCatchUpMs = nowMs;
    this.count++;
    return true;
  }

  /** Forget the current episode (stop, a new source). The count is kept. */
  reset(): void {
    this.aboveSinceMs = null;
  }

  /** Reconnects asked for so far. */
  get catchUps(): number {
    return this.count;
  }
}
