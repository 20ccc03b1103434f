import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCli } from './run-cli.ts';

/**
 * Writes into `dir` a preload that records the URL of every module the process resolves, one a
 * line, into the file named by IMPORT_LOG. tsx registers its hooks in-thread
 * (module.registerHooks) where Node has them and off-thread (module.register) elsewhere; the
 * recorder registers both kinds, so one of them sits in tsx's chain, behind it (hooks registered
 * earlier run later: tsx resolves, then passes on to it).
 */
export function writeImportRecorder(dir: string): string {
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
let out = '';
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(out, r.url + '\\n');
  return r;
}
`,
  );
  const preload = join(dir, 'preload.mjs');
  writeFileSync(
    preload,
    `import * as mod from 'node:module';
import { appendFileSync } from 'node:fs';
const out = process.env.IMPORT_LOG;
if (typeof mod.registerHooks === 'function') {
  mod.registerHooks({
    resolve(specifier, context, next) {
      const r = next(specifier, context);
      appendFileSync(out, r.url + '\\n');
      return r;
    },
  });
}
mod.register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)}, { data: { out } });
`,
  );
  return preload;
}

export interface RecordedRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Every module URL resolved, in order (repeats included). */
  urls: string[];
}

/** Runs `node bin/auralis.mjs ARGS` (what `npx auralis` runs) with the recorder of `writeImportRecorder`. */
export async function runBinRecorded(preload: string, log: string, args: string[]): Promise<RecordedRun> {
  writeFileSync(log, '');
  const r = await runCli(args, {
    entry: ['--import', pathToFileURL(preload).href, 'bin/auralis.mjs'],
    env: { ...process.env, IMPORT_LOG: log },
  });
  return {
    code: r.code,
    stdout: r.stdout,
    stderr: r.stderr,
    urls: readFileSync(log, 'utf8')
      .split('\n')
      .filter((u) => u !== ''),
  };
}

/** The npm packages among `urls` (scoped ones as `@scope/name`). */
export function packagesIn(urls: string[]): Set<string> {
  const names = new Set<string>();
  for (const u of urls) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u);
    if (m) names.add(m[1]!);
  }
  return names;
}
