import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

test('test-tools names every missing program, what needs it and how to get it, and exits 2', () => {
  const empty = mkdtempSync(join(tmpdir(), 'auralis-nopath-'));
  try {
    const r = spawnSync(process.execPath, ['scripts/test-tools.mjs'], {
      encoding: 'utf8',
      env: {
        PATH: empty,
        AURALIS_NO_INSTALL: '1',
        AURALIS_CHROMIUM: join(empty, 'chromium'),
        PROMTOOL: join(empty, 'promtool'),
      },
    });
    assert.equal(r.status, 2, r.stderr);
    for (const [tool, pkg] of [
      ['chromium', 'chromium'],
      ['ffmpeg', 'ffmpeg'],
      ['ffprobe', 'ffmpeg'],
      ['promtool', 'prometheus'],
      ['redis-server', 'redis-server'],
    ]) {
      assert.match(r.stderr, new RegExp(`- ${tool}: for .*Install: apt-get install ${pkg}`), tool);
    }
    // Leaving the browser tests out drops Chromium from the list.
    const noBrowser = spawnSync(process.execPath, ['scripts/test-tools.mjs'], {
      encoding: 'utf8',
      env: {
        PATH: empty,
        AURALIS_NO_INSTALL: '1',
        AURALIS_SKIP_BROWSER: '1',
        PROMTOOL: join(empty, 'promtool'),
      },
    });
    assert.equal(noBrowser.status, 2);
    assert.doesNotMatch(noBrowser.stderr, /chromium/);
    assert.match(noBrowser.stderr, /- ffmpeg/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  // On this machine (CI installs them), everything is there: exit 0, silently.
  const here = spawnSync(process.execPath, ['scripts/test-tools.mjs'], { encoding: 'utf8' });
  assert.equal(here.status, 0, here.stderr);
  assert.equal(here.stderr, '');
});

test('run-tests takes a single test file as well as a folder, and refuses a path that is neither', () => {
  // Without the parent runner's NODE_TEST_CONTEXT the child reports in its own (TAP) format.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const one = spawnSync(process.execPath, ['scripts/run-tests.mjs', 'test/engine/clock.test.ts'], {
    encoding: 'utf8',
    env,
  });
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stdout, /# pass [1-9]/);
  assert.match(one.stdout, /# fail 0/);
  const missing = spawnSync(process.execPath, ['scripts/run-tests.mjs', 'test/nope.test.ts'], {
    encoding: 'utf8',
  });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /test\/nope\.test\.ts does not exist/);
  const notTest = spawnSync(process.execPath, ['scripts/run-tests.mjs', 'README.md'], { encoding: 'utf8' });
  assert.equal(notTest.status, 2);
  assert.match(notTest.stderr, /README\.md is not a folder or a \*\.test\.ts file/);
});

test('run-tests puts test/long in its own lane beside the browser tests, apart from the serial files', () => {
  const r = spawnSync(
    process.execPath,
    [
      'scripts/run-tests.mjs',
      '--lanes',
      'test/long',
      'test/music/sleep-ending.test.ts',
      'test/server/sleep-timer.test.ts',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const lanes = JSON.parse(r.stdout) as Record<string, string[]>;
  assert.deepEqual(lanes, {
    browser: [],
    untimed: ['test/music/sleep-ending.test.ts'],
    long: ['test/long/sleep-ending.test.ts'],
    serial: ['test/server/sleep-timer.test.ts'],
  });
});
