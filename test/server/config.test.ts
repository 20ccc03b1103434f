import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import {
  CLUSTER_RENDER_AHEAD_MS,
  CONFIG_DEFAULTS,
  CONFIG_TABLE,
  configHelp,
  ConfigError,
  configSecrets,
  redactRedisUrl,
  loadConfig,
  parseFlags,
  ringDrainBudgetMs,
  tierQueueBytes,
} from '../../src/server/config.ts';
import { ERRORS } from '../../src/server/errors.ts';

describe('configuration', () => {
  it('has one validated table of defaults with units', () => {
    const c = loadConfig();
    assert.equal(c.port, 8000);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.chunkMs, 100);
    assert.deepEqual(c, CONFIG_DEFAULTS, 'with no input, the configuration is the defaults');
  });

  it('has exactly one row for every setting, and a setting for every row', () => {
    // CONFIG_DEFAULTS is typed as ServerConfig, so its keys are every key of the interface.
    const keys = Object.keys(CONFIG_DEFAULTS).sort();
    const rows = CONFIG_TABLE.map((s) => s.key).sort();
    assert.ok(keys.length >= 25, `ServerConfig has ${keys.length} keys`);
    assert.deepEqual(rows, keys, 'rows and ServerConfig keys differ');
    assert.equal(new Set(rows).size, rows.length, 'a key with two rows');
    for (const field of ['env', 'flag'] as const) {
      const names = CONFIG_TABLE.map((s) => s[field]);
      assert.equal(new Set(names).size, names.length, `duplicate ${field}`);
    }
    for (const s of CONFIG_TABLE) {
      assert.match(s.flag, /^--[a-z0-9-]+$/, s.key);
      assert.match(s.env, /^(HOST|PORT|AURALIS_[A-Z0-9_]+)$/, s.key);
      assert.ok(s.doc.length > 0, `${s.key} has a description`);
      if (s.kind === 'int') assert.ok(s.min !== undefined && s.max !== undefined, `${s.key} has bounds`);
      if (s.kind === 'int' || s.unit !== '') assert.ok(s.unit.length > 0, `${s.key} has a unit`);
      // The default itself passes the row's own validation.
      const d = CONFIG_DEFAULTS[s.key];
      assert.deepEqual(loadConfig({ [s.key]: d })[s.key], d, `${s.key}: default validates`);
    }
  });

  it('sets every setting from its flag and from its environment variable, to the same value', () => {
    const help = configHelp();
    for (const s of CONFIG_TABLE) {
      const [raw, expected] = sampleValue(s);
      assert.notDeepEqual(expected, CONFIG_DEFAULTS[s.key], `${s.key}: the sample differs from the default`);
      // A role other than `all` needs a Redis URL.
      const needs = s.key === 'role' ? ['--redis', 'redis://127.0.0.1:6380'] : [];
      const fromFlag = loadConfig(parseFlags([s.flag, raw, ...needs]))[s.key];
      const fromFlagEq = loadConfig(parseFlags([`${s.flag}=${raw}`, ...needs]))[s.key];
      const fromEnv = loadConfig(parseFlags(needs), { [s.env]: raw })[s.key];
      assert.deepEqual(fromFlag, expected, `${s.flag} ${raw}`);
      assert.deepEqual(fromFlagEq, expected, `${s.flag}=${raw}`);
      assert.deepEqual(fromEnv, expected, `${s.env}=${raw}`);
      // Round trip: the parsed value, written back as text, parses to itself.
      const back = Array.isArray(expected) ? expected.join(',') : String(expected);
      assert.deepEqual(
        loadConfig(parseFlags([s.flag, back, ...needs]))[s.key],
        expected,
        `${s.key} round trip`,
      );
      // --help documents the flag and the variable on one line.
      assert.ok(
        help.split('\n').some((line) => line.includes(s.flag) && line.includes(s.env)),
        `--help lists ${s.flag} with ${s.env}`,
      );
      if (s.kind === 'int') {
        assert.throws(
          () => loadConfig({}, { [s.env]: String(s.max! + 1) }),
          (e: unknown) => e instanceof ConfigError && e.setting === s.key && e.message.includes(s.env),
          `${s.env} above its maximum is refused`,
        );
      }
      if (s.kind === 'enum') {
        assert.throws(
          () => loadConfig(parseFlags([s.flag, 'no-such-value'])),
          (e: unknown) => e instanceof ConfigError && e.setting === s.key,
        );
      }
    }
  });

  it('renders 1.5 s ahead for --role origin|edge unless renderAheadMs is given (flag, env or file)', () => {
    const redis = ['--redis', 'redis://127.0.0.1:6380'];
    assert.equal(loadConfig().renderAheadMs, 400, 'the single process keeps its default');
    for (const role of ['origin', 'edge']) {
      assert.equal(loadConfig(parseFlags(['--role', role, ...redis])).renderAheadMs, CLUSTER_RENDER_AHEAD_MS);
      assert.equal(
        loadConfig(parseFlags(['--role', role, ...redis, '--render-ahead-ms', '400'])).renderAheadMs,
        400,
      );
      assert.equal(
        loadConfig(parseFlags(['--role', role, ...redis]), { AURALIS_RENDER_AHEAD_MS: '600' }).renderAheadMs,
        600,
      );
      const dir = mkdtempSync(join(tmpdir(), 'auralis-cfg-'));
      const file = join(dir, 'auralis.json');
      writeFileSync(file, JSON.stringify({ renderAheadMs: 400 }));
      assert.equal(loadConfig(parseFlags(['--config', file, '--role', role, ...redis])).renderAheadMs, 400);
    }
  });

  it('refuses --role origin|edge without --redis, and a bad Redis URL without showing its password', () => {
    for (const role of ['origin', 'edge']) {
      assert.throws(
        () => loadConfig(parseFlags(['--role', role])),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.setting === 'redisUrl' &&
          /role .* needs redisUrl \(--redis/.test(e.message),
      );
    }
    assert.equal(loadConfig(parseFlags(['--role', 'edge', '--redis', 'redis://h:6379'])).role, 'edge');
    assert.equal(loadConfig().role, 'all', "the default is today's single process");
    for (const bad of [
      'http://:hunter2secret@h:6379',
      'redis://:hunter2secret@',
      'not a url hunter2secret',
    ]) {
      assert.throws(
        () => loadConfig({}, { AURALIS_REDIS_URL: bad }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.setting === 'redisUrl' &&
          e.message.includes('redisUrl') &&
          !e.message.includes('hunter2'),
        bad,
      );
    }
    assert.equal(
      redactRedisUrl('redis://user:p%40ss@cache.example:6380/2'),
      'redis://[redacted]@cache.example:6380/2',
    );
    assert.equal(redactRedisUrl('redis://cache.example:6380'), 'redis://cache.example:6380');
    const c = loadConfig(
      parseFlags(['--role', 'edge', '--redis', 'redis://:p%40ss@h:6379', '--control-token', 'tok']),
    );
    assert.deepEqual(configSecrets(c).sort(), ['p%40ss', 'p@ss', 'tok'].sort());
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
      [{ mp3Bitrate: 100_000 }, 'mp3Bitrate'],
      [{ mp3Bitrate: 'x' }, 'mp3Bitrate'],
      [{ momentSecret: 'short-secret' }, 'momentSecret'],
    ];
    for (const [o, setting] of bad) {
      assert.throws(
        () => loadConfig(o),
        (e: unknown) => e instanceof ConfigError && e.setting === setting && e.message.includes(setting),
      );
    }
    assert.throws(() => parseFlags(['--nope', '1']), ConfigError);
    // A secret too short is refused without being echoed.
    assert.throws(
      () => loadConfig({ momentSecret: 'short-secret' }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('short-secret'),
    );
  });

  it('validates the Opus tiers: integers 6–510 kb/s, ascending, unique, 1–16, with the default tier among them', () => {
    for (const bad of ['24,24,96', '96,48', '5,96', '96,511', '24,x,96', '', '24,,96.5', [96, 1.5]]) {
      assert.throws(
        () => loadConfig({ opusTiers: bad }),
        (e: unknown) =>
          e instanceof ConfigError && e.setting === 'opusTiers' && e.message.includes('opusTiers'),
        `opusTiers ${JSON.stringify(bad)}`,
      );
    }
    const seventeen = Array.from({ length: 17 }, (_, i) => 6 + i).join(',');
    assert.throws(() => loadConfig({ opusTiers: seventeen }), /1 to 16 bitrates, got 17/);
    // The default tier (opusBitrate, in bit/s) must be one of the tiers.
    assert.throws(
      () => loadConfig({ opusTiers: '24,48,160' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.setting === 'opusTiers' &&
        /include the default tier .*96 kb\/s/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ opusBitrate: 96_500 }),
      (e: unknown) => (e as ConfigError).setting === 'opusTiers',
    );
    assert.deepEqual(loadConfig({ opusTiers: '32, 64,128', opusBitrate: 128_000 }).opusTiers, [32, 64, 128]);
    assert.deepEqual(loadConfig({}, { AURALIS_OPUS_TIERS: '48,96' }).opusTiers, [48, 96]);
  });

  it('bounds the queue of a slow tier so that it drains before its ring slot is rewritten', () => {
    const c = loadConfig({});
    const bounds = tierQueueBytes(c);
    // Default: 8 s ring − 400 − 150 − 500 ms = 6.95 s; 24 kb/s is 3420 B/s on the WebSocket, 3290
    // B/s in Ogg pages (27 + 2 bytes a page, 10 pages a second): the slower one binds.
    const budgetS = ringDrainBudgetMs(c) / 1000;
    assert.equal(budgetS, 6.95);
    assert.equal(bounds.length, 4);
    assert.ok(bounds[0]! < c.listenerQueueBytes, `24 kb/s: ${bounds[0]} < 64 KiB`);
    assert.equal(bounds[0], Math.floor(budgetS * (3000 + 290)) - 1);
    assert.ok(bounds[1]! < c.listenerQueueBytes, '48 kb/s is bounded too (64 KiB would be 10 s)');
    // 96 and 160 kb/s drain 64 KiB in time: the configured bound.
    assert.equal(bounds[2], c.listenerQueueBytes);
    assert.equal(bounds[3], c.listenerQueueBytes);
    // Every tier's bound drains within the budget at its byte rate.
    for (const [i, kbps] of c.opusTiers.entries()) {
      // The Ogg stream (slower than the WebSocket's): a 27-byte page header and its lacing, 10 pages a second.
      const oggRate = kbps * 125 + (27 + Math.ceil((kbps * 12.5 + 1) / 255)) * 10;
      assert.ok(bounds[i]! / oggRate < budgetS, `${kbps} kb/s drains in time`);
    }
  });

  it('counts the MP3 stream in the queue-vs-ring rule: a low MP3 bitrate needs a smaller queue', () => {
    // 64 KiB of MP3 at 64 kb/s (8 kB/s) is 8.2 s, over the default ring's 6.95 s.
    assert.throws(
      () => loadConfig({ mp3Bitrate: 64_000 }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.setting === 'listenerQueueBytes' &&
        /holds 8192 ms of the mp3 stream \(8000 bytes\/s\)/.test(e.message),
    );
    const c = loadConfig({ mp3Bitrate: 64_000, listenerQueueBytes: 48 * 1024 });
    assert.equal(c.mp3Bitrate, 64_000);
    assert.equal(loadConfig({}).mp3Bitrate, 128_000);
  });

  it('exits with code 2 and a message naming the setting on a bad value', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '99999'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 2);
    // One line, the unit read as part of the sentence, not a stack trace.
    assert.equal(
      r.stderr,
      'auralis: invalid configuration: port (--port) must be a port number between 0 and 65535, got 99999\n',
    );
    const e = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
      encoding: 'utf8',
      env: { ...process.env, AURALIS_CHUNK_MS: '33' },
    });
    assert.equal(e.status, 2);
    assert.match(e.stderr, /AURALIS_CHUNK_MS/);
  });

  it('turns a busy port and a host it cannot listen on into one line and exit code 2', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const busy = spawnSync(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', String(port), '--workers', '1'],
        { encoding: 'utf8', timeout: 60_000 },
      );
      assert.equal(busy.status, 2, busy.stderr);
      assert.match(
        busy.stderr,
        new RegExp(
          `^auralis: invalid configuration: port \\(--port / PORT\\) ${port}: address 127\\.0\\.0\\.1:${port} is already in use`,
        ),
      );
      assert.equal(busy.stderr.trim().split('\n').length, 1, busy.stderr);
      assert.doesNotMatch(busy.stderr, /\bat .*\(|node:internal/);
    } finally {
      blocker.close();
    }
    const badHost = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--host', '999.1.1.1', '--workers', '1'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(badHost.status, 2, badHost.stderr);
    assert.match(badHost.stderr, /^auralis: invalid configuration: host \(--host \/ HOST\) "999\.1\.1\.1": /);
    assert.equal(badHost.stderr.trim().split('\n').length, 1, badHost.stderr);
  });

  it('reads a JSON config file with the same names, units and validation; env and flags override it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'auralis-config-'));
    const file = join(dir, 'auralis.json');
    writeFileSync(
      file,
      JSON.stringify({ port: 9100, trustProxy: ['127.0.0.1'], logLevel: 'WARN', mp3Bitrate: 96000 }),
    );
    const c = loadConfig(parseFlags(['--config', file]));
    assert.equal(c.configFile, file);
    assert.equal(c.port, 9100);
    assert.deepEqual(c.trustProxy, ['127.0.0.1']);
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.mp3Bitrate, 96_000);
    // From the environment too; then a variable and a flag each override the file.
    assert.equal(loadConfig({}, { AURALIS_CONFIG: file }).port, 9100);
    assert.equal(loadConfig({}, { AURALIS_CONFIG: file, PORT: '9200' }).port, 9200);
    assert.equal(loadConfig(parseFlags(['--config', file, '--port', '9300']), { PORT: '9200' }).port, 9300);
    const bad = (content: string, pattern: RegExp, setting: string): void => {
      writeFileSync(file, content);
      assert.throws(
        () => loadConfig(parseFlags(['--config', file])),
        (e: unknown) => e instanceof ConfigError && e.setting === setting && pattern.test(e.message),
        content,
      );
    };
    bad(
      '{"port": 99999}',
      /^port \(.*auralis\.json\) must be a port number between 0 and 65535, got 99999$/,
      'port',
    );
    bad('{"prot": 9000}', /unknown setting "prot"/, 'prot');
    bad('{"listener_queue_bytes": 9000}', /did you mean "listenerQueueBytes"/, 'listener_queue_bytes');
    bad('{"port": 9000,}', /is not valid JSON/, 'configFile');
    bad('[1, 2]', /must hold one JSON object of settings/, 'configFile');
    assert.throws(
      () => loadConfig(parseFlags(['--config', join(dir, 'missing.json')])),
      (e: unknown) => e instanceof ConfigError && /missing\.json cannot be read \(ENOENT\)/.test(e.message),
    );
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

