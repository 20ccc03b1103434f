import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDefaultSoundFont } from '../../src/dsp/soundfont.ts';
import { ConfigError, loadConfig, resolveSoundFont } from '../../src/server/config.ts';
import { captureLog, connect, json, pcmToFloat, withServer } from './helpers.ts';

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
      await withServer(
        { soundfont: installed, logLevel: 'info', logSummaryMs: 0 },
        async (server) => {
          const presets = (await json(server, 'GET', '/api/presets')).body as unknown as {
            name: string;
            available: boolean;
          }[];
          assert.ok(presets.every((p) => p.available));
          const c = await connect(server, 'codec=pcm&preset=piano&seed=5');
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
    },
  );
});
