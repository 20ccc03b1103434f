/**
 * Idle cost: CPU and RSS of a server whose stations have no listener.
 *
 * Starts a server in this process (1 engine worker), measures process CPU (all threads) and RSS over
 * a window with only the `default` station, then with `--extra` more stations, and prints one JSON
 * line: CPU % of one core and MB, in total and per idle station.
 *
 * Usage: node --import tsx bench/idle.ts [--seconds 20] [--extra 4]
 */
import { startServer } from '../src/server/server.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

const seconds = arg('seconds', 20);
const extra = Math.round(arg('extra', 4));

async function measure(ms: number): Promise<{ cpuPercent: number; rssMb: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const c = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  return {
    cpuPercent: ((c.user + c.system) / 1000 / wallMs) * 100,
    rssMb: process.memoryUsage().rss / 2 ** 20,
  };
}

const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  workers: 1,
  logLevel: 'silent',
  stateFile: '',
});
try {
  await new Promise((r) => setTimeout(r, 3000)); // settle: warm-up, first GCs
  const one = await measure(seconds * 1000);
  for (let i = 0; i < extra; i++) await server.registry.create({ id: `idle-${i}` });
  await new Promise((r) => setTimeout(r, 3000));
  const more = await measure(seconds * 1000);
  const round = (x: number): number => Math.round(x * 100) / 100;
  console.log(
    JSON.stringify({
      seconds,
      oneStation: { cpuPercent: round(one.cpuPercent), rssMb: round(one.rssMb) },
      stations: 1 + extra,
      allStations: { cpuPercent: round(more.cpuPercent), rssMb: round(more.rssMb) },
      perExtraStation: {
        cpuPercent: round((more.cpuPercent - one.cpuPercent) / extra),
        rssMb: round((more.rssMb - one.rssMb) / extra),
      },
    }),
  );
} finally {
  await server.close();
}
