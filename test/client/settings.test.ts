import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SETTINGS, SETTINGS_KEY, loadSettings, saveSettings } from '../../client/src/settings.ts';
import { SleepTimer, welcomeSleep } from '../../client/src/sleep-timer.ts';

class MemoryStore {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
}

describe('settings', () => {
  it('round-trips what the listener chose', () => {
    const store = new MemoryStore();
    const s = loadSettings(store);
    assert.deepEqual(s, DEFAULT_SETTINGS);
    s.station = null;
    s.personal = { key: 'F#', mode: 'lydian', bpm: 52, intensity: 0.25, preset: 'sleep' };
    s.volume = 0.3;
    s.wasPlaying = true;
    saveSettings(store, s);
    assert.deepEqual(loadSettings(store), s);
  });

  it('falls back field by field on invalid or hostile stored values', () => {
    const store = new MemoryStore();
    store.setItem(
      SETTINGS_KEY,
      JSON.stringify({
        station: '../etc',
        volume: 7,
        wasPlaying: 'yes',
        personal: { key: 'H', mode: 'locrian', bpm: 500, intensity: 0.7, preset: 42 },
      }),
    );
    const s = loadSettings(store);
    assert.equal(s.station, 'default');
    assert.equal(s.volume, DEFAULT_SETTINGS.volume);
    assert.equal(s.wasPlaying, false);
    assert.deepEqual(s.personal, { ...DEFAULT_SETTINGS.personal, intensity: 0.7 });
    store.setItem(SETTINGS_KEY, '{not json');
    assert.deepEqual(loadSettings(store), DEFAULT_SETTINGS);
    assert.deepEqual(loadSettings(null), DEFAULT_SETTINGS);
  });

  it('does not let callers mutate the defaults', () => {
    const s = loadSettings(null);
    s.personal.bpm = 41;
    assert.equal(DEFAULT_SETTINGS.personal.bpm, 70);
  });
});

describe('SleepTimer', () => {
  it('starts the fade before the end and stops at the end', async () => {
    const events: string[] = [];
    const t = new SleepTimer(
      (fadeMs) => events.push(`fade ${fadeMs}`),
      () => events.push('end'),
    );
    t.set(0.001); // 60 ms: the whole time is the fade (capped by the duration)
    assert.ok((t.remainingMs() ?? 0) > 0);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(events, ['fade 60']);
    await new Promise((r) => setTimeout(r, 120));
    assert.deepEqual(events, ['fade 60', 'end']);
    assert.equal(t.remainingMs(), null);
  });

  it('cancels', async () => {
    const events: string[] = [];
    const t = new SleepTimer(
      () => events.push('fade'),
      () => events.push('end'),
    );
    t.set(0.0005);
    t.set(0);
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(events, []);
  });

  it("shows a personal session's server timer from its welcome", () => {
    const choices = ['0', '15', '30', '60'];
    // A reload while a 30-minute timer runs: selected, with when the music ends.
    assert.deepEqual(welcomeSleep({ minutes: 30, endsAtMs: 1_900_000 }, choices), {
      endsAtMs: 1_900_000,
      select: '30',
    });
    // Minutes the page does not offer (set over the API): Off selected, the time left still shown.
    assert.deepEqual(welcomeSleep({ minutes: 1, endsAtMs: 5 }, choices), { endsAtMs: 5, select: '0' });
    // No timer (a recreated session): nothing runs.
    assert.deepEqual(welcomeSleep(null, choices), { endsAtMs: null, select: '0' });
    // An older server says nothing: the page keeps what it has.
    assert.equal(welcomeSleep(undefined, choices), null);
  });
});
