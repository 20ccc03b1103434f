import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clickPlayAndTimeFirstAudio, stats, serverAndBrowser } from './browser-helpers.ts';

describe('autoplay policy in Chromium', () => {
  const env = serverAndBrowser({}, { autoplay: false });

  it(
    'a returning listener whose browser blocks autoplay gets a calm "press play", then one click plays',
    { timeout: 30_000 },
    async () => {
      const context = await env.browser.newContext();
      // This listener left the page while it was playing.
      await context.addInitScript(
        `localStorage.setItem('auralis.player.v1', JSON.stringify({ station: 'default', wasPlaying: true }))`,
      );
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(env.server.url);
      // Nothing may touch the page while it decides (its check runs 1.5 s after start): every
      // page.evaluate()/waitForFunction() of Playwright counts as a user gesture (CDP's
      // userGesture), which would let the suspended AudioContext start and the "autoplay" play.
      // A listener who does not touch the page gives it no gesture either. A timer on this side
      // sends nothing to the page.
      await page.waitForTimeout(4000);
      assert.equal(await page.evaluate(`typeof window.auralisPlayer?.stats`), 'function');
      const s = await stats(page);
      assert.equal(s.state, 'stopped');
      assert.equal(s.rms, 0);
      assert.equal(await page.getAttribute('#conn', 'data-state'), 'stopped');
      assert.match((await page.textContent('#now-line')) ?? '', /Press play/);
      const status = (await (await fetch(`${env.server.url}/api/status`)).json()) as { listeners: number };
      assert.equal(status.listeners, 0, 'no socket left open by the refused autoplay');

      const firstAudioMs = await clickPlayAndTimeFirstAudio(page);
      assert.ok(firstAudioMs !== null && firstAudioMs < 1000, `first audio after ${firstAudioMs} ms`);
      assert.deepEqual(errors, []);
      await context.close();
    },
  );
});
