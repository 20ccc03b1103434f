import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from '../../client/src/net/backoff.ts';
import { PatchCoalescer } from '../../client/src/net/patch-coalescer.ts';
import { webSocketUrl } from '../../client/src/net/ws-url.ts';
import { codecFromUrl, chooseCodec } from '../../client/src/audio/codec-choice.ts';

describe('reconnect backoff', () => {
  it('grows exponentially with jitter, is capped, and resets', () => {
    const b = new Backoff({ baseMs: 500, capMs: 8000, factor: 2, random: () => 0.999 });
    const delays = Array.from({ length: 8 }, () => b.nextDelayMs());
    assert.ok(delays[0] >= 250 && delays[0] <= 500);
    for (let i = 1; i < 5; i++) assert.ok(delays[i] > delays[i - 1] * 1.9, `${delays}`);
    assert.ok(delays.every((d) => d <= 8000));
    assert.ok(delays[7] > 7900);
    b.reset();
    assert.ok(b.nextDelayMs() <= 500);
  });

  it('spreads clients: the random half ranges over [ceiling/2, ceiling)', () => {
    const low = new Backoff({ baseMs: 1000, random: () => 0 }).nextDelayMs();
    const high = new Backoff({ baseMs: 1000, random: () => 0.9999 }).nextDelayMs();
    assert.equal(low, 500);
    assert.ok(high > 999 && high < 1000);
  });
});

describe('WebSocket URL', () => {
  it('builds station and personal URLs with codec, resume token and initial params', () => {
    assert.equal(
      webSocketUrl('http://h:8000/?codec=pcm', { kind: 'station', station: 'night' }, 'pcm'),
      'ws://h:8000/ws?station=night&codec=pcm',
    );
    const u = new URL(
      webSocketUrl(
        'https://example.org/player/',
        { kind: 'personal', initial: { key: 'C#', bpm: 60, preset: 'sleep' }, resumeToken: 'tok' },
        'opus',
      ),
    );
    assert.equal(u.protocol, 'wss:');
    assert.equal(u.pathname, '/ws');
    assert.equal(u.searchParams.get('personal'), '1');
    assert.equal(u.searchParams.get('resume'), 'tok');
    assert.equal(u.searchParams.get('key'), 'C#');
    assert.equal(u.searchParams.get('bpm'), '60');
    assert.equal(u.searchParams.get('preset'), 'sleep');
    assert.equal(u.searchParams.get('codec'), 'opus');
    assert.equal(u.searchParams.get('bitrate'), null);
  });

  it('asks for a session at a moment with the token alone, and resumes it by its resume token', () => {
    const initial = { key: 'C#' as const, bpm: 60 };
    const fresh = new URL(webSocketUrl('http://h/', { kind: 'personal', initial, moment: 'p.s' }, 'opus'));
    assert.equal(fresh.searchParams.get('personal'), '1');
    assert.equal(fresh.searchParams.get('moment'), 'p.s');
    // The moment carries its own parameters: the server refuses both.
    assert.equal(fresh.searchParams.get('key'), null);
    assert.equal(fresh.searchParams.get('bpm'), null);
    const again = new URL(
      webSocketUrl('http://h/', { kind: 'personal', initial, moment: 'p.s', resumeToken: 'tok' }, 'opus'),
    );
    assert.equal(again.searchParams.get('resume'), 'tok');
    assert.equal(again.searchParams.get('moment'), null);
  });

  it('carries the bitrate tier of a reconnect (kb/s), and leaves it out when there is none', () => {
    const station = { kind: 'station', station: 'default' } as const;
    const u = new URL(webSocketUrl('http://h:8000/', station, 'opus', undefined, 24));
    assert.equal(u.searchParams.get('bitrate'), '24');
    assert.equal(
      new URL(webSocketUrl('http://h:8000/', station, 'opus', undefined, null)).searchParams.has('bitrate'),
      false,
    );
  });
});

describe('codec choice', () => {
  it('asks for PCM when the page says so or WebCodecs cannot decode Opus', async () => {
    assert.equal(codecFromUrl('?codec=pcm'), 'pcm');
    assert.equal(codecFromUrl('?codec=flac'), null);
    assert.equal(await chooseCodec('?codec=pcm', async () => true), 'pcm');
    assert.equal(await chooseCodec('', async () => false), 'pcm');
    assert.equal(await chooseCodec('', async () => true), 'opus');
  });
});

describe('PatchCoalescer', () => {
  it('sends the first change at once, then merges changes into one message per interval', async () => {
    const sent: unknown[] = [];
    const c = new PatchCoalescer(
      (p) => sent.push(p),
      () => performance.now(),
      60,
    );
    c.change({ bpm: 60 });
    c.change({ bpm: 61 });
    c.change({ intensity: 0.2 });
    c.change({ bpm: 62 });
    assert.deepEqual(sent, [{ bpm: 60 }]);
    await new Promise((r) => setTimeout(r, 120));
    assert.deepEqual(sent, [{ bpm: 60 }, { bpm: 62, intensity: 0.2 }]);
  });

  it('drops a pending change on cancel', async () => {
    const sent: unknown[] = [];
    const c = new PatchCoalescer(
      (p) => sent.push(p),
      () => performance.now(),
      40,
    );
    c.change({ bpm: 60 });
    c.change({ bpm: 70 });
    c.cancel();
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(sent, [{ bpm: 60 }]);
  });
});
