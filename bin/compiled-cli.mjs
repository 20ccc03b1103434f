// The compiled CLI: `npm run build:server` (part of `npm run build`) compiles src/ with tsc into
// dist/cli, one JavaScript module per TypeScript module (not a bundle: esbuild's bundle synthesizes
// ~15 % slower), and keeps beside it the listing of src/ (each file's path, size and modification
// time) taken before compiling. `bin/auralis.mjs render` runs those modules only while src/ still
// has that listing, so an edit to any source file falls back to the TypeScript through tsx (which
// costs ~0.2 s of CPU per run: its loader thread and API). Plain JavaScript, no dependencies.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file's folder's parent). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Where the compiled modules go under a root, and the listing and entry inside it. */
export function compiledPaths(root = ROOT) {
  const dir = join(root, 'dist', 'cli');
  return {
    src: join(root, 'src'),
    dir,
    listing: join(dir, 'sources.txt'),
    main: join(dir, 'cli', 'main.js'),
  };
}

/** One line per file under `srcDir` (all of them, sorted): path, size, modification time. */
export function sourceListing(srcDir) {
  const lines = [];
  const walk = (dir) => {
    const entries = readdirSync(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p);
        lines.push(`${relative(srcDir, p)}\t${st.size}\t${st.mtimeMs}`);
      }
    }
  };
  walk(srcDir);
  return lines.join('\n') + '\n';
}

/** The compiled entry when it exists and src/ is unchanged since it was compiled; else null. */
export function compiledMainIfCurrent(root = ROOT) {
  const p = compiledPaths(root);
  try {
    if (!existsSync(p.main)) return null;
    return readFileSync(p.listing, 'utf8') === sourceListing(p.src) ? p.main : null;
  } catch {
    return null;
  }
}
