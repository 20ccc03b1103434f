import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { PRESETS } from '../../src/music/presets.ts';
import {
  getJson,
  openPlayer,
  screenshot,
  stats,
  until,
  waitFor,
  serverAndBrowser,
} from './browser-helpers.ts';

/**
 * What the page says is true: the mood line after a preset was changed, the now panel after a
 * pause, the Playback hint for each option; and a station protected by a control token asks for
 * the token (kept in sessionStorage only) or offers a personal session.
 */
const TOKEN = 'page-test-token';
interface StationView {
  params: { mode: string; bpm: number; intensity: number; preset: string | null; modified?: boolean };
}

const text = (page: Page, selector: string) =>
  page.evaluate(`document.querySelector(${JSON.stringify(selector)}).textContent`) as Promise<string>;

describe('the player page tells the truth and asks for a token in Chromium', () => {
  const env = serverAndBrowser({ controlToken: TOKEN });

  const station = () => getJson<StationView>(`${env.server.url}/api/stations/default`);
  const patch = (body: object) =>
    getJson<StationView>(`${env.server.url}/api/stations/default`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(body),
    });

  it(
    'mood line "Sleep, modified" with the values playing; "Paused" after pause; a hint per Playback option',
    { timeout: 40_000 },
    async () => {
      const { context, page, errors } = await openPlayer(env.browser, env.server.url);
      try {
        await page.click('#play');
        await waitFor(
          () => stats(page),
          (s) => s.state === 'playing',
          15_000,
        );

        await patch({ preset: 'sleep' });
        await until(page, `document.getElementById('preset-out').textContent === 'Sleep'`, 10_000);
        assert.equal(await page.getAttribute('button.chip[data-preset="sleep"]', 'aria-pressed'), 'true');
        // The chosen preset's one-line character, visible; every chip's tooltip starts with its own.
        const sleepPreset = PRESETS.find((p) => p.name === 'sleep')!;
        assert.equal(await text(page, '#preset-note'), sleepPreset.character);
        for (const p of PRESETS) {
          const title = await page.getAttribute(`button.chip[data-preset="${p.name}"]`, 'title');
          assert.ok(title?.startsWith(p.character), `${p.name}: ${title}`);
        }

        // Someone changes the tempo: the preset is no longer what it claims.
        const changed = await patch({ bpm: 52 });
        assert.equal(changed.params.modified, true, 'the server reports the preset as modified');
        await until(page, `document.getElementById('preset-out').textContent === 'Sleep, modified'`, 10_000);
        const note = await text(page, '#preset-note');
        assert.match(note, /phrygian, 52 BPM/, note);
        assert.doesNotMatch(note, /40 BPM/, note);
        assert.equal(await page.getAttribute('button.chip[data-preset="sleep"]', 'data-modified'), 'true');
        await screenshot(page, 'page-desktop-modified');

        // Pause: nothing is sounding, and the page says so.
        await until(page, `!['—', 'Paused'].includes(document.getElementById('chord').textContent)`, 20_000);
        await page.click('#play');
        await waitFor(
          () => stats(page),
          (s) => s.state === 'stopped',
          10_000,
        );
        assert.equal(await text(page, '#chord'), 'Paused');
        assert.equal(await page.isHidden('#section-note'), true);
        await screenshot(page, 'page-desktop-paused');
        await page.click('#play');
        await until(page, `!['—', 'Paused'].includes(document.getElementById('chord').textContent)`, 20_000);

        // Each Playback option has its own hint.
        const auto = await text(page, '#engine-note');
        await page.selectOption('#engine', 'stream');
        const stream = await text(page, '#engine-note');
        assert.match(auto, /least delay/, auto);
        assert.match(stream, /screen off/, stream);
        assert.match(stream, /behind/, stream);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    },
  );

  it(
    'a protected station asks for its token near the controls; the token works and stays in sessionStorage',
    { timeout: 45_000 },
    async () => {
      await patch({ preset: 'sleep' });
      const { context, page } = await openPlayer(env.browser, env.server.url);
      const sockets: string[] = [];
      page.on('websocket', (ws) => sockets.push(ws.url()));
      try {
        await page.click('#play');
        await waitFor(
          () => stats(page),
          (s) => s.state === 'playing',
          15_000,
        );
        assert.equal(await page.isHidden('#token-box'), true, 'no prompt before a refusal');

        await page.click('button.chip[data-preset="focus"]');
        await page.waitForSelector('#token-box:not([hidden])', { timeout: 10_000 });
        assert.match(await text(page, '#token-message'), /protected.*control token.*personal session/s);

        // A wrong token is refused and not kept.
        await page.fill('#token', 'wrong');
        await page.click('#token-form button[type="submit"]');
        await page.waitForSelector('#token-error:not([hidden])', { timeout: 10_000 });
        assert.equal((await station()).params.preset, 'sleep');
        assert.equal(await page.evaluate(`sessionStorage.getItem('auralis.controlToken')`), null);

        // The right one: the refused change is applied, and later changes go through too.
        await page.fill('#token', TOKEN);
        await page.click('#token-form button[type="submit"]');
        await until(page, `document.getElementById('token-box').hidden`, 10_000);
        const applied = await waitFor(station, (s) => s.params.preset === 'focus', 10_000);
        assert.equal(applied.params.preset, 'focus');
        const reconnected = await waitFor(
          async () => sockets.filter((u) => new URL(u).searchParams.get('token') === TOKEN).length,
          (n) => n > 0,
          10_000,
        );
        assert.ok(reconnected > 0, `sockets: ${sockets.join(' ')}`);
        await waitFor(
          () => stats(page),
          (s) => s.state === 'playing',
          15_000,
        );
        await page.selectOption('#mode', 'lydian');
        const later = await waitFor(station, (s) => s.params.mode === 'lydian', 10_000);
        assert.equal(later.params.mode, 'lydian');

        // Kept for this tab only: never in localStorage or the address bar.
        assert.equal(await page.evaluate(`sessionStorage.getItem('auralis.controlToken')`), TOKEN);
        const local = (await page.evaluate(`JSON.stringify({ ...localStorage })`)) as string;
        assert.ok(!local.includes(TOKEN), local);
        assert.ok(!page.url().includes(TOKEN), page.url());
      } finally {
        await context.close();
      }
    },
  );

  it('the prompt offers a personal session, which needs no token', { timeout: 30_000 }, async () => {
    const { context, page } = await openPlayer(env.browser, env.server.url);
    try {
      await page.click('#play');
      await waitFor(
        () => stats(page),
        (s) => s.state === 'playing',
        15_000,
      );
      await page.click('button.chip[data-preset="bright"]');
      await page.waitForSelector('#token-box:not([hidden])', { timeout: 10_000 });
      await page.click('#go-personal');
      assert.equal(await page.isHidden('#token-box'), true);
      assert.equal(await page.inputValue('#source'), 'personal');
      const personal = await waitFor(
        () => page.evaluate('window.auralisPlayer.session()') as Promise<{ personal: boolean } | null>,
        (s) => s?.personal === true,
        15_000,
      );
      assert.equal(personal?.personal, true);
      await page.click('button.chip[data-preset="bright"]');
      await until(page, `document.getElementById('preset-out').textContent === 'Bright'`, 10_000);
      assert.equal(await page.isHidden('#token-box'), true, 'a personal session never asks for the token');
    } finally {
      await context.close();
    }
  });
});
