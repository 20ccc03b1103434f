#!/usr/bin/env node
// The programs the tests need besides Node and npm packages: one table, used by `npm test` (first
// step) and by `.ci/run`. Missing ones are installed with apt-get where that is possible (root on
// Debian or Ubuntu, as on a fresh CI machine); elsewhere the script names each missing program,
// what needs it and how to get it, and exits 2 before any test runs.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { spawnSync } from 'node:child_process';

const skipBrowser = process.env.AURALIS_SKIP_BROWSER === '1';
const TOOLS = [
  {
    name: 'chromium',
    pkg: 'chromium',
    neededBy: 'the player tests in a real browser (test/browser)',
    find: () => {
      const p = process.env.AURALIS_CHROMIUM ?? '/usr/bin/chromium';
      return executable(p) ? p : undefined;
    },
    skip: skipBrowser,
    hint: 'or set AURALIS_CHROMIUM to a Chromium binary, or AURALIS_SKIP_BROWSER=1 to leave the browser tests out',
  },
  {
    name: 'ffmpeg',
    pkg: 'ffmpeg',
    neededBy: 'the codec and stream tests (an independent decoder)',
    find: () => onPath('ffmpeg'),
  },
  {
    name: 'ffprobe',
    pkg: 'ffmpeg',
    neededBy: 'the codec and stream tests (format checks)',
    find: () => onPath('ffprobe'),
  },
  {
    name: 'nginx',
    pkg: 'nginx',
    neededBy: 'the deployment tests (the documented reverse-proxy config, run for real)',
    find: () => onPath('nginx') ?? (executable('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined),
  },
  {
    name: 'icecast2',
    pkg: 'icecast2',
    neededBy: 'the Icecast source push tests (a real Icecast 2.4 master and relay: test/relay)',
    find: () => onPath('icecast2') ?? (executable('/usr/bin/icecast2') ? '/usr/bin/icecast2' : undefined),
  },
  {
    name: 'openssl',
    pkg: 'openssl',
    neededBy: 'the deployment tests (a self-signed certificate for nginx)',
    find: () => onPath('openssl'),
  },
  {
    name: 'systemd-analyze',
    pkg: 'systemd',
    neededBy: 'the deployment tests (the documented systemd unit, verified and its sandbox rated)',
    find: () => onPath('systemd-analyze'),
  },
  {
    name: 'TimGM6mb.sf2',
    pkg: 'timgm6mb-soundfont',
    neededBy:
      'the sampled-layer tests (the piano and strings presets played from a SoundFont: test/dsp/soundfont.test.ts)',
    find: () =>
      existsSync('/usr/share/sounds/sf2/TimGM6mb.sf2') ? '/usr/share/sounds/sf2/TimGM6mb.sf2' : undefined,
  },
  {
    name: 'promtool',
    pkg: 'prometheus',
    neededBy: 'the metrics tests (PromQL and alert rules checked by Prometheus)',
    find: () =>
      process.env.PROMTOOL
        ? executable(process.env.PROMTOOL)
          ? process.env.PROMTOOL
          : undefined
        : onPath('promtool'),
    hint: 'or set PROMTOOL to a promtool binary',
  },
  {
    name: 'redis-server',
    pkg: 'redis-server',
    neededBy: 'the cluster tests (origin and edge roles over a real Redis)',
    find: () => onPath('redis-server'),
  },
];

function executable(p) {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

const missing = () => TOOLS.filter((t) => !t.skip && t.find() === undefined);
let lacking = missing();
if (lacking.length === 0) process.exit(0);

const canApt =
  process.platform === 'linux' &&
  process.getuid?.() === 0 &&
  onPath('apt-get') !== undefined &&
  existsSync('/etc/debian_version');
const pkgs = [...new Set(lacking.map((t) => t.pkg))];
if (canApt && process.env.AURALIS_NO_INSTALL !== '1') {
  process.stderr.write(
    `test tools: installing ${pkgs.join(', ')} with apt-get (for ${lacking.map((t) => t.name).join(', ')})\n`,
  );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) =>
    spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
  if (!run(['update', '-qq']) || !run(['install', '-y', '-qq', '--no-install-recommends', ...pkgs])) {
    process.stderr.write('test tools: apt-get failed\n');
  }
  lacking = missing();
  if (lacking.length === 0) process.exit(0);
}

process.stderr.write('The tests need programs that this machine lacks:\n');
for (const t of lacking) {
  process.stderr.write(
    `  - ${t.name}: for ${t.neededBy}. Install: apt-get install ${t.pkg}${t.hint ? ` (${t.hint})` : ''}\n`,
  );
}
process.stderr.write(
  `As root on Debian or Ubuntu, \`npm test\` installs them itself (or run: sudo apt-get install ${[...new Set(lacking.map((t) => t.pkg))].join(' ')}).\n`,
);
process.exit(2);
