/**
 * Runs the real built server (`node dist/main.js serve`, what `npm start` runs) as a child process
 * on 127.0.0.1, for tests of what only a real process shows: its stdout pipe, signals, exit codes.
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { compiledMainIfCurrent } from '../../bin/compiled-cli.mjs';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Builds the server (`npm run build:server`: tsc, a few seconds) unless dist/ already matches src/. */
export function buildBundle(): void {
  if (compiledMainIfCurrent() !== null) return;
  const r = spawnSync('npm', ['run', '--silent', 'build:server'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build:server failed: ${r.stderr}${r.stdout}`);
}

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface BundleProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Everything read from stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  /** Kills the process (SIGKILL, by PID) if it is still running and waits for it. */
  stop(): Promise<void>;
}

/** Starts `node dist/main.js serve --host 127.0.0.1 …args`; stdout is a pipe the test reads (or not). */
export function spawnBundle(args: string[]): BundleProcess {
  const child = spawn(process.execPath, ['dist/main.js', 'serve', '--host', '127.0.0.1', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal, atMs: performance.now() })),
  );
  return {
    child,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
    },
  };
}

/** Reads stdout until the `serving on <url>` line; returns the URL and what was read. */
export function readUrl(p: BundleProcess, timeoutMs = 20_000): Promise<{ url: string; out: string }> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /serving on (http:\/\/\S+)/.exec(out);
      if (m) {
        done();
        resolve({ url: m[1]!, out });
      }
    };
    const onExit = (): void => {
      done();
      reject(new Error(`the server exited before serving: ${out}\n${p.stderr()}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no URL printed in ${timeoutMs} ms: ${out}\n${p.stderr()}`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      p.child.stdout.off('data', onData);
      p.child.off('exit', onExit);
    };
    p.child.stdout.on('data', onData);
    p.child.once('exit', onExit);
  });
}

/** The value of a series (`name` or `name{label="value"}`) in a Prometheus text exposition. */
export function metricValue(text: string, series: string): number {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`${series} is not in the exposition`);
  return Number(m[1]);
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
export async function pool<T>(
  items: T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}
