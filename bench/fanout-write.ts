/**
 * `node --import tsx bench/fanout-write.ts [--listeners 5000] [--seconds 40] [--bytes 1200]`
 *
 * What one fan-out costs on the server's core, and what a write callback adds: this process (pinned
 * to CPU 0 when taskset exists) writes the same view of a SharedArrayBuffer to N loopback sockets
 * every 100 ms, as the pacer does, while a sink process (pinned to CPU 1) reads and discards
 * everything. Blocks of 20 fan-outs alternate between two ways of writing:
 *
 *  - `callback`: `socket.write(view, onWritten)` with one closure per socket (the pacer's ring-view
 *    accounting): Node defers each completed write's callback to a `process.nextTick` and allocates
 *    its bookkeeping per write;
 *  - `plain`: `socket.write(view)`.
 *
 * Per way: the fan-out loop's duration (mean, p50, p99, max), the time from the loop's end until the
 * event loop is free again (the deferred callbacks run there), and the main thread's GC pauses
 * (count, total) while that way was in use. Numbers only: nothing is asserted.
 */
import { spawn, spawnSync } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { percentile } from '../src/metrics/percentile.ts';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** The sink: accepts connections, reads and drops everything; prints its port. */
function sink(): void {
  const server = createServer({ noDelay: true }, (s) => {
    s.on('error', () => {});
    s.resume();
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${typeof a === 'object' && a ? a.port : 0}\n`);
  });
}

interface WayStats {
  fanouts: number[];
  tails: number[];
  gcCount: number;
  gcMs: number;
}

async function main(): Promise<void> {
  const n = Number(flag('listeners', '5000'));
  const seconds = Number(flag('seconds', '40'));
  const bytes = Number(flag('bytes', '1200'));
  const hasTaskset = spawnSync('taskset', ['-V']).status === 0 && cpus().length >= 2;
  const args = ['--import', 'tsx', process.argv[1]!, '--sink'];
  const child = hasTaskset
    ? spawn('taskset', ['-c', '1', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  if (hasTaskset) spawnSync('taskset', ['-p', '-c', '0', String(process.pid)]);
  try {
    const port = await new Promise<number>((resolve) =>
      child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    const sockets: Socket[] = [];
    const callbacks: (() => void)[] = [];
    let completed = 0;
    for (let i = 0; i < n; i += 250) {
      const batch: Promise<void>[] = [];
      for (let k = i; k < Math.min(n, i + 250); k++)
        batch.push(
          new Promise((resolve) => {
            const s = connect({ host: '127.0.0.1', port }, () => resolve());
            s.setNoDelay(true);
            s.on('error', () => {});
            sockets.push(s);
            callbacks.push(() => {
              completed++;
            });
          }),
        );
      await Promise.all(batch);
    }
    const sab = new SharedArrayBuffer(64 * 1024);
    const view = Buffer.from(sab, 1024, bytes);
    const ways: Record<'callback' | 'plain', WayStats> = {
      callback: { fanouts: [], tails: [], gcCount: 0, gcMs: 0 },
      plain: { fanouts: [], tails: [], gcCount: 0, gcMs: 0 },
    };
    let way: 'callback' | 'plain' = 'callback';
    const gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        ways[way].gcCount++;
        ways[way].gcMs += e.duration;
      }
    });
    gc.observe({ entryTypes: ['gc'] });
    const chunks = Math.floor((seconds * 1000) / 100);
    // Warm-up: a few fan-outs of each way, not counted.
    for (let c = -10; c < chunks; c++) {
      way = Math.floor(c / 20) % 2 === 0 ? 'callback' : 'plain';
      const t0 = performance.now();
      if (way === 'callback') for (let i = 0; i < n; i++) sockets[i]!.write(view, callbacks[i]);
      else for (let i = 0; i < n; i++) sockets[i]!.write(view);
      const t1 = performance.now();
      await new Promise((r) => setImmediate(r));
      const t2 = performance.now();
      if (c >= 0) {
        ways[way].fanouts.push(t1 - t0);
        ways[way].tails.push(t2 - t1);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (performance.now() - t0))));
    }
    gc.disconnect();
    const f = (x: number): string => x.toFixed(2);
    console.log(
      `${n} sockets, ${bytes}-byte writes every 100 ms, ${seconds} s; ${hasTaskset ? 'writer on CPU 0, sink on CPU 1' : 'not pinned'}; load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}; ${completed} write callbacks ran`,
    );
    console.log(
      '| way | fan-outs | fan-out mean / p50 / p99 / max (ms) | after the loop, until the loop is free: mean / p99 (ms) | GC pauses | GC total (ms) |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const [name, w] of Object.entries(ways)) {
      const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
      console.log(
        `| ${name} | ${w.fanouts.length} | ${f(mean(w.fanouts))} / ${f(percentile(w.fanouts, 50))} / ${f(percentile(w.fanouts, 99))} / ${f(percentile(w.fanouts, 100))} | ${f(mean(w.tails))} / ${f(percentile(w.tails, 99))} | ${w.gcCount} | ${f(w.gcMs)} |`,
      );
    }
    for (const s of sockets) s.destroy();
  } finally {
    child.kill('SIGTERM');
  }
}

if (process.argv.includes('--sink')) sink();
else void main();
