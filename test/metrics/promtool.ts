// Locating promtool for the tests that check PromQL and alert rules with Prometheus's own parser.
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export const PROMTOOL_MISSING = 'promtool not found (install Debian package "prometheus" or set PROMTOOL)';

/** PROMTOOL from the environment, else `promtool` on PATH (Debian's `prometheus` package: /usr/bin/promtool). */
export function findPromtool(): string | undefined {
  const fromEnv = process.env.PROMTOOL;
  if (fromEnv !== undefined && fromEnv !== '') return existsSync(fromEnv) ? fromEnv : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'promtool');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return undefined;
}
