#!/usr/bin/env node
// Runs every *.test.ts below the given folders, or the given test files (default: test/, browser
// tests excluded unless named), through node:test with tsx. Node 20's --test needs the files
// listed, so we list them here.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const passThrough = process.argv.slice(2).filter((a) => a.startsWith('-'));
const explicit = roots.length > 0;
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name === 'fixtures' || name === 'node_modules') continue;
      if (!explicit && p === join('test', 'browser') && process.env.AURALIS_SKIP_BROWSER === '1') continue;
      walk(p);
    } else if (name.endsWith('.test.ts')) files.push(relative('.', p));
  }
}
for (const r of explicit ? roots : ['test']) {
  if (!existsSync(r)) {
    console.error(`run-tests: ${r} does not exist (give test folders or *.test.ts files)`);
    process.exit(2);
  }
  if (statSync(r).isDirectory()) walk(r);
  else if (r.endsWith('.test.ts')) files.push(relative('.', r));
  else {
    console.error(`run-tests: ${r} is not a folder or a *.test.ts file`);
    process.exit(2);
  }
}
if (files.length === 0) {
  console.error('no test files found under', explicit ? roots.join(', ') : 'test');
  process.exit(1);
}
// Folders whose tests measure no time (deterministic rendering, parsing, pure logic) run two files
// at a time; everything else (servers, browsers, benchmarks, timing bounds) one file at a time, so
// that no test's timing shares the machine with another test.
const CONCURRENT = ['client', 'codec', 'dsp', 'music', 'cli'].map((d) => join('test', d) + '/');
const concurrent = files.filter((f) => CONCURRENT.some((d) => f.startsWith(d)));
const serial = files.filter((f) => !concurrent.includes(f));
let status = 0;
for (const [group, n] of [
  [concurrent, 2],
  [serial, 1],
]) {
  if (group.length === 0) continue;
  const res = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${n}`, ...passThrough, ...group],
    { stdio: 'inherit' },
  );
  if (res.status !== 0) status = res.status ?? 1;
}
process.exit(status);
