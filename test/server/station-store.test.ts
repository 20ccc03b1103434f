import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { StationStore } from '../../src/server/station-store.ts';
import { json, withServer } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'auralis-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Logged {
  level: string;
  msg: string;
}
function memoryLog(): {
  lines: Logged[];
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
} {
  const lines: Logged[] = [];
  return {
    lines,
    info: (_o, msg) => lines.push({ level: 'info', msg }),
    warn: (_o, msg) => lines.push({ level: 'warn', msg }),
  };
}

describe('stations kept across restarts (--state-file)', () => {
  it('a station created, changed and deleted through the API is kept as it was, across a restart', async () => {
    const stateFile = join(dir, 'state', 'stations.json');
    let seed = 0;
    await withServer({ stateFile }, async (server) => {
      const created = await json(server, 'POST', '/api/stations', { id: 'study', preset: 'focus', seed: 42 });
      assert.equal(created.status, 201);
      seed = created.body!.seed as number;
      assert.equal(seed, 42);
      const gone = await json(server, 'POST', '/api/stations', { id: 'gone' });
      assert.equal(gone.status, 201);
      assert.equal((await json(server, 'PATCH', '/api/stations/study', { bpm: 58, key: 'D' })).status, 200);
      assert.equal((await json(server, 'DELETE', '/api/stations/gone')).status, 204);
      // A personal session and the default station are not kept.
      assert.equal((await json(server, 'PATCH', '/api/stations/default', { bpm: 44 })).status, 200);
    });
    // Written (folder created), atomically: no temporary file left beside it.
    const kept = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      version: number;
      stations: { id: string }[];
    };
    assert.equal(kept.version, 1);
    assert.deepEqual(
      kept.stations.map((s) => s.id),
      ['study'],
    );
    assert.deepEqual(readdirSync(join(dir, 'state')), ['stations.json']);

    await withServer({ stateFile }, async (server) => {
      const st = await json(server, 'GET', '/api/stations/study');
      assert.equal(st.status, 200, 'the station is back after the restart');
      const params = st.body!.params as Record<string, unknown>;
      assert.equal(st.body!.seed, 42);
      assert.equal(params.preset, 'focus');
      assert.equal(params.bpm, 58);
      assert.equal(params.key, 'D');
      assert.equal(params.mode, 'dorian');
      assert.equal(
        (await json(server, 'GET', '/api/stations/gone')).status,
        404,
        'a deleted one stays deleted',
      );
      const def = await json(server, 'GET', '/api/stations/default');
      assert.notEqual(
        (def.body!.params as Record<string, unknown>).bpm,
        44,
        'the default station starts fresh',
      );
    });
  });

  it('a corrupt file is moved aside with a warning, and the server starts without it', async () => {
    const stateFile = join(dir, 'corrupt', 'stations.json');
    mkdirSync(join(dir, 'corrupt'));
    writeFileSync(stateFile, '{"version": 1, "stations": [');
    await withServer({ stateFile }, async (server) => {
      assert.equal((await json(server, 'GET', '/api/stations')).status, 200);
    });
    const names = readdirSync(join(dir, 'corrupt'));
    assert.ok(
      names.some((n) => n.startsWith('stations.json.corrupt-')),
      names.join(', '),
    );
  });

  it('skips invalid entries by the API rules and keeps the valid ones', () => {
    const stateFile = join(dir, 'entries.json');
    const good = {
      id: 'ok',
      seed: 7,
      params: { key: 'C', mode: 'Lydian', bpm: 60, intensity: 0.4, preset: null },
    };
    writeFileSync(
      stateFile,
      JSON.stringify({
        version: 1,
        stations: [
          good,
          { id: 'bad', seed: 7, params: { key: 'C', mode: 'lydian', bpm: 500, intensity: 0.4 } },
          5,
        ],
      }),
    );
    const log = memoryLog();
    const loaded = new StationStore(stateFile, log).load();
    assert.deepEqual(loaded, [{ ...good, params: { ...good.params, mode: 'lydian' } }]);
    assert.equal(log.lines.filter((l) => l.level === 'warn').length, 2);
    assert.match(log.lines[0]!.msg, /bad: bpm must be between 40 and 120/);
  });

  it('coalesces writes (one in flight, the newest waiting) and never leaves a partial file', async () => {
    const stateFile = join(dir, 'coalesce', 'stations.json');
    const store = new StationStore(stateFile, memoryLog());
    const snapshot = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        id: `s${i}`,
        seed: i,
        params: { key: 'A' as const, mode: 'aeolian' as const, bpm: 60, intensity: 0.5, preset: null },
      }));
    const writes = [1, 2, 3, 4, 5].map((n) => store.save(snapshot(n)));
    await Promise.all(writes);
    await store.close();
    const kept = JSON.parse(readFileSync(stateFile, 'utf8')) as { stations: unknown[] };
    assert.equal(kept.stations.length, 5, 'the newest snapshot is the one on disk');
    assert.deepEqual(readdirSync(join(dir, 'coalesce')), ['stations.json']);
    // After close, saves are ignored.
    await store.save(snapshot(1));
    assert.equal((JSON.parse(readFileSync(stateFile, 'utf8')) as { stations: unknown[] }).stations.length, 5);
    assert.ok(existsSync(stateFile));
  });
});
