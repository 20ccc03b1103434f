/**
 * `npm run bench:cluster -- --edges N --listeners M [--generators G] [--seconds S] [--stations K]
 * [--no-single]`: the scale-out measured. Starts a redis-server, one origin and N edges (each pinned
 * to a CPU when taskset exists: the origin and Redis on CPU 0, edge i on CPU i mod CPUs), spreads M
 * WebSocket listeners of the default station over the edges with the raw load generator
 * (bench/load-generator.ts, G processes per edge, their samples merged), and prints per edge: its
 * listeners, lateness p50/p99, jitter p95, gaps and CPU; the origin's CPU with 1 station and with K
 * (and per station: the difference divided by K − 1); Redis's CPU (from /proc/<pid>/stat); then the
 * same M listeners against a single process (`--role all`) for comparison.
 *
 * Every process it starts is stopped by its PID at the end, whatever happened. Numbers depend on the
 * machine and on what else runs: the load average is printed with them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from '../src/metrics/percentile.ts';
import {
  HAS_TASKSET as hasTaskset,
  pinned,
  readSamples,
  startGenerator,
  stopGenerators,
  type Generator,
} from './lib/generators.ts';
import { cpuSeconds, serverEntry, stdoutLines as lines } from './lib/proc.ts';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const NCPU = cpus().length;
const SERVER_ENTRY = serverEntry();
const LEAD_MS = 150;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const started: ChildProcess[] = [];

async function stopAll(): Promise<void> {
  for (const p of started.reverse()) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }
  started.length = 0;
}

interface Node {
  child: ChildProcess;
  pid: number;
  url: string;
}

/** `auralis serve` with `args` on `cpu`; resolves once it serves. */
async function startNode(cpu: number, args: string[], listeners: number): Promise<Node> {
  const [cmd, a] = pinned(cpu, process.execPath, [
    ...SERVER_ENTRY,
    'serve',
    '--state-file=',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--log-level',
    'warn',
    '--max-listeners',
    String(listeners + 100),
    '--max-connections-per-ip',
    String(listeners + 100),
    '--lead-ms',
    String(LEAD_MS),
    '--workers',
    '1',
    ...args,
  ]);
  const child = spawn(cmd, a, { stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`auralis ${args.join(' ')} did not start in 60 s`)), 60_000);
    child.once('exit', (code) => reject(new Error(`auralis ${args.join(' ')} exited ${code}`)));
    lines(child, (l) => {
      const m = /serving on (http:\/\/\S+)/.exec(l);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
  });
  // taskset execs the command: the same PID.
  return { child, pid: child.pid!, url };
}

