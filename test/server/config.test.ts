import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  CONFIG_DEFAULTS,
  CONFIG_TABLE,
  ConfigError,
  loadConfig,
  parseFlags,
} from '../../src/server/config.ts';
import { ERRORS } from '../../src/server/errors.ts';

describe('configuration', () => {
  it('has one validated table of defaults with units', () => {
    const c = loadConfig();
    for (const s of CONFIG_TABLE) assert.ok(s.key in CONFIG_DEFAULTS, s.key);
    assert.equal(c.port, 8000);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.chunkMs, 100);
  });

  it('takes environment variables and flags, flags last', () => {
    const c = loadConfig(parseFlags(['--port', '9001', '--chunk-ms=40']), {
      PORT: '7000',
      AURALIS_LEAD_MS: '200',
    });
    assert.equal(c.port, 9001);
    assert.equal(c.chunkMs, 40);
    assert.equal(c.leadMs, 200);
  });

  it('rejects a bad value with an error naming the setting', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ port: 70000 }, 'port'],
      [{ chunkMs: 30 }, 'chunkMs'],
      [{ chunkMs: 'x' }, 'chunkMs'],
      [{ profile: 'fast' }, 'profile'],
      [{ stallTimeoutMs: 9000, ringSeconds: 8 }, 'stallTimeoutMs'],
    ];
    for (const [o, setting] of bad) {
      assert.throws(
        () => loadConfig(o),
        (e: unknown) => e instanceof ConfigError && e.setting === setting && e.message.includes(setting),
      );
    }
    assert.throws(() => parseFlags(['--nope', '1']), ConfigError);
  });

  it('exits with code 2 and a message naming the setting on a bad value', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '99999'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 2);
    assert.match(r.stderr, /port/);
    const e = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
      encoding: 'utf8',
      env: { ...process.env, AURALIS_CHUNK_MS: '33' },
    });
    assert.equal(e.status, 2);
    assert.match(e.stderr, /AURALIS_CHUNK_MS/);
  });

  it('keeps the error-code registry and the protocol document in step', () => {
    const doc = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Error codes'));
    const documented = new Set([...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]));
    assert.deepEqual([...documented].sort(), Object.keys(ERRORS).sort());
    for (const [code, { status }] of Object.entries(ERRORS)) {
      assert.match(
        section,
        new RegExp(`\\| \`${code}\` \\| ${status} \\|`),
        `${code} documented with status ${status}`,
      );
    }
  });
});
