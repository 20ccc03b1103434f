import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setWallJumpMs } from '../../src/engine/clock.ts';
import { connect, json, withServer } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'auralis-schedule-'));
after(() => {
  setWallJumpMs(0);
  rmSync(dir, { recursive: true, force: true });
});

/** `HH:MM` in UTC of Unix ms `t`. */
const hhmm = (t: number): string => new Date(t).toISOString().slice(11, 16);

describe('station schedules (PUT /api/stations/:id/schedule)', () => {
  it('refuses bad schedules naming the field, and personal sessions', async () => {
    // No SoundFont: an entry with a sampled preset is refused when set, not when it comes due.
    await withServer({ soundfont: 'off' }, async (server) => {
      const bad = async (body: unknown, field: string): Promise<void> => {
        const r = await json(server, 'PUT', '/api/stations/default/schedule', body);
        assert.equal(r.status, 400, JSON.stringify(r.body));
        const err = r.body!.error as Record<string, unknown>;
        assert.equal(err.code, 'INVALID_PARAM');
        assert.equal(err.field, field);
        assert.match(err.message as string, new RegExp(field.replace(/[[\]]/g, '\\$&')));
      };
      const entries = [{ at: '07:00', preset: 'bright' }];
      await bad({ timeZone: 'Nowhere/Atlantis', entries }, 'timeZone');
      await bad({ timeZone: 'UTC', glideMinutes: 500, entries }, 'glideMinutes');
      await bad(
        { timeZone: 'UTC', entries: [...entries, { at: '09:00' }, { at: '25:00', preset: 'focus' }] },
        'entries[1].preset',
      );
      await bad(
        { timeZone: 'UTC', entries: [...entries, { at: '25:00', preset: 'focus' }] },
        'entries[1].at',
      );
      await bad({ timeZone: 'UTC', entries: [{ at: '07:00', preset: 'techno' }] }, 'entries[0].preset');
      await bad(
        { timeZone: 'UTC', entries: [...entries, { at: '22:00', preset: 'piano' }] },
        'entries[1].preset',
      );
      const still = await json(server, 'GET', '/api/stations/default');
      assert.equal(still.body!.schedule, null, 'nothing was set');

      const c = await connect(server, 'personal=1');
      const welcome = await c.next('welcome');
      const id = welcome.station as string;
      assert.match(id, /^p-/);
      const r = await json(server, 'PUT', `/api/stations/${id}/schedule`, { timeZone: 'UTC', entries });
      assert.equal(r.status, 403);
      assert.equal((r.body!.error as Record<string, unknown>).code, 'FORBIDDEN');
      c.close();
    });
  });

  it('an idle station follows its schedule: the entry in force is applied while nobody listens', async () => {
    await withServer({}, async (server) => {
      assert.equal(
        (await json(server, 'POST', '/api/stations', { id: 'quiet', preset: 'focus' })).status,
        201,
      );
      const before = await json(server, 'GET', '/api/stations/quiet');
      assert.equal(before.body!.state, 'idle', 'precondition: nobody listens, the station is idle');
      const put = await json(server, 'PUT', '/api/stations/quiet/schedule', {
        timeZone: 'Asia/Tokyo',
        glideMinutes: 0,
        entries: [{ at: '00:00', preset: 'meditation', params: { key: 'E' } }],
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      let params: Record<string, unknown> = {};
      for (let i = 0; i < 50 && params.preset !== 'meditation'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        params = (await json(server, 'GET', '/api/stations/quiet')).body!.params as Record<string, unknown>;
      }
      assert.deepEqual(params, {
        key: 'E',
        mode: 'aeolian',
        bpm: 50,
        intensity: 0.3,
        preset: 'meditation',
        modified: false,
      });
      const after = await json(server, 'GET', '/api/stations/quiet');
      assert.equal(after.body!.state, 'idle', 'still idle: applied without waking it');
      const next = (after.body!.schedule as Record<string, Record<string, unknown>>).next!;
      assert.match(next.at as string, /T00:00:00\+09:00$/);
    });
  });

  it('glides to the entry through intermediate steps when its time comes (after a wall-clock step), and is kept across a restart', async () => {
    const stateFile = join(dir, 'state.json');
    await withServer({ stateFile }, async (server) => {
      assert.equal((await json(server, 'POST', '/api/stations', { id: 'day', preset: 'sleep' })).status, 201);
      // An entry on a minute boundary at least an hour away, and the one in force now.
      const fireAt = Math.ceil(Date.now() / 60_000) * 60_000 + 3600_000;
      const schedule = {
        timeZone: 'UTC',
        glideMinutes: 0.1,
        entries: [
          { at: hhmm(fireAt), preset: 'bright' },
          { at: hhmm(fireAt - 2 * 3600_000), preset: 'sleep' },
        ],
      };
      const put = await json(server, 'PUT', '/api/stations/day/schedule', schedule);
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const c = await connect(server, 'station=day&codec=pcm');
      await c.next('welcome');
      const st = await json(server, 'GET', '/api/stations/day');
      const sch = st.body!.schedule as Record<string, unknown>;
      const next = sch.next as Record<string, unknown>;
      assert.equal(next.preset, 'bright');
      assert.equal(next.at, `${new Date(fireAt).toISOString().slice(0, 19)}+00:00`);
      assert.ok((next.inMs as number) > 3500_000 && (next.inMs as number) <= 3660_000, String(next.inMs));
      assert.equal(
        (st.body!.params as Record<string, unknown>).preset,
        'sleep',
        'already as in force: unchanged',
      );

      // The wall clock steps to 3 s before the entry: the scheduler re-plans and fires it.
      setWallJumpMs(fireAt - 3000 - (Date.now() - 0));
      try {
        const deadline = Date.now() + 40_000;
        const changes = (): Record<string, unknown>[] =>
          c.texts.filter((t) => t.type === 'params' && t.source === 'schedule');
        while (Date.now() < deadline) {
          const last = changes().at(-1);
          if (last && (last.params as Record<string, unknown>).bpm === 72) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        const steps = changes().map((t) => t.params as Record<string, unknown>);
        assert.ok(steps.length >= 3, `steps: ${JSON.stringify(steps)}`);
        const bpms = steps.map((p) => p.bpm as number);
        assert.equal(bpms.at(-1), 72);
        for (let i = 1; i < bpms.length; i++)
          assert.ok(bpms[i]! > bpms[i - 1]!, `rising: ${bpms.join(', ')}`);
        assert.ok(bpms.filter((b) => b > 40 && b < 72).length >= 2, `intermediate tempi: ${bpms.join(', ')}`);
        const modes = steps.map((p) => p.mode as string);
        assert.equal(
          modes.indexOf('lydian'),
          modes.findIndex((m) => m === 'lydian'),
        );
        assert.ok(
          modes[0] === 'phrygian' && modes.at(-1) === 'lydian',
          `the mode changes once: ${modes.join(', ')}`,
        );
        assert.deepEqual(
          { ...steps.at(-1), modified: false },
          {
            key: steps.at(-1)!.key,
            mode: 'lydian',
            bpm: 72,
            intensity: 0.65,
            preset: 'bright',
            modified: false,
          },
        );
        assert.equal(steps.at(-1)!.modified, false, 'the preset as it is, once the glide is over');
        const after = await json(server, 'GET', '/api/stations/day');
        const n = (after.body!.schedule as Record<string, Record<string, unknown>>).next!;
        assert.equal(n.preset, 'sleep', 'the next entry is tomorrow’s');
        assert.ok((n.inMs as number) > 21 * 3600_000, String(n.inMs));
      } finally {
        setWallJumpMs(0);
        c.close();
      }
    });
    const kept = JSON.parse(readFileSync(stateFile, 'utf8')) as { stations: Record<string, unknown>[] };
    const day = kept.stations.find((s) => s.id === 'day')!;
    assert.equal((day.schedule as Record<string, unknown>).timeZone, 'UTC');
    await withServer({ stateFile }, async (server) => {
      const st = await json(server, 'GET', '/api/stations/day');
      const sch = st.body!.schedule as Record<string, unknown>;
      assert.equal(sch.glideMinutes, 0.1);
      assert.equal((sch.entries as unknown[]).length, 2);
      assert.equal((await json(server, 'DELETE', '/api/stations/day/schedule')).status, 204);
      assert.equal((await json(server, 'GET', '/api/stations/day')).body!.schedule, null);
    });
    const removed = JSON.parse(readFileSync(stateFile, 'utf8')) as { stations: Record<string, unknown>[] };
    assert.equal(removed.stations.find((s) => s.id === 'day')!.schedule, undefined);
  });
});