async function startRedis(): Promise<{ child: ChildProcess; pid: number; port: number }> {
  const port = await freePort();
  const [cmd, a] = pinned(0, 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  const child = spawn(cmd, a, { stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(child);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('redis-server did not start in 10 s')), 10_000);
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code}`)));
    lines(child, (l) => {
      if (l.includes('Ready to accept connections')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  return { child, pid: child.pid!, port };
}

interface Target {
  label: string;
  url: string;
  pid: number;
  listeners: number;
}

interface TargetResult {
  label: string;
  listeners: number;
  latenessP50Ms: number;
  latenessP99Ms: number;
  jitterP95Ms: number;
  gaps: number;
  closedEarly: number;
  chunksMeasured: number;
  expectedChunks: number;
  cpuPercent: number;
}

/**
 * Runs `generators` load generators per target (pinned round-robin past the targets' CPUs), waits for
 * every listener's welcome and a warm-up, then measures `seconds` together; `others` are processes
 * whose CPU is sampled over the same window.
 */
async function measure(
  targets: Target[],
  generators: number,
  seconds: number,
  others: Record<string, number>,
): Promise<{ rows: TargetResult[]; otherCpu: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'auralis-cluster-bench-'));
  const gens: (Generator & { target: number; id: string })[] = [];
  try {
    let g = 0;
    targets.forEach((t, ti) => {
      const n = Math.max(1, Math.min(generators, t.listeners));
      for (let k = 0; k < n; k++, g++) {
        const share = Math.floor(t.listeners / n) + (k < t.listeners % n ? 1 : 0);
        const id = `${ti}-${k}`;
        const gen = startGenerator(g + 1, {
          url: t.url,
          listeners: share,
          seconds,
          leadMs: LEAD_MS,
          samplesDir: dir,
          id,
        });
        started.push(gen.child);
        gens.push({ ...gen, target: ti, id });
      }
    });
    await Promise.all(gens.map((x) => x.connected));
    const total = targets.reduce((a, t) => a + t.listeners, 0);
    // Let the join bursts drain before measuring (as bench:listeners does).
    await new Promise((r) => setTimeout(r, Math.max(3, Math.ceil(3 + total / 500)) * 1000));
    for (const x of gens) x.measure();
    const pids = { ...Object.fromEntries(targets.map((t) => [t.label, t.pid])), ...others };
    const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const w0 = performance.now();
    const results = await Promise.all(gens.map((x) => x.done));
    const wall = (performance.now() - w0) / 1000;
    const cpu = Object.fromEntries(
      Object.entries(pids).map(([k, pid]) => [k, ((cpuSeconds(pid) - cpu0[k]!) / wall) * 100]),
    );
    const rows = targets.map((t, ti) => {
      const mine = gens.map((x, i) => ({ ...x, r: results[i]! })).filter((x) => x.target === ti);
      const late = readSamples(
        dir,
        mine.map((x) => x.id),
        'lateness',
      );
      const jit = readSamples(
        dir,
        mine.map((x) => x.id),
        'jitter',
      );
      const sum = (k: string): number => mine.reduce((a, x) => a + (x.r[k] as number), 0);
      return {
        label: t.label,
        listeners: t.listeners,
        latenessP50Ms: percentile(late, 50),
        latenessP99Ms: percentile(late, 99),
        jitterP95Ms: percentile(jit, 95),
        gaps: sum('gaps'),
        closedEarly: sum('closedEarly'),
        chunksMeasured: sum('chunksMeasured'),
        expectedChunks: sum('expectedChunks'),
        cpuPercent: cpu[t.label]!,
      };
    });
    const otherCpu = Object.fromEntries(Object.keys(others).map((k) => [k, cpu[k]!]));
    return { rows, otherCpu };
  } finally {
    await stopGenerators(gens);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The origin's CPU (% of a core) over `seconds`, sampled from /proc. */
async function cpuOver(pid: number, seconds: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return ((cpuSeconds(pid) - c0) / ((performance.now() - w0) / 1000)) * 100;
}

function table(rows: TargetResult[]): string {
  const head =
    '| node | listeners | lateness p50 (ms) | lateness p99 (ms) | jitter p95 (ms) | gaps | closed early | chunks received / expected | CPU (% of a core) |';
  const sep = '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  return [
    head,
    sep,
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.listeners} | ${r.latenessP50Ms.toFixed(1)} | ${r.latenessP99Ms.toFixed(1)} | ${r.jitterP95Ms.toFixed(2)} | ${r.gaps} | ${r.closedEarly} | ${r.chunksMeasured} / ${r.expectedChunks} | ${r.cpuPercent.toFixed(1)} |`,
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  const edges = Number(flag('edges', '2'));
  const listeners = Number(flag('listeners', '1000'));
  const generators = Number(flag('generators', '1'));
  const seconds = Number(flag('seconds', '20'));
  const stations = Number(flag('stations', '8'));
  const single = !process.argv.includes('--no-single');
  for (const [k, v, min] of [
    ['edges', edges, 1],
    ['listeners', listeners, 1],
    ['generators', generators, 1],
    ['seconds', seconds, 1],
    ['stations', stations, 2],
  ] as const)
    if (!Number.isInteger(v) || v < min) throw new Error(`--${k} must be a whole number ≥ ${min}`);
  const log = (m: string): void => void process.stderr.write(`bench:cluster: ${m}\n`);
  const out: string[] = [];
  try {
    const redis = await startRedis();
    const redisUrl = `redis://127.0.0.1:${redis.port}`;
    // Stations live without listeners (--idle-after-ms 0), so the origin's CPU per station can be
    // measured with stations nobody listens to.
    const common = ['--redis', redisUrl, '--idle-after-ms', '0'];
    const origin = await startNode(0, ['--role', 'origin', ...common, '--render-ahead-ms', '1500'], 0);
    const edgeNodes: Node[] = [];
    for (let i = 0; i < edges; i++)
      edgeNodes.push(await startNode(i + 1, ['--role', 'edge', ...common], listeners));
    log(
      `redis, 1 origin and ${edges} edge(s) up; ${listeners} listeners, ${generators} generator(s) per edge`,
    );
    // The default station is defined by the edges; wait until its audio flows.
    for (const e of edgeNodes) {
      for (let i = 0; ; i++) {
        const r = await fetch(`${e.url}/readyz`);
        if (r.ok) break;
        if (i > 300) throw new Error(`edge ${e.url} not ready in 30 s`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    const targets = edgeNodes.map((e, i) => ({
      label: `edge ${i + 1}`,
      url: e.url,
      pid: e.pid,
      listeners: Math.floor(listeners / edges) + (i < listeners % edges ? 1 : 0),
    }));
    const cluster = await measure(targets, generators, seconds, { origin: origin.pid, redis: redis.pid });
    out.push(
      `### Cluster: 1 origin, ${edges} edge(s), ${listeners} listeners of one station, ${seconds} s` +
        ` (load average ${loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')} at the end; ${NCPU} CPUs; ${hasTaskset ? 'pinned with taskset' : 'not pinned'})`,
      '',
      table(cluster.rows),
      '',
      `origin CPU during it: ${cluster.otherCpu.origin!.toFixed(1)} % of a core; redis-server: ${cluster.otherCpu.redis!.toFixed(1)} %`,
    );
    // The origin's CPU per station: 1 station, then `stations` (all live, no listeners).
    const one = await cpuOver(origin.pid, 10);
    for (let i = 2; i <= stations; i++) {
      const r = await fetch(`${edgeNodes[0]!.url}/api/stations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: `bench-${i}`, seed: i }),
      });
      if (!r.ok) throw new Error(`creating station bench-${i}: HTTP ${r.status} ${await r.text()}`);
    }
    await new Promise((r) => setTimeout(r, 5000));
    const redis0 = cpuSeconds(redis.pid);
    const w0 = performance.now();
    const many = await cpuOver(origin.pid, 10);
    const redisMany = ((cpuSeconds(redis.pid) - redis0) / ((performance.now() - w0) / 1000)) * 100;
    out.push(
      '',
      `origin CPU, no listeners: 1 station ${one.toFixed(1)} %, ${stations} stations ${many.toFixed(1)} % of a core: ` +
        `${((many - one) / (stations - 1)).toFixed(1)} % per station; redis-server with ${stations} stations: ${redisMany.toFixed(1)} % ` +
        `(${(redisMany / stations).toFixed(2)} % per station)`,
    );
    await stopAll();
    if (single) {
      log(`the same ${listeners} listeners against a single process`);
      const node = await startNode(1, [], listeners);
      const s = await measure(
        [{ label: 'single process', url: node.url, pid: node.pid, listeners }],
        generators * edges,
        seconds,
        {},
      );
      out.push(
        '',
        `### Single process (--role all, pinned to CPU 1), the same ${listeners} listeners (load average ${loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')} at the end)`,
        '',
        table(s.rows),
      );
    }
  } finally {
    await stopAll();
  }
  console.log(out.join('\n'));
}

void main().catch((err: unknown) => {
  process.stderr.write(`bench:cluster: ${(err as Error).stack ?? String(err)}\n`);
  void stopAll().then(() => process.exit(1));
});
