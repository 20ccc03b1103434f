/**
 * Shutdown of the real bundle (`node dist/main.js serve`) whatever its stdout does: a reader that
 * never reads (a stalled log shipper), a reader that goes away (`| head -c 100`), a second signal.
 * Exit codes: 0 clean, 3 forced by the 1.8 s deadline, 128 + signal for a second signal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { get, type IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import {
  EXIT_CLEAN,
  EXIT_SHUTDOWN_FAILED,
  EXIT_SHUTDOWN_FORCED,
  SHUTDOWN_DEADLINE_MS,
} from '../../src/server/serve.ts';
import {
  ROOT,
  buildBundle,
  freePort,
  metricValue,
  pool,
  readUrl,
  spawnBundle,
  type BundleProcess,
} from './bundle.ts';
import { sleep } from './helpers.ts';

/** The bound a test asserts: the deadline is 2 s; the rest is margin for a loaded machine. */
const EXIT_BOUND_MS = 5000;

const started: BundleProcess[] = [];
const sockets: WebSocket[] = [];
const streams: IncomingMessage[] = [];

before(() => buildBundle());
after(async () => {
  for (const ws of sockets) ws.terminate();
  for (const s of streams) s.destroy();
  await Promise.all(started.map((p) => p.stop()));
});

/** The exit, or a failed assertion when the process is still running `ms` from now. */
async function exitedWithin(p: BundleProcess, ms: number) {
  const exit = await Promise.race([p.exited, sleep(ms).then(() => null)]);
  assert.ok(exit, `still running ${ms} ms after the signal`);
  return exit;
}

function start(args: string[]): BundleProcess {
  const p = spawnBundle(args);
  started.push(p);
  return p;
}

async function openWebSockets(url: string, n: number): Promise<void> {
  const wsUrl = `${url.replace('http', 'ws')}/ws`;
  await pool(
    Array.from({ length: n }, (_, i) => i),
    20,
    () =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(wsUrl);
        sockets.push(ws);
        ws.on('error', () => {});
        ws.once('open', () => resolve());
        ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
        ws.once('close', (code) => reject(new Error(`closed ${code} before opening`)));
      }),
  );
}

async function openStreams(url: string, n: number): Promise<void> {
  await pool(
    Array.from({ length: n }, (_, i) => i),
    10,
    () =>
      new Promise<void>((resolve, reject) => {
        const req = get(`${url}/stream/default.ogg`, (res) => {
          streams.push(res);
          res.on('error', () => {});
          res.resume(); // a listener that keeps up
          if (res.statusCode === 200) resolve();
          else reject(new Error(`HTTP ${res.statusCode}`));
        });
        req.on('error', reject);
      }),
  );
}

async function hammer(url: string, requests: number): Promise<void> {
  await pool(
    Array.from({ length: requests }, (_, i) => i),
    25,
    async () => {
      const res = await fetch(`${url}/healthz`);
      await res.arrayBuffer();
    },
  );
}

