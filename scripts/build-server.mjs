// `npm run build:server` (part of `npm run build`, which `npm start` runs): compiles src/ into
// dist/cli with tsc (tsconfig.cli.json: one JavaScript module per TypeScript module, `.ts` imports
// rewritten to `.js`, no type check: `npm run typecheck` does that), writes dist/main.js, the
// server's entry (`node dist/main.js serve`), and keeps the listing of src/ taken before compiling
// (bin/compiled-cli.mjs), so that a file edited during the build leaves the build stale rather
// than wrongly current. Not a bundle: esbuild's bundle turned every module's top-level `const`
// into a `var` and synthesized ~15 % slower per CPU second (docs/ARCHITECTURE.md).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compiledPaths, ROOT, sourceListing } from '../bin/compiled-cli.mjs';

const paths = compiledPaths();
const listing = sourceListing(paths.src);
rmSync(paths.dir, { recursive: true, force: true });
// The former bundle's files: nothing may start them by mistake.
for (const old of ['worker.js', 'worker.js.map', 'main.js.map'])
  rmSync(join(ROOT, 'dist', old), { force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.cli.json'], { cwd: ROOT, stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(paths.dir, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}
writeFileSync(
  join(ROOT, 'dist', 'main.js'),
  "// Written by scripts/build-server.mjs: the server's entry, the compiled CLI in dist/cli.\nimport './cli/cli/main.js';\n",
);
writeFileSync(paths.listing, listing);
