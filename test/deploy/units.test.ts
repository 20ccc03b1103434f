/**
 * The documented systemd unit and Dockerfile: checked by the tools that read them, and their
 * command lines run for real against the built server. No Docker engine runs on the CI machine, so
 * the image itself is not built here: the Dockerfile is linted (dockerfile-utils, the validator of
 * the VS Code Docker language server) and its CMD and HEALTHCHECK are run as the container would.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validate } from 'dockerfile-utils';
import { ROOT, buildBundle, readUrl, spawnBundle } from '../server/bundle.ts';

const UNIT = join(ROOT, 'docs/deploy/auralis.service');
const DOCKERFILE = join(ROOT, 'Dockerfile');
let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'auralis-units-'));
  buildBundle();
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `serve` with `args` (host, port and state file made local), checks it answers, stops it with SIGTERM. */
async function runsAndStops(args: string[], probe?: (url: string) => void): Promise<void> {
  const local = [...args];
  const set = (flag: string, value: string): void => {
    const i = local.indexOf(flag);
    if (i >= 0) local[i + 1] = value;
    else local.push(flag, value);
  };
  set('--host', '127.0.0.1');
  set('--port', '0');
  set('--state-file', join(dir, 'stations.json'));
  set('--workers', '1');
  const p = spawnBundle(local);
  try {
    const { url } = await readUrl(p);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    probe?.(url);
    p.child.kill('SIGTERM');
    const exit = await p.exited;
    assert.equal(exit.code, 0, p.stderr());
  } finally {
    await p.stop();
  }
}

describe('systemd unit (docs/deploy/auralis.service)', () => {
  const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

  it('passes systemd-analyze verify, and its sandbox rates OK (exposure ≤ 2.0)', (t) => {
    if (!hasAnalyze) {
      if (process.env.CI) throw new Error('systemd-analyze is required in CI (apt-get install systemd)');
      return t.skip('systemd-analyze not installed');
    }
    const copy = join(dir, 'auralis.service');
    copyFileSync(UNIT, copy);
    const v = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stderr.trim(), '', 'no warnings');
    const s = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=20', copy], {
      encoding: 'utf8',
    });
    const level = /Overall exposure level for \S+: ([\d.]+)/.exec(s.stdout);
    assert.ok(level, s.stdout + s.stderr);
    assert.ok(Number(level[1]) <= 2.0, `exposure ${level[1]}`);
    assert.equal(s.status, 0, 'under the threshold');
  });

  it('its ExecStart, with the documented settings file, serves and stops cleanly on SIGTERM', async () => {
    const unit = readFileSync(UNIT, 'utf8');
    const exec = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(/\s+/);
    assert.equal(exec[0], '/usr/bin/node');
    const main = exec.indexOf('/opt/auralis/dist/main.js');
    assert.ok(main > 0);
    assert.equal(exec[main + 1], 'serve');
    // %d is the credentials folder, where LoadCredential= puts the settings file.
    assert.match(unit, /^LoadCredential=auralis\.json:\/etc\/auralis\/auralis\.json$/m);
    const args = exec
      .slice(main + 2)
      .map((a) => (a === '%d/auralis.json' ? join(ROOT, 'docs/deploy/auralis.json') : a));
    assert.ok(
      args.includes(join(ROOT, 'docs/deploy/auralis.json')),
      'the unit reads the documented settings file',
    );
    // The unit's success statuses cover the server's documented exit codes.
    assert.match(unit, /^SuccessExitStatus=3$/m);
    assert.match(unit, /^DynamicUser=yes$/m);
    assert.match(unit, /^StateDirectory=auralis$/m);
    await runsAndStops(args);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  const lines = text.split('\n');

  it('has no problems by the Docker language service validator', () => {
    assert.deepEqual(
      validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`),
      [],
    );
    // The validator does find problems where there are some.
    assert.ok(validate('FROM node\nEXPOSE abc\nHEALTHCHECK CMD\n').length >= 2);
  });

  it('is multi-stage, runs as an unprivileged user, checks its health and keeps state in a volume', () => {
    const froms = lines.filter((l) => l.startsWith('FROM '));
    assert.ok(froms.length >= 2, 'a build stage and a runtime stage');
    assert.match(froms[0]!, / AS build$/);
    const last = text.slice(text.lastIndexOf('\nFROM '));
    assert.match(last, /^USER node$/m);
    assert.doesNotMatch(last, /^USER (root|0)\b/m);
    assert.match(last, /^COPY --from=build \/app\/dist \.\/dist$/m);
    assert.match(last, /^COPY --from=build \/app\/client\/dist \.\/client\/dist$/m);
    assert.match(last, /npm ci --omit=dev/);
    assert.match(last, /^HEALTHCHECK /m);
    assert.match(last, /^VOLUME \["\/data"\]$/m);
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['node_modules', 'dist', '.git', 'data'])
      assert.ok(ignore.includes(p), `.dockerignore has ${p}`);
  });

  it('its CMD serves, its HEALTHCHECK passes against it, and SIGTERM stops it cleanly', async () => {
    const cmd = JSON.parse(/^CMD (\[.+\])$/m.exec(text)![1]!) as string[];
    assert.deepEqual(cmd.slice(0, 4), ['node', '--enable-source-maps', 'dist/main.js', 'serve']);
    const exposed = /^EXPOSE (\d+)$/m.exec(text)![1]!;
    assert.equal(cmd[cmd.indexOf('--port') + 1], exposed, 'CMD listens on the EXPOSEd port');
    assert.equal(cmd[cmd.indexOf('--host') + 1], '0.0.0.0', 'reachable from outside the container');
    assert.match(cmd[cmd.indexOf('--state-file') + 1]!, /^\/data\//);
    const health = JSON.parse(/^\s*CMD (\["node", "-e", .+\])$/m.exec(text)![1]!) as string[];
    await runsAndStops(cmd.slice(4), (url) => {
      const script = health[2]!.replace(`http://127.0.0.1:${exposed}`, url);
      assert.notEqual(script, health[2], 'the health check names the served port');
      const ok = spawnSync(process.execPath, ['-e', script]);
      assert.equal(ok.status, 0, 'healthy');
    });
    // And it fails when nothing answers.
    const down = spawnSync(process.execPath, ['-e', health[2]!.replace(`:${exposed}`, ':9')]);
    assert.equal(down.status, 1);
  });
});
