#!/usr/bin/env node
// Runs every *.test.ts below the given folders, or the given test files (default: test/, browser
// tests excluded unless named), through node:test with tsx. Node 20's --test needs the files
// listed, so we list them here. Lanes: the browser tests, the untimed folders and test/long run at
// the same time; every other file after them, one at a time (`--lanes` prints the split).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'));
// `--lanes`: print which lane each file would run in (JSON) and run nothing.
const lanesOnly = process.argv.includes('--lanes');
const passThrough = process.argv.slice(2).filter((a) => a.startsWith('-') && a !== '--lanes');
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
// Folders whose tests measure no time (deterministic rendering, parsing, pure logic) run beside
// the browser tests (which wait on real playback far more than they compute); every other test
// (servers, benchmarks, timing bounds) then runs alone, one file at a time.
const inFolder = (f, d) => f.startsWith(join('test', d) + '/');
const UNTIMED = ['client', 'codec', 'dsp', 'music', 'cli'];
const untimed = files.filter((f) => UNTIMED.some((d) => inFolder(f, d)));
const browser = files.filter((f) => inFolder(f, 'browser'));
// test/long: tests that take minutes of real time by design (the sleep timer's two-minute ending)
// and compute little meanwhile, asserting on deterministic audio rather than on timing: a lane of
// their own beside the browser tests, started with them, output kept and printed at the end.
const long = files.filter((f) => inFolder(f, 'long'));
const serial = files.filter((f) => !untimed.includes(f) && !browser.includes(f) && !long.includes(f));
if (lanesOnly) {
  console.log(JSON.stringify({ browser, untimed, long, serial }));
  process.exit(0);
}

/** Runs node --test over `group`; resolves with its exit status (output streamed, or kept and printed at the end). */
function run(group, buffered) {
  if (group.length === 0) return Promise.resolve(0);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=1', ...passThrough, ...group],
    { stdio: buffered ? ['ignore', 'pipe', 'pipe'] : 'inherit' },
  );
  const out = [];
  if (buffered) {
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => out.push(d));
  }
  return new Promise((resolve) =>
    child.on('close', (code) => {
      if (buffered) process.stdout.write(Buffer.concat(out));
      resolve(code ?? 1);
    }),
  );
}

const statuses = await Promise.all([
  run(browser, false),
  run(untimed, browser.length > 0),
  run(long, browser.length > 0 || untimed.length > 0),
]);
statuses.push(await run(serial, false));
process.exit(statuses.find((c) => c !== 0) ?? 0);
