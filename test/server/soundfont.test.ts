import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDefaultSoundFont } from '../../src/dsp/soundfont.ts';
import { ConfigError, loadConfig, resolveSoundFont } from '../../src/server/config.ts';
import { DEFAULT_PARAMS } from '../../src/music/params.ts';
import { findPreset } from '../../src/music/presets.ts';
import { captureLog, connect, json, pcmToFloat, sleep, withServer } from './helpers.ts';

/**
 * The sampled presets on a server: announced with what they need, refused with a clear error
 * where no SoundFont is loaded (the music goes on), and played by the engine worker's sampled
 * layer where one is.
 */
const installed = findDefaultSoundFont();
const NO_SF = 'no SoundFont in /usr/share/sounds/sf2 (apt-get install timgm6mb-soundfont)';

describe('soundfont setting', () => {
  it('a missing or invalid file is a ConfigError naming soundfont; off and empty resolve', () => {
    const dir = mkdtempSync(join(tmpdir(), 'auralis-sfcfg-'));
    try {
      const bad = join(dir, 'x.sf2');
      writeFileSync(bad, 'not a soundfont at all');
      for (const path of [join(dir, 'missing.sf2'), bad, dir]) {
        assert.throws(
          () => loadConfig({ soundfont: path }),
          (e: unknown) =>
            e instanceof ConfigError && e.setting === 'soundfont' && /--soundfont/.test(e.message),
        );
      }
      assert.throws(() => loadConfig({}, { AURALIS_SOUNDFONT: bad }), /soundfont.*not a SoundFont 2 file/);
      assert.equal(resolveSoundFont(loadConfig({ soundfont: 'off' })), null);
      assert.equal(resolveSoundFont(loadConfig({})), installed);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sampled presets without a SoundFont', () => {
  it('are listed as unavailable and refused with INVALID_PARAM on preset; the music goes on', async () => {
    const log = captureLog();
    await withServer(
      { soundfont: 'off', logLevel: 'info', logSummaryMs: 0 },
      async (server) => {
        const presets = (await json(server, 'GET', '/api/presets')).body as unknown as {
          name: string;
          requires: string[];
          available: boolean;
        }[];
        const piano = presets.find((p) => p.name === 'piano')!;
        assert.deepEqual(piano.requires, ['soundfont']);
        assert.equal(piano.available, false);
        const focus = presets.find((p) => p.name === 'focus')!;
        assert.deepEqual(focus.requires, []);
        assert.equal(focus.available, true);

        const c = await connect(server, 'codec=pcm');
        await c.next('welcome');
        await c.waitChunks(2);
        const r = await json(server, 'PATCH', '/api/stations/default', { preset: 'piano' });
        assert.equal(r.status, 400);
        const e = r.body!.error as { code: string; field: string; message: string };
        assert.equal(e.code, 'INVALID_PARAM');
        assert.equal(e.field, 'preset');
        assert.match(e.message, /piano needs a SoundFont.*--soundfont PATH/);
        const created = await json(server, 'POST', '/api/stations', { id: 'keys', preset: 'strings' });
        assert.equal(created.status, 400);
        assert.match(JSON.stringify(created.body), /strings needs a SoundFont/);
        // Over the WebSocket too, and the station plays on.
        c.send({ type: 'preset', name: 'piano' });
        const err = await c.next('error');
        assert.equal(err.code, 'INVALID_PARAM');
        assert.match(String(err.message), /--soundfont/);
        const before = c.chunks.length;
        await c.waitChunks(before + 3);
        const st = await json(server, 'GET', '/api/stations/default');
        assert.notEqual((st.body!.params as { preset: string | null }).preset, 'piano');
        c.close();
      },
      { logStream: log.stream },
    );
    const lines = log.lines.filter((l) => /SoundFont/.test(String(l.msg)) && /refused/.test(String(l.msg)));
    assert.equal(lines.length, 1, 'one line saying the sampled presets are refused');
    assert.equal(lines[0]!.level, 30);
    assert.equal(log.errors().length, 0);
  });
});

describe('sampled presets with a SoundFont', () => {
  it(
    'are available, the one in use is named at info, and a piano session plays',
    { skip: installed === null ? NO_SF : false },
    async () => {
      const log = captureLog();
      let parsedBefore = -1;
      await withServer(
        { soundfont: installed, logLevel: 'debug', logSummaryMs: 0 },
        async (server) => {
          const presets = (await json(server, 'GET', '/api/presets')).body as unknown as {
            name: string;
            available: boolean;
          }[];
          assert.ok(presets.every((p) => p.available));
          // Nothing has played a sampled preset yet: no worker has parsed the SoundFont.
          await sleep(300);
          parsedBefore = log.lines.filter((l) => /parsed the SoundFont/.test(String(l.msg))).length;
          const c = await connect(server, 'personal=1&codec=pcm&preset=piano&seed=5');
          await c.next('welcome');
          const chunks = await c.waitChunks(30, 20_000);
          c.close();
          // The engine passed the SoundFont to its worker (which plays it sample for sample as
          // offline: test/engine/worker-soundfont.test.ts): the piano session is heard.
          let energy = 0;
          for (const ch of chunks) for (const x of pcmToFloat(ch.payload).l) energy += x * x;
          assert.ok(energy > 1e-3, `the piano session is silent: ${energy}`);
          const status = await json(server, 'GET', '/api/status');
          assert.equal(status.status, 200);
        },
        { logStream: log.stream },
      );
      assert.ok(
        log.lines.some(
          (l) => l.level === 30 && l.soundfont === installed && /play the SoundFont/.test(String(l.msg)),
        ),
        'the SoundFont in use is named at info',
      );
      // The engine worker parsed it once, for its first sampled station (when the station was
      // given to it, between renders, not in a chunk's render), and not before: a server whose
      // stations play the built-in instruments never pays for the bank.
      assert.equal(parsedBefore, 0, 'nothing parsed before a sampled station');
      const parsed = log.lines.filter((l) =>
        /parsed the SoundFont for its first sampled station/.test(String(l.msg)),
      );
      assert.equal(parsed.length, 1, 'one worker, one parse');
      assert.equal(parsed[0]!.level, 20);
      assert.equal(parsed[0]!.soundfont, installed);
      assert.ok((parsed[0]!.parsedMs as number) >= 0);
    },
  );
});

describe('a sampled station restored on a server without a SoundFont', () => {
  it('is kept and plays, shown as degraded with one warn line; choosing a sampled preset is still refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'auralis-sfrestore-'));
    const stateFile = join(dir, 'stations.json');
    // What a server with a SoundFont keeps for a piano station (StationStore's file).
    const piano = findPreset('piano')!;
    writeFileSync(
      stateFile,
      JSON.stringify({
        version: 1,
        stations: [
          { id: 'felt', seed: 9, params: { ...DEFAULT_PARAMS, ...piano.params, preset: 'piano' } },
          { id: 'plain', seed: 3, params: { ...DEFAULT_PARAMS, preset: null } },
        ],
      }),
    );
    const log = captureLog();
    try {
      await withServer(
        { soundfont: 'off', stateFile, logLevel: 'info', logSummaryMs: 0 },
        async (server) => {
          const st = await json(server, 'GET', '/api/stations/felt');
          assert.equal(st.status, 200, 'the piano station is restored');
          assert.equal(st.body!.seed, 9);
          assert.equal((st.body!.params as { preset: string }).preset, 'piano', 'its preset is kept');
          const degraded = st.body!.degraded as { reason: string; message: string };
          assert.equal(degraded.reason, 'soundfont');
          assert.match(
            degraded.message,
            /preset piano needs a SoundFont.*built-in instruments.*--soundfont PATH/,
          );
          const plain = await json(server, 'GET', '/api/stations/plain');
          assert.equal(plain.body!.degraded, null, 'a station without a sampled preset is not degraded');
          const list = (await json(server, 'GET', '/api/stations')).body as unknown as {
            id: string;
            degraded: unknown;
          }[];
          assert.deepEqual(list.find((x) => x.id === 'felt')!.degraded, degraded, 'the list says it too');
          assert.equal(list.find((x) => x.id === 'default')!.degraded, null);

          // It plays (the built-in instruments), and its clock runs.
          const c = await connect(server, 'station=felt&codec=pcm');
          await c.next('welcome');
          const chunks = await c.waitChunks(20, 20_000);
          let energy = 0;
          for (const ch of chunks) for (const x of pcmToFloat(ch.payload).l) energy += x * x;
          assert.ok(energy > 1e-4, `the restored station is silent: ${energy}`);
          const later = await json(server, 'GET', '/api/stations/felt');
          assert.ok((later.body!.position as number) > (st.body!.position as number), 'its clock runs');

          // Choosing a sampled preset is refused as before; other changes are taken.
          const r = await json(server, 'PATCH', '/api/stations/felt', { preset: 'strings' });
          assert.equal(r.status, 400);
          const e = r.body!.error as { code: string; field: string; message: string };
          assert.equal(e.code, 'INVALID_PARAM');
          assert.equal(e.field, 'preset');
          assert.match(e.message, /strings needs a SoundFont.*--soundfont PATH/);
          const k = await json(server, 'PATCH', '/api/stations/felt', { key: 'D' });
          assert.equal(k.status, 200);
          const after = await json(server, 'GET', '/api/stations/felt');
          assert.equal((after.body!.params as { preset: string; key: string }).preset, 'piano');
          assert.equal((after.body!.params as { key: string }).key, 'D');
          assert.notEqual(after.body!.degraded, null);
          c.close();
          // A non-sampled preset ends the degradation.
          assert.equal((await json(server, 'PATCH', '/api/stations/felt', { preset: 'focus' })).status, 200);
          assert.equal((await json(server, 'GET', '/api/stations/felt')).body!.degraded, null);
        },
        { logStream: log.stream },
      );
      // Nothing lost: the state file still holds the station, with its changes.
      const kept = JSON.parse(readFileSync(stateFile, 'utf8')) as {
        stations: { id: string; seed: number; params: { key: string; preset: string } }[];
      };
      const felt = kept.stations.find((x) => x.id === 'felt')!;
      assert.equal(felt.seed, 9);
      assert.equal(felt.params.key, 'D');
      assert.equal(felt.params.preset, 'focus');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const warns = log.lines.filter((l) => /restored degraded/.test(String(l.msg)));
    assert.equal(warns.length, 1, 'one warn line, for the piano station only');
    assert.equal(warns[0]!.level, 40);
    assert.equal(warns[0]!.station, 'felt');
    assert.equal(warns[0]!.preset, 'piano');
    assert.match(String(warns[0]!.msg), /station felt.*preset piano needs a SoundFont/);
    assert.equal(log.errors().length, 0);
  });
});

describe('a SoundFont whose header passes but which does not parse', () => {
  it('is said at warn by the engine worker when a sampled station needs it; the station plays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'auralis-sfbad-'));
    const bad = join(dir, 'broken.sf2');
    // RIFF/sfbk header (the start-up check passes), then nothing a SoundFont parser can read.
    writeFileSync(
      bad,
      Buffer.concat([Buffer.from('RIFF\x10\x00\x00\x00sfbk', 'latin1'), Buffer.alloc(16, 7)]),
    );
    const log = captureLog();
    try {
      await withServer(
        { soundfont: bad, logLevel: 'info', logSummaryMs: 0 },
        async (server) => {
          const c = await connect(server, 'personal=1&codec=pcm&preset=piano');
          await c.next('welcome');
          await c.waitChunks(3);
          c.close();
        },
        { logStream: log.stream },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const warns = log.lines.filter((l) => /could not parse the SoundFont/.test(String(l.msg)));
    assert.equal(warns.length, 1);
    assert.equal(warns[0]!.level, 40);
    assert.match(String(warns[0]!.msg), /broken\.sf2.*built-in instruments/);
    assert.equal(log.errors().length, 0);
  });
});
