import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyPatch, DEFAULT_PARAMS } from '../../src/music/params.ts';
import {
  currentEntry,
  entryTarget,
  glideSteps,
  isoWithOffset,
  localToUtc,
  nextEntry,
  validateSchedule,
  type Schedule,
} from '../../src/music/schedule.ts';

const day: Schedule = {
  timeZone: 'Europe/Paris',
  glideMinutes: 10,
  entries: [
    { at: '02:30', preset: 'sleep' },
    { at: '07:00', preset: 'bright' },
    { at: '09:00', preset: 'focus' },
    { at: '19:00', preset: 'meditation' },
    { at: '22:00', preset: 'sleep' },
  ],
};

function parsed(input: unknown): Schedule {
  const r = validateSchedule(input);
  assert.ok(r.ok, JSON.stringify(r));
  return r.schedule;
}

describe('schedule validation', () => {
  it('names the field of the first bad value', () => {
    const ok = { timeZone: 'Europe/Paris', glideMinutes: 10, entries: [{ at: '07:00', preset: 'bright' }] };
    const cases: [unknown, string][] = [
      [{ ...ok, timeZone: 'Mars/Olympus' }, 'timeZone'],
      [{ ...ok, timeZone: 7 }, 'timeZone'],
      [{ ...ok, glideMinutes: -1 }, 'glideMinutes'],
      [{ ...ok, glideMinutes: 121 }, 'glideMinutes'],
      [{ ...ok, glideMinutes: '5' }, 'glideMinutes'],
      [{ ...ok, entries: [] }, 'entries'],
      [
        {
          ...ok,
          entries: [
            { at: '07:00', preset: 'bright' },
            { at: '09:00', preset: 'focus' },
            { at: '24:00', preset: 'sleep' },
          ],
        },
        'entries[2].at',
      ],
      [{ ...ok, entries: [{ at: '7:00', preset: 'bright' }] }, 'entries[0].at'],
      [{ ...ok, entries: [{ at: '07:00', preset: 'disco' }] }, 'entries[0].preset'],
      [{ ...ok, entries: [{ at: '07:00' }] }, 'entries[0].preset'],
      [{ ...ok, entries: [{ at: '07:00', params: { bpm: 500 } }] }, 'entries[0].params.bpm'],
      [
        {
          ...ok,
          entries: [
            { at: '07:00', preset: 'focus' },
            { at: '07:00', preset: 'sleep' },
          ],
        },
        'entries[1].at',
      ],
      [{ ...ok, entries: [{ at: '07:00', preset: 'focus', when: 1 }] }, 'entries[0].when'],
      [{ ...ok, colour: 'blue' }, 'colour'],
    ];
    for (const [input, field] of cases) {
      const r = validateSchedule(input);
      assert.equal(r.ok, false, JSON.stringify(input));
      assert.equal(!r.ok && r.field, field, JSON.stringify(r));
      assert.ok(!r.ok && r.message.includes(field.replace(/\.params\..*/, '')), r.ok ? '' : r.message);
    }
  });

  it('sorts entries by time of day and defaults the glide to 10 minutes', () => {
    const s = parsed({
      timeZone: 'UTC',
      entries: [
        { at: '22:00', preset: 'Sleep' },
        { at: '07:00', params: { bpm: '60', mode: 'Lydian' } },
      ],
    });
    assert.equal(s.glideMinutes, 10);
    assert.deepEqual(s.entries, [
      { at: '07:00', params: { bpm: 60, mode: 'lydian' } },
      { at: '22:00', preset: 'sleep' },
    ]);
  });
});

