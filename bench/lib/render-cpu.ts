// The whole-process cost of an offline render, measured on the command users run: runs
// `node bin/auralis.mjs render ARGS…` (what `npx auralis render` runs) as a child with
// bench/lib/cpu-at-exit.mjs preloaded, passes its output through, and prints one JSON line with the
// child's CPU time (user + system, all threads, Node's and tsx's start-up included):
//   node --import tsx bench/lib/render-cpu.ts render --seconds 600 --out x.wav
// `cpuSeconds` is split into `startupSeconds` (Node's bootstrap, before the command's code ran) and,
// on Linux, `mainThreadSeconds` and `otherThreadsSeconds` (tsx's module-loader thread, V8's compiler
// and GC threads, the libuv threads that write the file). This process's own CPU is not counted.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./cpu-at-exit.mjs', import.meta.url));
const MARK = 'cpu-at-exit ';

/** Runs the CLI with ARGV under the CPU meter; resolves with its exit code and its CPU line. */
export function measureCli(argv: readonly string[]): Promise<{ code: number; cpu: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', PRELOAD, 'bin/auralis.mjs', ...argv], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const lines = err.split('\n');
      const mark = lines.find((l) => l.startsWith(MARK));
      const rest = lines.filter((l) => !l.startsWith(MARK)).join('\n');
      if (rest.trim() !== '') process.stderr.write(rest.endsWith('\n') ? rest : `${rest}\n`);
      resolve({ code: code ?? (signal ? 128 : 1), cpu: mark ? mark.slice(MARK.length) : null });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { code, cpu } = await measureCli(process.argv.slice(2));
  if (cpu === null) {
    process.stderr.write('render-cpu: the command printed no CPU line\n');
    process.exitCode = code === 0 ? 1 : code;
  } else {
    console.log(cpu);
    process.exitCode = code;
  }
}
