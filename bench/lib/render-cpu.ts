// The whole-process cost of an offline render, measured on the command users run: runs
// `node bin/auralis.mjs render ARGS…` (what `npx auralis render` runs) as a child with
// bench/lib/cpu-at-exit.mjs preloaded, passes its output through, and prints one JSON line with the
// child's CPU time (user + system, all threads, Node's start-up included):
//   node --import tsx bench/lib/render-cpu.ts render --seconds 600 --out x.wav
// It first builds the compiled CLI (`npm run build:server`) when dist/cli is missing or stale, as
// `npm run build` leaves it, so the render runs the compiled modules; `compiled` in the line says
// whether it did. `cpuSeconds` is split into `startupSeconds` (Node's bootstrap, before the
// command's code ran) and, on Linux, `mainThreadSeconds` and `otherThreadsSeconds` (V8's compiler
// and GC threads, the libuv threads that write the file, tsx's loader thread when it runs). This
// process's own CPU is not counted.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./cpu-at-exit.mjs', import.meta.url));
const MARK = 'cpu-at-exit ';

/** Builds dist/cli (scripts/build-server.mjs) unless it is current; returns whether it is current. */
export async function ensureCompiledCli(): Promise<boolean> {
  const { compiledMainIfCurrent } = (await import(
    new URL('../../bin/compiled-cli.mjs', import.meta.url).href
  )) as { compiledMainIfCurrent: () => string | null };
  if (compiledMainIfCurrent() !== null) return true;
  const r = spawnSync(process.execPath, ['scripts/build-server.mjs'], { cwd: ROOT, stdio: 'inherit' });
  return r.status === 0 && compiledMainIfCurrent() !== null;
}

export interface CliCpu {
  /** The process's CPU seconds, all threads. */
  cpuSeconds: number;
  /** Before the command's code ran (Node's bootstrap). */
  startupSeconds: number;
  /** Linux only (else null). */
  mainThreadSeconds: number | null;
  otherThreadsSeconds: number | null;
}

/**
 * Runs `node bin/auralis.mjs ARGV…` under the CPU meter; resolves with its exit code, its stdout
 * and its CPU line (null if it printed none). Its stderr, the CPU line taken out, is passed on.
 */
export function measureCli(
  argv: readonly string[],
): Promise<{ code: number; stdout: string; cpu: CliCpu | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', PRELOAD, 'bin/auralis.mjs', ...argv], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const lines = err.split('\n');
      const mark = lines.find((l) => l.startsWith(MARK));
      const rest = lines.filter((l) => !l.startsWith(MARK)).join('\n');
      if (rest.trim() !== '') process.stderr.write(rest.endsWith('\n') ? rest : `${rest}\n`);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: out,
        cpu: mark ? (JSON.parse(mark.slice(MARK.length)) as CliCpu) : null,
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const compiled = await ensureCompiledCli();
  const { code, stdout, cpu } = await measureCli(process.argv.slice(2));
  process.stdout.write(stdout);
  if (cpu === null) {
    process.stderr.write('render-cpu: the command printed no CPU line\n');
    process.exitCode = code === 0 ? 1 : code;
  } else {
    console.log(JSON.stringify({ ...cpu, compiled }));
    process.exitCode = code;
  }
}