describe('local time', () => {
  it('finds the next entry across a midnight wrap', () => {
    // 23:30 in Paris (winter, +01:00) on 2026-01-15: the next is 02:30 the next day.
    const now = Date.parse('2026-01-15T22:30:00Z');
    const n = nextEntry(day, now);
    assert.equal(n.entry.at, '02:30');
    assert.equal(isoWithOffset('Europe/Paris', n.atMs), '2026-01-16T02:30:00+01:00');
    assert.equal(n.atMs - now, 3 * 3600_000);
    // The entry in force at 23:30 is 22:00's, and at 01:00 it is still yesterday's 22:00.
    assert.equal(currentEntry(day, now).entry.at, '22:00');
    const oneAm = Date.parse('2026-01-16T00:00:00Z');
    assert.equal(isoWithOffset('Europe/Paris', currentEntry(day, oneAm).atMs), '2026-01-15T22:00:00+01:00');
  });

  it('a time the spring-forward day skips fires when the gap ends; the day after keeps its own', () => {
    // Europe/Paris, 2026-03-29: 02:00 +01:00 becomes 03:00 +02:00 (01:00Z).
    const evening = Date.parse('2026-03-28T22:00:00Z'); // 23:00 +01:00
    const n = nextEntry(day, evening);
    assert.equal(n.entry.at, '02:30');
    assert.equal(n.atMs, Date.parse('2026-03-29T01:00:00Z'));
    assert.equal(isoWithOffset('Europe/Paris', n.atMs), '2026-03-29T03:00:00+02:00');
    // The next one, 07:00, is five summer-time hours (not six) after 02:00 winter time.
    const after = nextEntry(day, n.atMs);
    assert.equal(after.entry.at, '07:00');
    assert.equal(isoWithOffset('Europe/Paris', after.atMs), '2026-03-29T07:00:00+02:00');
    assert.equal(after.atMs - n.atMs, 4 * 3600_000);
    // inMs counts real time: from 23:00 winter time to 07:00 summer time is 7 h, not 8.
    assert.equal(after.atMs - evening, 7 * 3600_000);
    // The next night 02:30 exists again.
    const monday = nextEntry(day, Date.parse('2026-03-29T22:00:00Z'));
    assert.equal(isoWithOffset('Europe/Paris', monday.atMs), '2026-03-30T02:30:00+02:00');
  });

  it('a time the fall-back day has twice fires once, at its first occurrence', () => {
    // Europe/Paris, 2026-10-25: 03:00 +02:00 becomes 02:00 +01:00 (01:00Z).
    const t = localToUtc('Europe/Paris', 2026, 10, 25, 150);
    assert.equal(isoWithOffset('Europe/Paris', t), '2026-10-25T02:30:00+02:00');
    const n = nextEntry(day, t);
    assert.equal(n.entry.at, '07:00', 'the second 02:30 is not an entry of its own');
    assert.equal(n.atMs - t, 5.5 * 3600_000, '02:30 summer time to 07:00 winter time');
  });

  it('works for zones west of UTC and with half-hour offsets', () => {
    const ny: Schedule = { ...day, timeZone: 'America/New_York' };
    // 2026-03-08, spring forward at 02:00 EST → 03:00 EDT (07:00Z).
    const n = nextEntry(ny, Date.parse('2026-03-08T05:00:00Z'));
    assert.equal(isoWithOffset('America/New_York', n.atMs), '2026-03-08T03:00:00-04:00');
    const india: Schedule = { ...day, timeZone: 'Asia/Kolkata' };
    const k = nextEntry(india, Date.parse('2026-06-01T00:00:00Z')); // 05:30 local
    assert.equal(isoWithOffset('Asia/Kolkata', k.atMs), '2026-06-01T07:00:00+05:30');
  });
});

describe('glides', () => {
  it('tempo and intensity move in steps; preset, mode and key change once, at the midpoint', () => {
    const from = applyPatch(DEFAULT_PARAMS, { preset: 'bright', key: 'C' });
    const to = entryTarget(from, { at: '22:00', preset: 'sleep', params: { key: 'D' } });
    assert.deepEqual(
      { ...to },
      { ...from, preset: 'sleep', mode: 'phrygian', bpm: 40, intensity: 0.12, key: 'D' },
    );
    const steps = glideSteps(from, to, 10 * 60_000);
    assert.equal(steps.length, 60, 'one step every 10 s over 10 minutes');
    let p = from;
    const bpms: number[] = [];
    let modeChanges = 0;
    let lastAt = 0;
    for (const s of steps) {
      assert.ok(s.atMs > lastAt);
      lastAt = s.atMs;
      const before = p;
      p = applyPatch(p, s.patch);
      if (p.mode !== before.mode || p.key !== before.key || p.preset !== before.preset) {
        modeChanges++;
        assert.equal(s.atMs, 5 * 60_000, 'mode, key and preset change at the midpoint');
      }
      assert.ok(p.bpm <= before.bpm && p.intensity <= before.intensity + 1e-9, 'monotonic');
      assert.ok(before.bpm - p.bpm < 1, 'small steps');
      bpms.push(p.bpm);
    }
    assert.equal(modeChanges, 1);
    assert.equal(lastAt, 10 * 60_000);
    assert.deepEqual({ ...p }, { ...to }, 'the last step reaches the target exactly');
    assert.ok(new Set(bpms).size > 30, 'many intermediate tempi');
    // A glide of 0: everything at once.
    const now = glideSteps(from, to, 0);
    assert.equal(now.length, 1);
    assert.deepEqual({ ...applyPatch(from, now[0]!.patch) }, { ...to });
  });
});
