// Small process helpers the benchmarks share: a child's CPU time from /proc, and its stdout by line.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { compiledMainIfCurrent } from '../../bin/compiled-cli.mjs';

/** utime + stime of a process (all threads), in seconds (clock ticks of 10 ms, Linux' USER_HZ). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Calls `onLine` for every whole line the child writes to its stdout (without the newline). */
export function stdoutLines(child: ChildProcess, onLine: (l: string) => void): void {
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
 * How a benchmark starts the server (node arguments before the command): what `npm start` runs,
 * the compiled modules (dist/main.js), while they match src/ (bin/compiled-cli.mjs), else the
 * sources through tsx (the same code, plus tsx's loader thread).
 */
export function serverEntry(): string[] {
  return existsSync('dist/main.js') && compiledMainIfCurrent() !== null
    ? ['dist/main.js']
    : ['--import', 'tsx', 'src/cli/main.ts'];
}
