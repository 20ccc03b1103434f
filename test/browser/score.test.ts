import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startServer } from '../../src/server/server.ts';
import { clickPlayAndTimeFirstAudio, launchBrowser, until, waitFor } from './browser-helpers.ts';

type Server = Awaited<ReturnType<typeof startServer>>;

describe('the live score in Chromium', () => {
  let server: Server;
  let browser: Browser;

  before(async () => {
    [server, browser] = await Promise.all([startServer({ host: '127.0.0.1', port: 0 }), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('receives the notes and the visualizer draws them', { timeout: 40_000 }, async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(server.url);
    await until(page, `typeof window.auralisPlayer?.score === 'function'`, 15_000);
    assert.ok((await clickPlayAndTimeFirstAudio(page, 15_000)) !== null, 'audio plays');
    const score = () =>
      page.evaluate('window.auralisPlayer.score()') as Promise<{ received: number; drawn: number }>;
    const s = await waitFor(score, (v) => v.received > 0 && v.drawn > 0, 15_000);
    assert.ok(s.received > 0, `notes received: ${JSON.stringify(s)}`);
    assert.ok(s.drawn > 0, `notes drawn: ${JSON.stringify(s)}`);
    await context.close();
  });

  it("opens a moment's url as a personal session at that moment", { timeout: 40_000 }, async () => {
    // The page's own button gives the link.
    const sharer = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const first = await sharer.newPage();
    await first.goto(server.url);
    await until(first, `typeof window.auralisPlayer?.score === 'function'`, 15_000);
    await first.click('#share-moment');
    await until(first, `document.getElementById('moment-url').value.includes('?moment=')`, 15_000);
    const m = { url: await first.inputValue('#moment-url') };
    await sharer.close();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(m.url);
    await until(page, `typeof window.auralisPlayer?.stats === 'function'`, 15_000);
    assert.ok((await clickPlayAndTimeFirstAudio(page, 15_000)) !== null, 'audio plays');
    const session = () =>
      page.evaluate('window.auralisPlayer.session()') as Promise<{
        personal: boolean;
        station: string;
      } | null>;
    const s = await waitFor(session, (v) => v?.personal === true, 15_000);
    assert.equal(s?.personal, true);
    assert.ok(!page.url().includes('moment='), 'the moment left the address once the session existed');
    await context.close();
  });
});
