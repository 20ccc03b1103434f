import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startServer } from '../../src/server/server.ts';
import {
  RMS_THRESHOLD,
  clickPlayAndTimeFirstAudio,
  launchBrowser,
  openPlayer,
  stats,
  waitFor,
} from './browser-helpers.ts';

type Server = Awaited<ReturnType<typeof startServer>>;

describe('web player reconnection in Chromium', () => {
  let server: Server | null = null;
  let browser: Browser;

  before(async () => {
    [server, browser] = await Promise.all([startServer({ host: '127.0.0.1', port: 0 }), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it(
    'reconnects by itself when the server restarts under the page, and plays again',
    { timeout: 60_000 },
    async () => {
      const { context, page, errors } = await openPlayer(browser, server!.url);
      assert.ok((await clickPlayAndTimeFirstAudio(page)) !== null);
      await page.waitForTimeout(1000);
      const port = server!.port;

      const downAt = Date.now();
      await server!.close();
      server = null;
      const down = await waitFor(
        () => stats(page),
        (s) => s.state === 'reconnecting',
        5000,
      );
      assert.equal(down.state, 'reconnecting');
      assert.match((await page.textContent('#conn-text')) ?? '', /Reconnecting/);
      // The buffer ran dry while the server was away: the output faded to silence.
      const silent = await waitFor(
        () => stats(page),
        (s) => s.rms < 1e-4,
        5000,
      );
      assert.ok(silent.rms < 1e-4, `rms while the server is down ${silent.rms}`);
      const framesWhileDown = silent.playedFrames;

      const restartedAt = Date.now();
      server = await startServer({ host: '127.0.0.1', port });
      const listeningAt = Date.now();
      const back = await waitFor(
        () => stats(page),
        (s) => s.state === 'playing' && s.rms > RMS_THRESHOLD && s.playedFrames > framesWhileDown + 24_000,
        15_000,
      );
      console.log(
        `server down ${restartedAt - downAt} ms, restart took ${listeningAt - restartedAt} ms; ` +
          `audible again ${Date.now() - listeningAt} ms after it listened`,
      );
      assert.equal(back.state, 'playing');
      assert.ok(back.rms > RMS_THRESHOLD, `rms ${back.rms}`);
      // The page never logged an error for the socket drop it handled.
      assert.deepEqual(
        errors.filter((e) => !/WebSocket/.test(e)),
        [],
      );
      await context.close();
    },
  );
});
