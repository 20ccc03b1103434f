// `npm run build:cli`: compiles src/ into dist/cli (tsc, tsconfig.cli.json: one module per
// module, `.ts` imports rewritten to `.js`, no type check: `npm run typecheck` does that) and
// writes the listing of src/ taken before compiling (bin/compiled-cli.mjs), so that a file edited
// during the build leaves the build stale rather than wrongly current.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { rmSync, writeFileSync } from 'node:fs';
import { compiledPaths, ROOT, sourceListing } from '../bin/compiled-cli.mjs';

const paths = compiledPaths();
const listing = sourceListing(paths.src);
rmSync(paths.dir, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.cli.json'], { cwd: ROOT, stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(paths.dir, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}
writeFileSync(paths.listing, listing);
