/**
 * `npm run bench:faults [-- --window-ms 4000 --stop-ms 5000 --fd-limit 64 --stations 1 --json]`
 *
 * Runs each fault once against the built server (`npm run build:server` first: dist/main.js, what
 * `npm start` runs) with a WebSocket and an Ogg listener, and prints a table: what each listener
 * heard, what the metrics and the log said, and the time to recover. See bench/lib/fault-harness.ts
 * and docs/ARCHITECTURE.md ("Faults").
 */
import { cpus, loadavg } from 'node:os';
import { faultTable, runFaultSuite } from './lib/fault-harness.ts';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? Number(process.argv[i + 1]) : fallback;
}

const rows = await runFaultSuite({
  windowMs: flag('window-ms', 4000),
  stopMs: flag('stop-ms', 5000),
  fdLimit: flag('fd-limit', 64),
  extraStations: flag('stations', 1) - 1,
  log: (l) => console.error(l),
});
console.log(
  `\n${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}, node ${process.version}\n`,
);
console.log(faultTable(rows));
if (process.argv.includes('--json')) console.log(JSON.stringify(rows, null, 2));
const failed = rows.filter((r) => r.recoverMs === null || r.problem !== null || r.ws.bad + r.ogg.bad > 0);
process.exitCode = failed.length > 0 ? 1 : 0;
