import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root, so the CLI runs the same way from any working directory. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node --import tsx src/cli/main.ts …args` and collects its output; `entry` replaces
 * `--import tsx src/cli/main.ts` (e.g. `['bin/auralis.mjs']`, what `npx auralis` runs).
 */
export function runCli(
  args: string[],
  opts: { onSpawn?: (pid: number) => void; env?: NodeJS.ProcessEnv; entry?: string[] } = {},
): Promise<CliResult> {
  const entry = opts.entry ?? ['--import', 'tsx', 'src/cli/main.ts'];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...entry, ...args], {
      cwd: ROOT,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  });
}

/** Runs jobs with at most `limit` in flight (the test machine has 2 shared cores). */
export async function inBatches<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}
