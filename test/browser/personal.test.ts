import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  RMS_THRESHOLD,
  clickPlayAndTimeFirstAudio,
  stats,
  waitFor,
  serverAndBrowser,
} from './browser-helpers.ts';
import { startImpairmentProxy } from './impairment-proxy.ts';

interface Session {
  station: string;
  personal: boolean;
  params: { key?: string; mode?: string; bpm?: number; intensity?: number };
}

describe('personal session in Chromium', () => {
  const env = serverAndBrowser();

  it(
    'remembers its settings and re-applies them to a new personal session after a reload',
    { timeout: 40_000 },
    async () => {
      const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      await page.goto(env.server.url);
      await page.waitForFunction(`typeof window.auralisPlayer?.stats === 'function'`);
      await page.selectOption('#source', 'personal');
      assert.ok((await clickPlayAndTimeFirstAudio(page)) !== null);
      const session = () => page.evaluate('window.auralisPlayer.session()') as Promise<Session | null>;
      const first = await waitFor(session, (s) => s?.personal === true, 5000);
      assert.equal(first?.personal, true);
      assert.notEqual(first?.station, 'default');

      await page.selectOption('#mode', 'dorian');
      await page.focus('#bpm');
      await page.keyboard.press('Home'); // 40 BPM
      const changed = await waitFor(
        session,
        (s) => s?.params.mode === 'dorian' && s?.params.bpm === 40,
        5000,
      );
      assert.deepEqual(
        [changed?.params.mode, changed?.params.bpm],
        ['dorian', 40],
        'the server confirmed the change',
      );
      // A personal change does not touch the shared station.
      const shared = (await (await fetch(`${env.server.url}/api/stations/default`)).json()) as Session;
      assert.notEqual(shared.params.bpm, 40);

      // A sleep timer on the server: the page says how long is left.
      await page.selectOption('#sleep', '30');
      const sleepOut = () => page.textContent('#sleep-out');
      assert.equal(await waitFor(sleepOut, (t) => t === '30 min left', 5000), '30 min left');

      // Reload (the page was playing, so it resumes by itself where autoplay is allowed).
      await page.reload();
      await page.waitForFunction(`typeof window.auralisPlayer?.stats === 'function'`);
      const again = await waitFor(session, (s) => s?.personal === true, 8000);
      assert.equal(await page.inputValue('#source'), 'personal');
      assert.deepEqual([again?.params.mode, again?.params.bpm], ['dorian', 40], JSON.stringify(again));
      // The same session, its timer still running: the reloaded page shows it (from the welcome).
      assert.equal(again?.station, first?.station, 'the session was taken back');
      assert.equal(await waitFor(sleepOut, (t) => t === '30 min left', 5000), '30 min left');
      assert.equal(await page.inputValue('#sleep'), '30');
      const s = await waitFor(
        () => stats(page),
        (v) => v.rms > RMS_THRESHOLD,
        5000,
      );
      assert.ok(s.rms > RMS_THRESHOLD, `rms ${s.rms}`);
      await context.close();
    },
  );

  it(
    'resumes the same personal session with its resumeToken after a network drop',
    { timeout: 30_000 },
    async () => {
      const proxy = await startImpairmentProxy(env.server.port);
      const context = await env.browser.newContext();
      const page = await context.newPage();
      await page.goto(proxy.url);
      await page.waitForFunction(`typeof window.auralisPlayer?.stats === 'function'`);
      await page.selectOption('#source', 'personal');
      assert.ok((await clickPlayAndTimeFirstAudio(page)) !== null);
      const session = () => page.evaluate('window.auralisPlayer.session()') as Promise<Session | null>;
      const first = await waitFor(session, (s) => s?.personal === true, 5000);
      await page.selectOption('#mode', 'mixolydian');
      await waitFor(session, (s) => s?.params.mode === 'mixolydian', 5000);

      proxy.resetConnections();
      await waitFor(
        () => stats(page),
        (s) => s.state === 'reconnecting',
        5000,
      );
      const resumed = await waitFor(
        async () => ({ session: await session(), stats: await stats(page) }),
        (v) => v.session?.personal === true && v.stats.state === 'playing' && v.stats.rms > RMS_THRESHOLD,
        10_000,
      );
      assert.equal(resumed.session?.station, first?.station, 'the same session, not a new one');
      assert.equal(resumed.session?.params.mode, 'mixolydian');
      await context.close();
      await proxy.close();
    },
  );
});
