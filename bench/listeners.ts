/**
 * `npm run bench:listeners -- --listeners 1,100,1000,5000 [--seconds 20] [--json]`
 *
 * Starts the server in its own process (pinned to CPU 0 when taskset exists) and a load generator in
 * another (pinned to CPU 1), then measures, for each listener count: lateness p50/p99 and jitter p95
 * at the listeners, gaps, and the server's CPU (user + system over wall, from /proc). Prints a table;
 * `--json` prints the raw results too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface ListenerBenchRow {
  listeners: number;
  seconds: number;
  latenessP50Ms: number;
  latenessP99Ms: number;
  latenessMaxMs: number;
  jitterP95Ms: number;
  gaps: number;
  discontinuities: number;
  chunksMeasured: number;
  expectedChunks: number;
  serverCpuPercent: number;
  generatorCpuPercent: number;
  connectSeconds: number;
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const hasTaskset = spawnSync('taskset', ['-V']).status === 0 && cpus().length >= 2;
function pinned(cpu: number, cmd: string, args: string[]): [string, string[]] {
  return hasTaskset ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, all threads
  return ticks / 100;
}

function lines(child: ChildProcess, onLine: (l: string) => void): void {
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

/**
 * What `npm start` runs: the bundle `npm run build` makes. Without a build, the sources through tsx
 * (measured here: same steady-state CPU, but slower start-up and occasional longer stalls).
 */
const SERVER_ENTRY = existsSync('dist/main.js') ? ['dist/main.js'] : ['--import', 'tsx', 'src/cli/main.ts'];

/** Warm-up before measuring: 3 s, plus 1 s per 500 listeners. */
export function warmupSeconds(listeners: number): number {
  return Math.max(3, Math.ceil(3 + listeners / 500));
}

export async function runListenerBench(
  listeners: number,
  seconds: number,
  extraServerArgs: string[] = [],
): Promise<ListenerBenchRow> {
  const leadMs = 150;
  const [cmd, args] = pinned(0, process.execPath, [
    ...SERVER_ENTRY,
    'serve',
    // Benchmarks keep no stations across runs.
    '--state-file=',
    '--port',
    '0',
    '--log-level',
    'warn',
    '--max-listeners',
    String(listeners + 100),
    '--max-connections-per-ip',
    String(listeners + 100),
    '--lead-ms',
    String(leadMs),
    '--workers',
    '1',
    ...extraServerArgs,
  ]);
  const server = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start')), 20_000);
    lines(server, (l) => {
      const m = /serving on (http:\/\/\S+)/.exec(l);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
  });
  const serverPid = hasTaskset
    ? Number(
        spawnSync('pgrep', ['-P', String(server.pid)])
          .stdout.toString()
          .trim(),
      ) || server.pid!
    : server.pid!;
  const [gcmd, gargs] = pinned(1, process.execPath, [
    '--import',
    'tsx',
    'bench/load-generator.ts',
    '--url',
    `${url.replace('http', 'ws')}/ws`,
    '--listeners',
    String(listeners),
    '--seconds',
    String(seconds),
    '--warmup-seconds',
    // Connecting thousands of listeners (and their join bursts) leaves the generator behind for a
    // while; measuring before it has caught up would report its backlog as server lateness.
    String(warmupSeconds(listeners)),
    '--lead-ms',
    String(leadMs),
  ]);
  const gen = spawn(gcmd, gargs, { stdio: ['ignore', 'pipe', 'inherit'] });
  let cpuStart = 0;
  let wallStart = 0;
  let result: Record<string, unknown>;
  let serverCpuPercent: number;
  try {
    result = await new Promise<Record<string, unknown>>((resolve, reject) => {
      lines(gen, (l) => {
        const msg = JSON.parse(l) as Record<string, unknown>;
        if (msg.phase === 'measuring') {
          cpuStart = cpuSeconds(serverPid);
          wallStart = performance.now();
        } else if (msg.phase === 'done') resolve(msg);
      });
      gen.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`load generator exited ${code}`))));
    });
    serverCpuPercent = ((cpuSeconds(serverPid) - cpuStart) / ((performance.now() - wallStart) / 1000)) * 100;
  } finally {
    // Never leave the server behind, whatever happened to the generator.
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
  }
  const l = result.latenessMs as Record<string, number>;
  const j = result.jitterMs as Record<string, number>;
  return {
    listeners,
    seconds,
    latenessP50Ms: l.p50!,
    latenessP99Ms: l.p99!,
    latenessMaxMs: l.max!,
    jitterP95Ms: j.p95!,
    gaps: result.gaps as number,
    discontinuities: result.discontinuities as number,
    chunksMeasured: result.chunksMeasured as number,
    expectedChunks: result.expectedChunks as number,
    serverCpuPercent,
    generatorCpuPercent: result.generatorCpuPercent as number,
    connectSeconds: result.connectSeconds as number,
  };
}

export function formatListenerTable(rows: ListenerBenchRow[]): string {
  const head =
    '| listeners | lateness p50 (ms) | lateness p99 (ms) | jitter p95 (ms) | gaps | server CPU (% of a core) | chunks received / expected |';
  const sep = '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const body = rows.map(
    (r) =>
      `| ${r.listeners} | ${r.latenessP50Ms.toFixed(1)} | ${r.latenessP99Ms.toFixed(1)} | ${r.jitterP95Ms.toFixed(2)} | ${r.gaps} | ${r.serverCpuPercent.toFixed(1)} | ${r.chunksMeasured} / ${r.expectedChunks} |`,
  );
  return [head, sep, ...body].join('\n');
}

async function main(): Promise<void> {
  const counts = flag('listeners', '1,100,1000,5000').split(',').map(Number);
  const seconds = Number(flag('seconds', '20'));
  const rows: ListenerBenchRow[] = [];
  for (const n of counts) {
    process.stderr.write(`bench:listeners: ${n} listener(s) for ${seconds} s…\n`);
    rows.push(await runListenerBench(n, seconds));
  }
  console.log(
    `server pinned to CPU 0, load generator to CPU 1: ${hasTaskset ? 'yes' : 'no (taskset unavailable)'}`,
  );
  console.log(formatListenerTable(rows));
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows, null, 2));
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
