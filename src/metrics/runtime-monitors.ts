// The process-wide monitors a server runs beside its registry, started and stopped as one.
import { GcObserver } from './gc-observer.ts';
import { MemoryMonitor, type MemoryMonitorOptions } from './memory-monitor.ts';
import type { AuralisMetrics } from './metrics.ts';

export interface RuntimeMonitors {
  readonly memory: MemoryMonitor;
  readonly gc: GcObserver;
  /** Stops both; nothing of theirs is left running. Idempotent. */
  stop(): void;
}

export function startRuntimeMonitors(
  metrics: AuralisMetrics,
  memoryOptions: Omit<MemoryMonitorOptions, 'metrics'> = {},
): RuntimeMonitors {
  const memory = new MemoryMonitor({ ...memoryOptions, metrics });
  const gc = new GcObserver({ metrics });
  memory.start();
  gc.start();
  return {
    memory,
    gc,
    stop() {
      memory.stop();
      gc.stop();
    },
  };
}
