import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { RMS_THRESHOLD, screenshot, stats, waitFor, serverAndBrowser } from './browser-helpers.ts';

/**
 * The page for everyone: axe-core finds no serious or critical violation in the page's main states
 * (stopped, playing with every control filled in, the token prompt of a protected station) on a
 * 390 px phone and on a desktop; the layout keeps text off the visualizer, the mood chips on even
 * rows and the volume within the first screen; the keyboard reaches every control in order, with
 * a visible focus ring, and Space/Enter work on the play button.
 */
const AXE_PATH = join(dirname(createRequire(import.meta.url).resolve('axe-core')), 'axe.min.js');
const TOKEN = 'a11y-test-token';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

interface Violation {
  id: string;
  impact: string | null;
  nodes: number;
  targets: string[];
}

/**
 * axe.run() on the page as it is: the serious and critical violations (rule, impact, where), and
 * the text whose contrast axe could not check (over an image or a gradient), reported as
 * `color-contrast-unchecked`: contrast that cannot be checked is not known to pass.
 */
async function seriousViolations(page: Page): Promise<Violation[]> {
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.addScriptTag({ path: AXE_PATH });
  const all = (await page.evaluate(`axe.run(document).then((r) => [
    ...r.violations,
    ...r.incomplete.filter((v) => v.id === 'color-contrast').map((v) => ({ ...v, id: 'color-contrast-unchecked' })),
  ].map((v) => ({
    id: v.id, impact: v.impact, nodes: v.nodes.length, targets: v.nodes.map((n) => String(n.target)),
  })))`)) as Violation[];
  return all.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
const rect = (page: Page, selector: string) =>
  page.evaluate(`(() => {
    const r = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  })()`) as Promise<Box>;
const overlaps = (a: Box, b: Box) =>
  a.width > 0 &&
  b.width > 0 &&
  a.x < b.x + b.width &&
  b.x < a.x + a.width &&
  a.y < b.y + b.height &&
  b.y < a.y + a.height;

/** The player in a fresh context; CSP bypassed only so that axe can be injected (an inline script). */
async function openForAudit(browser: Browser, url: string, viewport: { width: number; height: number }) {
  const context = await browser.newContext({ viewport, bypassCSP: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(url);
  await page.waitForFunction(`typeof window.auralisPlayer?.stats === 'function'`);
  return { context, page, errors };
}

describe('the player page is accessible (axe-core, layout, keyboard) in Chromium', () => {
  const env = serverAndBrowser({ controlToken: TOKEN });

  for (const [name, viewport] of [
    ['phone', PHONE],
    ['desktop', DESKTOP],
  ] as const) {
    it(
      `${name} (${viewport.width} px): no serious or critical violation stopped, playing, or asking for the token`,
      { timeout: 45_000 },
      async () => {
        const { context, page, errors } = await openForAudit(env.browser, env.server.url, viewport);
        try {
          await page.waitForSelector('button.chip[data-preset]');
          assert.deepEqual(await seriousViolations(page), [], 'stopped');
          await screenshot(page, `page-${name}-stopped`);

          // The layout: mood chips on rows of equal count, the volume within the first screen.
          const chipRows = (await page.evaluate(`(() => {
          const rows = new Map();
          for (const b of document.querySelectorAll('button.chip')) {
            const y = Math.round(b.getBoundingClientRect().top);
            rows.set(y, (rows.get(y) ?? 0) + 1);
          }
          return [...rows.values()];
        })()`)) as number[];
          assert.ok(
            chipRows.length >= 1 && chipRows.every((n) => n === chipRows[0]),
            `chip rows ${chipRows.join(',')}`,
          );
          const volume = await rect(page, '#volume');
          assert.ok(volume.y >= 0 && volume.y + volume.height <= viewport.height, `volume at ${volume.y}px`);

          await page.click('#play');
          const playing = await waitFor(
            () => stats(page),
            (s) => s.state === 'playing' && s.rms > RMS_THRESHOLD,
            15_000,
          );
          assert.equal(playing.state, 'playing');
          await page.waitForFunction(`document.getElementById('chord').textContent !== '—'`, null, {
            timeout: 20_000,
          });
          await page.waitForFunction(`!document.getElementById('quality').disabled`, null, {
            timeout: 10_000,
          });
          assert.deepEqual(await seriousViolations(page), [], 'playing');

          // No text over the moving drawing.
          const viz = await rect(page, '#viz');
          for (const text of ['#chord', '#now-line', '#section-note', '.now-label']) {
            assert.ok(!overlaps(viz, await rect(page, text)), `${text} overlaps the visualizer`);
          }
          await screenshot(page, `page-${name}-playing`);

          // A change refused by the protected station brings the token prompt near the controls.
          await page.click('button.chip[data-preset="sleep"]');
          await page.waitForSelector('#token-box:not([hidden])', { timeout: 10_000 });
          assert.deepEqual(await seriousViolations(page), [], 'token prompt');
          await screenshot(page, `page-${name}-token`);
          assert.deepEqual(errors, []);
        } finally {
          await context.close();
        }
      },
    );
  }

  it(
    'keyboard: Tab reaches play, chips, sliders, quality and volume in order, with a visible ring; Space and Enter play',
    { timeout: 40_000 },
    async () => {
      const { context, page } = await openForAudit(env.browser, env.server.url, DESKTOP);
      try {
        await page.waitForSelector('button.chip[data-preset]');
        // Playing, so that the quality select (disabled while stopped) is filled in and reachable.
        await page.evaluate('window.auralisPlayer.play()');
        await page.waitForFunction(`!document.getElementById('quality').disabled`, null, { timeout: 15_000 });
        const order: string[] = [];
        let ringMissing = '';
        for (let i = 0; i < 40; i++) {
          await page.keyboard.press('Tab');
          const focused = (await page.evaluate(`(() => {
          const el = document.activeElement;
          const style = getComputedStyle(el);
          return { id: el.id || (el.dataset.preset ? 'chip:' + el.dataset.preset : el.tagName),
            ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 };
        })()`)) as { id: string; ring: boolean };
          if (focused.id === 'BODY') break; // past the last control
          order.push(focused.id);
          if (!focused.ring && !ringMissing) ringMissing = focused.id;
        }
        const at = (id: string) => order.indexOf(id);
        const wanted = [
          'play',
          'volume',
          'chip:focus',
          'chip:bright',
          'key',
          'mode',
          'bpm',
          'intensity',
          'quality',
        ];
        for (const id of wanted) assert.ok(at(id) >= 0, `Tab never reaches ${id}: ${order.join(' ')}`);
        const positions = wanted.map(at);
        assert.deepEqual(
          positions,
          [...positions].sort((a, b) => a - b),
          `focus order ${order.join(' ')}`,
        );
        assert.equal(ringMissing, '', `no focus ring on ${ringMissing}`);

        await page.focus('#play');
        await page.keyboard.press('Space');
        const paused = await waitFor(
          () => stats(page),
          (s) => s.state === 'stopped',
          10_000,
        );
        assert.equal(paused.state, 'stopped');
        await page.keyboard.press('Enter');
        const resumed = await waitFor(
          () => stats(page),
          (s) => s.state === 'playing',
          15_000,
        );
        assert.equal(resumed.state, 'playing');
      } finally {
        await context.close();
      }
    },
  );
});
