import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { findDefaultSoundFont } from '../../src/dsp/soundfont-file.ts';
import { ROOT } from './run-cli.ts';

// What `npx auralis render` loads: every module URL the process resolves is recorded by a resolve
// hook (registered before the CLI registers tsx, so it sees what tsx resolves too; the second
// test shows that it sees packages). A render of a
// built-in preset must not load the server stack or the SoundFont player: their start-up cost is
// part of every render's CPU time.

const NOT_FOR_A_RENDER = [
  'spessasynth_core',
  'fastify',
  '@fastify',
  'ws',
  'prom-client',
  'ioredis',
  '@evan/opus',
  'opusscript',
  'wasm-media-encoders',
];

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'auralis-imports-'));
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
let out = '';
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(out, r.url + '\\n');
  return r;
}
`,
  );
  // tsx registers its hooks in-thread (module.registerHooks) where Node has them and off-thread
  // (module.register) elsewhere; the recorder registers both kinds, so one of them sits in tsx's
  // chain, behind it (hooks registered earlier run later: tsx resolves, then passes on to it).
  writeFileSync(
    join(dir, 'preload.mjs'),
    `import * as mod from 'node:module';
import { appendFileSync } from 'node:fs';
const out = process.env.IMPORT_LOG;
if (typeof mod.registerHooks === 'function') {
  mod.registerHooks({
    resolve(specifier, context, next) {
      const r = next(specifier, context);
      appendFileSync(out, r.url + '\\n');
      return r;
    },
  });
}
mod.register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)}, { data: { out } });
`,
  );
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `node bin/auralis.mjs ARGS` (what `npx auralis` runs); resolves with its exit code and the packages it loaded. */
function renderLoads(
  name: string,
  args: string[],
): Promise<{ code: number | null; urls: string[]; stderr: string }> {
  const log = join(dir, `${name}.log`);
  writeFileSync(log, '');
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', pathToFileURL(join(dir, 'preload.mjs')).href, 'bin/auralis.mjs', 'render', ...args],
      { cwd: ROOT, env: { ...process.env, IMPORT_LOG: log }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, urls: readFileSync(log, 'utf8').split('\n'), stderr }));
  });
}

const packagesIn = (urls: string[]): Set<string> => {
  const names = new Set<string>();
  for (const u of urls) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u);
    if (m) names.add(m[1]!);
  }
  return names;
};

test('a render of a built-in preset loads the engine but not the server stack or the SoundFont player', async () => {
  const r = await renderLoads('builtin', ['--seconds', '0.2', '--out', join(dir, 'a.wav')]);
  assert.equal(r.code, 0, r.stderr);
  // The precondition: the hook saw the render's own modules.
  for (const m of ['src/cli/render.ts', 'src/engine/station-renderer.ts', 'src/dsp/synth.ts']) {
    assert.ok(
      r.urls.some((u) => u.endsWith(m)),
      `${m} was not seen loading`,
    );
  }
  const loaded = packagesIn(r.urls);
  for (const p of NOT_FOR_A_RENDER) {
    const hit = [...loaded].filter((l) => l === p || l.startsWith(`${p}/`));
    assert.deepEqual(hit, [], `a render loaded ${p}`);
  }
});

test('a sampled preset does load the SoundFont player (the hook sees packages)', async (t) => {
  const sf = findDefaultSoundFont();
  if (sf === null) return t.skip('no SoundFont installed (Debian: timgm6mb-soundfont)');
  const r = await renderLoads('sampled', [
    '--seconds',
    '0.2',
    '--preset',
    'piano',
    '--out',
    join(dir, 'b.wav'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(packagesIn(r.urls).has('spessasynth_core'), 'spessasynth_core was not seen loading');
});
