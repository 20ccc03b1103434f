import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startServer } from '../../src/server/server.ts';
import { mulberry32 } from '../client/network-sim.ts';
import {
  RMS_THRESHOLD,
  clickPlayAndTimeFirstAudio,
  launchBrowser,
  openPlayer,
  stats,
} from './browser-helpers.ts';
import { startImpairmentProxy, type ImpairmentProxy } from './impairment-proxy.ts';

type Server = Awaited<ReturnType<typeof startServer>>;

describe('adaptive jitter buffer over a jittery path, in Chromium', () => {
  let server: Server;
  let proxy: ImpairmentProxy;
  let browser: Browser;

  before(async () => {
    [server, browser] = await Promise.all([startServer({ host: '127.0.0.1', port: 0 }), launchBrowser()]);
    proxy = await startImpairmentProxy(server.port, { random: mulberry32(42) });
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.close();
  });

  it(
    'grows its target when the network turns jittery, then plays on without underruns',
    { timeout: 60_000 },
    async () => {
      const { context, page } = await openPlayer(browser, proxy.url);
      assert.ok((await clickPlayAndTimeFirstAudio(page)) !== null);
      await page.waitForTimeout(2000);
      const calm = await stats(page);

      // 0–250 ms of extra delay per TCP segment (125 ± 125 ms), in order.
      proxy.setProfile({ delayMs: 125, jitterMs: 125 });
      await page.waitForTimeout(8000);
      const adapted = await stats(page);
      // From here on the buffer has adapted: count what happens in the next 6 s.
      let quiet = 0;
      for (let i = 0; i < 12; i++) {
        await page.waitForTimeout(500);
        if ((await stats(page)).rms < RMS_THRESHOLD) quiet++;
      }
      const end = await stats(page);
      console.log(
        `jittery path: target ${calm.targetMs.toFixed(0)} ms calm → ${adapted.targetMs.toFixed(0)} ms after 8 s → ` +
          `${end.targetMs.toFixed(0)} ms; jitter ${end.jitterMs.toFixed(0)} ms; underruns ${calm.underruns} calm, ` +
          `${adapted.underruns} while adapting, ${end.underruns} at the end; buffered ${end.bufferedMs.toFixed(0)} ms`,
      );
      assert.equal(calm.underruns, 0);
      assert.ok(end.jitterMs > 100, `measured jitter ${end.jitterMs} ms`);
      assert.ok(adapted.targetMs > calm.targetMs + 100, `target ${calm.targetMs} → ${adapted.targetMs} ms`);
      assert.equal(end.underruns, adapted.underruns, 'no underrun once adapted');
      assert.ok(quiet <= 1, `${quiet} silent samples of 12`);
      await context.close();
    },
  );
});
