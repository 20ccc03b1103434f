import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

const found = new Map<string, boolean>();

function has(tool: string): boolean {
  let ok = found.get(tool);
  if (ok === undefined) {
    ok = spawnSync(tool, ['-version'], { stdio: 'ignore' }).status === 0;
    found.set(tool, ok);
  }
  return ok;
}

/**
 * External checkers (ffprobe, ffmpeg): skipped where missing on a developer's machine,
 * but a failure in CI, where an untested container format must not pass silently.
 */
export function requireTool(t: TestContext, tool: string): boolean {
  if (has(tool)) return true;
  if (process.env.CI) throw new Error(`${tool} is required in CI (apt-get install ffmpeg)`);
  t.skip(`${tool} not installed`);
  return false;
}
