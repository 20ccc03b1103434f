// Turns a player's `stats` messages (PROTOCOL.md) into metrics, one tracker per connection.
//
// Players report their underrun count as a running total since they connected; the server adds only the
// increase since the previous report of the same connection, never the absolute, so a reconnecting or chatty
// player is not counted twice. Reports are untrusted input: values are validated and bounded before use.
import { MAX_CLIENT_BUFFER_SECONDS, type AuralisMetrics } from './metrics.ts';

/** One report may add at most this many underruns: a bogus client cannot inflate the counter at will. */
export const DEFAULT_MAX_UNDERRUN_INCREASE_PER_REPORT = 100;

export interface ClientStatsReport {
  bufferedMs: number;
  underruns: number;
  playedFrames?: number;
}

export type ClientStatsResult = { ok: true; underrunIncrease: number } | { ok: false; field: string };

export class ClientStatsTracker {
  private lastUnderruns: number | undefined;

  constructor(
    private readonly metrics: Pick<AuralisMetrics, 'clientUnderrunsTotal' | 'clientBufferSeconds'>,
    private readonly maxUnderrunIncreasePerReport = DEFAULT_MAX_UNDERRUN_INCREASE_PER_REPORT,
  ) {}

  /** Records one report; answers which field was invalid (and records nothing) when it is malformed. */
  report(stats: ClientStatsReport): ClientStatsResult {
    const { bufferedMs, underruns } = stats;
    if (typeof bufferedMs !== 'number' || !Number.isFinite(bufferedMs) || bufferedMs < 0) {
      return { ok: false, field: 'bufferedMs' };
    }
    if (typeof underruns !== 'number' || !Number.isSafeInteger(underruns) || underruns < 0) {
      return { ok: false, field: 'underruns' };
    }
    let increase: number;
    if (this.lastUnderruns === undefined) {
      // The first report of a connection: everything it counts happened on this connection.
      increase = underruns;
    } else if (underruns >= this.lastUnderruns) {
      increase = underruns - this.lastUnderruns;
    } else {
      // The player's count went down: it restarted counting (e.g. its audio context was rebuilt). Like
      // Prometheus's own counter-reset rule, the new total is the increase since the reset.
      increase = underruns;
    }
    this.lastUnderruns = underruns;
    increase = Math.min(increase, this.maxUnderrunIncreasePerReport);
    if (increase > 0) this.metrics.clientUnderrunsTotal.inc(increase);
    this.metrics.clientBufferSeconds.observe(Math.min(bufferedMs / 1000, MAX_CLIENT_BUFFER_SECONDS));
    return { ok: true, underrunIncrease: increase };
  }
}
