import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clickPlayAndTimeFirstAudio, until, waitFor, serverAndBrowser } from './browser-helpers.ts';

describe('the live score in Chromium', () => {
  const env = serverAndBrowser();

  it('receives the notes and the visualizer draws them', { timeout: 40_000 }, async () => {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(env.server.url);
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
    const sharer = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const first = await sharer.newPage();
    await first.goto(env.server.url);
    await until(first, `typeof window.auralisPlayer?.score === 'function'`, 15_000);
    await first.click('#share-moment');
    await until(first, `document.getElementById('moment-url').value.includes('?moment=')`, 15_000);
    const m = { url: await first.inputValue('#moment-url') };
    await sharer.close();
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
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
