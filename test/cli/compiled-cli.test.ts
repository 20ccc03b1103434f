import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compiledMainIfCurrent, compiledPaths, sourceListing } from '../../bin/compiled-cli.mjs';
import { packagesIn, runBinRecorded, writeImportRecorder } from './import-recorder.ts';
import { ROOT, runCli } from './run-cli.ts';

// `npx auralis render` runs the compiled modules of `npm run build` (dist/cli) while they match
// src/, and the TypeScript through tsx otherwise; both give the same bytes.

type Paths = { src: string; dir: string; listing: string; main: string };
const paths = compiledPaths as (root?: string) => Paths;
const listing = sourceListing as (src: string) => string;
const current = compiledMainIfCurrent as (root?: string) => string | null;

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'auralis-compiled-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('the compiled CLI counts as current only while every file of src/ is as it was listed', () => {
  const root = join(dir, 'root');
  const p = paths(root);
  mkdirSync(join(p.src, 'sub'), { recursive: true });
  writeFileSync(join(p.src, 'a.ts'), 'export const a = 1;\n');
  writeFileSync(join(p.src, 'sub', 'b.ts'), 'export const b = 2;\n');
  assert.equal(current(root), null, 'nothing compiled yet');
  mkdirSync(join(p.dir, 'cli'), { recursive: true });
  writeFileSync(p.main, '');
  assert.equal(current(root), null, 'no listing');
  const before = listing(p.src);
  writeFileSync(p.listing, before);
  assert.equal(current(root), p.main);
  appendFileSync(join(p.src, 'sub', 'b.ts'), 'export const c = 3;\n');
  assert.equal(current(root), null, 'a file edited');
  writeFileSync(p.listing, listing(p.src));
  assert.equal(current(root), p.main);
  writeFileSync(join(p.src, 'new.ts'), '');
  assert.equal(current(root), null, 'a file added');
  rmSync(join(p.src, 'new.ts'));
  assert.equal(current(root), p.main);
  rmSync(join(p.src, 'a.ts'));
  assert.equal(current(root), null, 'a file removed');
});

test('render runs the compiled modules without tsx, the same bytes as the TypeScript; other commands run through tsx', async () => {
  // `npm test` builds first; build here only when dist/cli is missing or stale.
  if (current() === null) {
    const b = spawnSync(process.execPath, ['scripts/build-server.mjs'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(b.status, 0, `build-server failed: ${b.stderr}${b.stdout}`);
  }
  assert.ok(current() !== null, 'dist/cli is current after the build');
  const preload = writeImportRecorder(dir);
  const compiledOut = join(dir, 'compiled.wav');
  const r = await runBinRecorded(preload, join(dir, 'render.log'), [
    'render',
    '--seconds',
    '3',
    '--preset',
    'pulse',
    '--out',
    compiledOut,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(
    r.urls.some((u) => u.endsWith('/dist/cli/cli/render.js')),
    'the compiled render module was not loaded',
  );
  assert.ok(!r.urls.some((u) => u.includes('/src/') && u.endsWith('.ts')), 'a TypeScript module was loaded');
  assert.ok(!packagesIn(r.urls).has('tsx'), 'tsx was loaded');

  const tsOut = join(dir, 'ts.wav');
  const t = await runCli(['render', '--seconds', '3', '--preset', 'pulse', '--out', tsOut]);
  assert.equal(t.code, 0, t.stderr);
  assert.ok(readFileSync(compiledOut).equals(readFileSync(tsOut)), 'compiled and TypeScript renders differ');

  const h = await runBinRecorded(preload, join(dir, 'help.log'), ['--help']);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /auralis render/);
  assert.ok(packagesIn(h.urls).has('tsx') && h.urls.some((u) => u.endsWith('/src/cli/main.ts')));
});