describe('shutdown of the built server (dist/main.js)', () => {
  it('exits within the deadline on SIGTERM while its stdout reader never reads, with 250 connections open', async (t) => {
    const p = start(['--port', '0', '--workers', '1', '--log-level', 'debug', '--log-queue-bytes', '16384']);
    const { url } = await readUrl(p);
    // From now on nobody reads the pipe: it fills (64 KiB in the kernel, a little in this process).
    p.child.stdout.pause();

    await openWebSockets(url, 200);
    await openStreams(url, 50);
    await hammer(url, 1500);

    // Precondition: the pipe really was full. The server dropped log lines (and still answers).
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const dropped = metricValue(metrics, 'auralis_log_lines_dropped_total');
    t.diagnostic(`log lines dropped before the signal: ${dropped}`);
    assert.ok(dropped > 0, 'the stdout pipe filled and log lines were dropped');
    assert.equal(metricValue(metrics, 'auralis_listeners{transport="ws"}'), 200);

    const t0 = performance.now();
    process.kill(p.child.pid!, 'SIGTERM');
    const exit = await exitedWithin(p, EXIT_BOUND_MS + 5000);
    const ms = exit.atMs - t0;
    t.diagnostic(
      `SIGTERM to exit with a stalled stdout and 250 connections: ${ms.toFixed(0)} ms, code ${exit.code}`,
    );
    assert.ok(ms <= EXIT_BOUND_MS, `exit took ${ms.toFixed(0)} ms`);
    assert.ok(
      exit.code === EXIT_CLEAN || exit.code === EXIT_SHUTDOWN_FORCED,
      `exit code ${exit.code} (signal ${exit.signal})`,
    );
    assert.doesNotMatch(p.stderr(), /Error|EPIPE|EAGAIN/);
  });

  it('keeps serving when its stdout reader goes away after 100 bytes, then exits 0 on SIGTERM', async (t) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    // Debug level: every request is logged (at info only events are, and the first of them come
    // before the server listens).
    const p = start(['--port', String(port), '--workers', '1', '--log-level', 'debug']);
    // `| head -c 100`: read 100 bytes, then close the read end.
    let read = 0;
    await new Promise<void>((resolve, reject) => {
      p.child.stdout.on('data', (d: Buffer) => {
        read += d.length;
        if (read >= 100) {
          p.child.stdout.destroy();
          resolve();
        }
      });
      p.child.once('exit', (code) => reject(new Error(`exited ${code} before writing 100 bytes`)));
    });

    // It may not listen yet (its first lines come while it starts): wait until it does.
    const listening = performance.now() + 20_000;
    while ((await fetch(`${url}/healthz`).catch(() => null)) === null) {
      assert.ok(performance.now() < listening, 'the server never listened');
      await sleep(50);
    }
    // The server goes on answering for a few seconds, logging every request into the closed pipe.
    const until = performance.now() + 3000;
    let answered = 0;
    while (performance.now() < until) {
      const res = await fetch(`${url}/healthz`).catch((e: Error) => e);
      assert.ok(!(res instanceof Error), `healthz failed: ${res instanceof Error ? res.message : ''}`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      answered++;
      await sleep(50);
    }
    assert.equal(p.child.exitCode, null, 'still running');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const dropped = metricValue(metrics, 'auralis_log_lines_dropped_total');
    t.diagnostic(`${answered} requests answered after the reader left; ${dropped} log lines dropped`);
    // Precondition: the server really wrote into the closed pipe (its lines were dropped, not written).
    assert.ok(dropped >= answered, `${dropped} lines dropped for ${answered} requests`);

    const t0 = performance.now();
    process.kill(p.child.pid!, 'SIGTERM');
    const exit = await exitedWithin(p, EXIT_BOUND_MS + 5000);
    t.diagnostic(`SIGTERM to exit with a closed stdout: ${(exit.atMs - t0).toFixed(0)} ms`);
    assert.equal(
      exit.code,
      EXIT_CLEAN,
      `exit code ${exit.code} (signal ${exit.signal}); stderr: ${p.stderr()}`,
    );
    assert.ok(exit.atMs - t0 <= EXIT_BOUND_MS);
    assert.doesNotMatch(p.stderr(), /EPIPE|Error/);
  });

  it('exits at once with 128 + the signal number on a second SIGTERM during shutdown', async (t) => {
    const p = start(['--port', '0', '--workers', '1', '--log-level', 'debug', '--log-queue-bytes', '65536']);
    const { url } = await readUrl(p);
    // A stalled reader with lines queued: a clean shutdown then waits (bounded) for them to drain,
    // which keeps the process in its shutdown for a while.
    p.child.stdout.pause();
    await hammer(url, 1000);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.ok(metricValue(metrics, 'auralis_log_lines_dropped_total') > 0, 'the pipe is full');

    const t0 = performance.now();
    process.kill(p.child.pid!, 'SIGTERM');
    // Shutdown has begun once the listening socket is closed (new connections fail or get 503).
    for (;;) {
      const res = await fetch(`${url}/healthz`).catch(() => null);
      if (res === null || res.status !== 200) break;
      await res.arrayBuffer();
      assert.ok(performance.now() - t0 < EXIT_BOUND_MS, 'the server never began to shut down');
    }
    assert.equal(p.child.exitCode, null, 'precondition: still shutting down when the second signal is sent');
    process.kill(p.child.pid!, 'SIGTERM');
    const exit = await exitedWithin(p, EXIT_BOUND_MS + 5000);
    t.diagnostic(`first SIGTERM to exit: ${(exit.atMs - t0).toFixed(0)} ms, code ${exit.code}`);
    assert.equal(exit.code, 128 + 15);
  });
});

/**
 * The shutdown controller of `auralis serve` (installShutdown) in a process of its own, around a
 * closeable whose close() hangs, fails or succeeds: the deadline path cannot be reached with a real
 * server on demand, so the server is replaced by that closeable; signals, timers and exit are real.
 */
describe('the shutdown deadline and exit codes', () => {
  const SCRIPT = `
    import { installShutdown } from './src/server/serve.ts';
    import { LogSink } from './src/server/log.ts';
    const sink = new LogSink(process.stdout, { maxBytes: 65536 });
    const mode = process.env.CLOSE_MODE;
    const close = () =>
      mode === 'hang' ? new Promise(() => {}) : mode === 'fail' ? Promise.reject(new Error('stuck')) : Promise.resolve();
    installShutdown({ close }, sink, []);
    setInterval(() => {}, 1000);
    sink.write('ready\\n');
  `;

  async function signalled(mode: string): Promise<{ code: number | null; ms: number; out: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
      cwd: ROOT,
      env: { ...process.env, CLOSE_MODE: mode },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let out = '';
      const exited = new Promise<{ code: number | null; at: number }>((r) =>
        child.once('exit', (code) => r({ code, at: performance.now() })),
      );
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('ready')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`exited ${code} before it was ready`)));
      });
      const t0 = performance.now();
      process.kill(child.pid!, 'SIGTERM');
      const exit = await Promise.race([exited, sleep(EXIT_BOUND_MS + 5000).then(() => null)]);
      assert.ok(exit, 'still running long after SIGTERM');
      return { code: exit.code, ms: exit.at - t0, out };
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    }
  }

  it('forces the exit with code 3 at the deadline when close() never finishes', async (t) => {
    const r = await signalled('hang');
    t.diagnostic(`SIGTERM to forced exit: ${r.ms.toFixed(0)} ms`);
    assert.equal(r.code, EXIT_SHUTDOWN_FORCED);
    assert.ok(r.ms >= SHUTDOWN_DEADLINE_MS - 50, `exited after ${r.ms.toFixed(0)} ms, before the deadline`);
    assert.ok(r.ms <= EXIT_BOUND_MS, `exit took ${r.ms.toFixed(0)} ms`);
  });

  it('exits with code 1 when close() fails, and 0 when it succeeds', async () => {
    assert.equal((await signalled('fail')).code, EXIT_SHUTDOWN_FAILED);
    assert.equal((await signalled('ok')).code, EXIT_CLEAN);
  });
});
