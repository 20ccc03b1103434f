import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  RMS_THRESHOLD,
  clickPlayAndTimeFirstAudio,
  stats,
  waitFor,
  serverAndBrowser,
} from './browser-helpers.ts';

describe('background listening on a phone, in Chromium', () => {
  const env = serverAndBrowser();

  it(
    'hands the station to the <audio> stream when the page is hidden, and back when shown',
    { timeout: 40_000 },
    async () => {
      const context = await env.browser.newContext({
        viewport: { width: 360, height: 740 },
        hasTouch: true,
        isMobile: true,
      });
      const page = await context.newPage();
      await page.goto(env.server.url);
      await page.waitForFunction(`typeof window.auralisPlayer?.stats === 'function'`);
      assert.equal(await page.evaluate(`matchMedia('(pointer: coarse)').matches`), true, 'a touch device');
      assert.ok((await clickPlayAndTimeFirstAudio(page)) !== null);
      assert.equal((await stats(page)).path, 'worklet');

      // The screen locks: the page becomes hidden (emulated: headless pages are always visible).
      const setHidden = (hidden: boolean) =>
        page.evaluate(`(() => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => ${hidden} });
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => '${hidden ? 'hidden' : 'visible'}' });
        document.dispatchEvent(new Event('visibilitychange'));
      })()`);
      await setHidden(true);
      const streaming = await waitFor(
        () => stats(page),
        (s) => s.path === 'stream' && s.state === 'playing' && s.playedFrames > 24_000,
        10_000,
      );
      assert.equal(streaming.path, 'stream');
      assert.equal(streaming.state, 'playing');
      assert.equal(await page.evaluate(`document.getElementById('stream').paused`), false);

      await setHidden(false);
      const back = await waitFor(
        () => stats(page),
        (s) => s.path === 'worklet' && s.state === 'playing' && s.rms > RMS_THRESHOLD,
        10_000,
      );
      assert.equal(back.path, 'worklet');
      assert.ok(back.rms > RMS_THRESHOLD, `rms ${back.rms}`);
      assert.equal(back.underruns, 0, 'the hand-overs are not underruns');
      // The stream element is stopped again (no double download, no double sound).
      await waitFor(
        () => page.evaluate(`document.getElementById('stream').paused`),
        (p) => p === true,
        5000,
      );
      assert.equal(await page.evaluate(`document.getElementById('stream').paused`), true);
      await context.close();
    },
  );
});
