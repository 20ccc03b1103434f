// What a process holds (handles, requests, worker threads), to check that a server left nothing
// behind once closed (test/server/lifecycle.test.ts, test/cluster/lifecycle.test.ts).
import { sleep } from './helpers.ts';

function counts(items: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}

/** What `after` holds beyond `before` (type → extra count). */
export function extra(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of after) if (n > (before.get(k) ?? 0)) out[k] = n - (before.get(k) ?? 0);
  return out;
}

export interface Snapshot {
  /** process.getActiveResourcesInfo(): referenced handles and requests. */
  resources: Map<string, number>;
  /** Active libuv handles of any kind, referenced or not (unref-ed timers included). */
  uvHandles: Map<string, number>;
  /** Worker threads of this process. */
  workers: number;
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await sleep(50);
    await new Promise((r) => setImmediate(r));
  }
}

export function snapshot(): Snapshot {
  const report = process.report.getReport() as unknown as {
    libuv: { type: string; is_active: boolean }[];
    workers: unknown[];
  };
  return {
    resources: counts(process.getActiveResourcesInfo()),
    uvHandles: counts(report.libuv.filter((h) => h.is_active).map((h) => h.type)),
    workers: report.workers.length,
  };
}