/**
 * A valid value for a row that differs from its default (and fits the cross-field rules with the
 * other defaults): the text a flag or variable would carry, and the parsed value it must give.
 */
/** An empty settings file for the row of `--config` itself. */
const SAMPLE_CONFIG_FILE = join(mkdtempSync(join(tmpdir(), 'auralis-config-')), 'empty.json');
writeFileSync(SAMPLE_CONFIG_FILE, '{}');
/** A file with a SoundFont 2 header for the row of `--soundfont` (checked at start-up, parsed by the engine). */
const SAMPLE_SOUNDFONT = join(mkdtempSync(join(tmpdir(), 'auralis-config-')), 'tiny.sf2');
writeFileSync(SAMPLE_SOUNDFONT, Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('sfbk')]));

function sampleValue(s: (typeof CONFIG_TABLE)[number]): [string, unknown] {
  const d = CONFIG_DEFAULTS[s.key];
  switch (s.kind) {
    case 'string':
      if (s.key === 'configFile') return [SAMPLE_CONFIG_FILE, SAMPLE_CONFIG_FILE];
      if (s.key === 'momentSecret') return ['a-moment-secret-of-16+', 'a-moment-secret-of-16+'];
      if (s.key === 'redisUrl') return ['redis://127.0.0.1:6380', 'redis://127.0.0.1:6380'];
      // Must name a SoundFont 2 file: the smallest valid header is enough for the setting.
      if (s.key === 'soundfont') return [SAMPLE_SOUNDFONT, SAMPLE_SOUNDFONT];
      if (s.key === 'sessionSecret') return ['a-session-secret-0123', 'a-session-secret-0123'];
      return [`${String(d)}-x`, `${String(d)}-x`];
    case 'list':
      if (s.key === 'trustProxy') return ['10.0.0.1, fd00::/8', ['10.0.0.1', 'fd00::/8']];
      if (s.key === 'icecast')
        return [
          'default=http://source:pw@127.0.0.1:8000/a.ogg, jazz=http://source:pw@127.0.0.1:8000/b.mp3',
          ['default=http://source:pw@127.0.0.1:8000/a.ogg', 'jazz=http://source:pw@127.0.0.1:8000/b.mp3'],
        ];
      return ['https://a.example, https://b.example', ['https://a.example', 'https://b.example']];
    case 'intList':
      return ['24, 96,256', [24, 96, 256]];
    case 'enum': {
      const v = s.values!.find((x) => x !== d)!;
      return [v, v];
    }
    case 'int': {
      // A value the row's check accepts, between the bounds, away from the default; settings bounded
      // by the ring (stall timeout, bursts) stay below it.
      const lo = s.min!;
      const hi = Math.min(s.max!, Math.max(2 * lo, 1000));
      // Near the default first when a cross-field rule keeps the low range out (a request timeout
      // may not be below the head timeout), then downwards from `hi`.
      // The default Opus tier must be one of the tiers.
      const near = [Number(d) + 1, Number(d) * 2, ...(s.key === 'opusBitrate' ? [128_000] : [])].filter(
        (v) => v > hi && v <= s.max!,
      );
      for (const v of [...near, ...Array.from({ length: hi - lo + 1 }, (_, i) => hi - i)]) {
        if (v !== d && !s.check?.(v)) {
          try {
            loadConfig({ [s.key]: v });
            return [String(v), v];
          } catch {
            // a cross-field rule refuses it: try the next
          }
        }
      }
      throw new Error(`no sample value for ${s.key}`);
    }
  }
}
