import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { measureCli } from '../../bench/lib/render-cpu.ts';

// bench/lib/render-cpu.ts measures the command users run (bin/auralis.mjs: the compiled CLI when
// it is current, else the TypeScript through tsx) with a plain-JavaScript preload that reports the
// process's CPU at exit.

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'auralis-render-cpu-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('a render under the meter writes its file and reports the whole process CPU, split by thread', async () => {
  const out = join(dir, 'a.wav');
  const r = await measureCli(['render', '--seconds', '2', '--out', out]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /rendered 2\.000 s \(96000 frames\)/);
  assert.equal(statSync(out).size, 44 + 96000 * 4);
  assert.ok(r.cpu !== null, 'no CPU line');
  const c = r.cpu;
  // Node's bootstrap alone is some CPU, and the render (tsx, the engine, 2 s of audio) more.
  assert.ok(c.startupSeconds > 0 && c.startupSeconds < c.cpuSeconds, JSON.stringify(c));
  if (process.platform === 'linux') {
    assert.ok(c.mainThreadSeconds !== null && c.otherThreadsSeconds !== null);
    assert.ok(c.mainThreadSeconds > 0 && c.otherThreadsSeconds >= 0, JSON.stringify(c));
    // /proc counts in 10 ms ticks per thread: the parts add up to the total within a few ticks each.
    assert.ok(Math.abs(c.mainThreadSeconds + c.otherThreadsSeconds - c.cpuSeconds) < 0.2, JSON.stringify(c));
  }
});

test('a failing command still reports its CPU and keeps its exit code', async () => {
  const out = join(dir, 'b.wav');
  const r = await measureCli(['render', '--seconds', '0', '--out', out]);
  assert.equal(r.code, 2);
  assert.ok(r.cpu !== null && r.cpu.cpuSeconds > 0);
  assert.equal(existsSync(out), false);
});
