import type { StationStats } from '../engine/messages.ts';
import type { Transport } from './broadcast/listener.ts';
import type { ServerConfig } from './config.ts';
import type { ControlResultLabel, ServerContext } from './context.ts';
import type { ControlSource } from './control.ts';
import type { Station } from './station.ts';

/** Adapter between the server's events and the Prometheus metrics (src/metrics). */
export class ServerMetrics {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  readonly counts = { sent: 0, skipped: 0, restarts: 0 };
  constructor(_config: ServerConfig) {}
  start(_ctx: ServerContext): void {}
  stop(): void {}
  async expose(): Promise<string> {
    return '';
  }
  stationRemoved(_id: string): void {}
  controlLatency(_source: ControlSource, _seconds: number): void {}
  controlChange(_source: ControlSource, _result: ControlResultLabel): void {}
  engineStats(_stats: StationStats[], _find: (id: string) => Station | undefined): void {}
  workerRestarted(): void {
    this.counts.restarts++;
  }
  listeners(_t: Transport, _delta: number): void {}
  clientUnderruns(_n: number): void {}
  clientBuffer(_seconds: number): void {}
  chunkPublished(
    _st: Station,
    _lateness: number,
    _jitter: number | null,
    sends: number,
    _skips: number,
  ): void {
    this.counts.sent += sends;
  }
  skipped(_t: Transport): void {
    this.counts.skipped++;
  }
  sent(_t: Transport, n: number): void {
    this.counts.sent += n;
  }
}
