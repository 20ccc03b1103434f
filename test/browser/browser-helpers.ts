/**
 * Shared set-up for the real-browser tests: Debian's Chromium driven by playwright-core, a real
 * Auralis server on port 0, and small polling helpers. Not a test file.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startServer } from '../../src/server/server.ts';

export const CHROMIUM_PATH = process.env.AURALIS_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = join(import.meta.dirname, '../../artifacts/screenshots');
/** Audio above this RMS (−60 dBFS) is "not silent". */
export const RMS_THRESHOLD = 0.001;

export interface PlayerStats {
  state: string;
  bufferedMs: number;
  targetMs: number;
  underruns: number;
  playedFrames: number;
  rms: number;
  codec: string;
  rttMs: number | null;
  jitterMs: number;
  splices: number;
  path: 'worklet' | 'stream';
  connections: number;
  /** The Opus tier this connection gets (kb/s), and whether Auto chooses it. */
  tierKbps: number | null;
  tierMode: 'auto' | 'manual';
}

/** `autoplay: false` keeps Chromium's default policy (sound only after a user gesture). */
export async function launchBrowser(opts: { autoplay?: boolean } = {}): Promise<Browser> {
  // `launch` uses a fresh temporary profile (user-data-dir) every time.
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(opts.autoplay === false ? [] : ['--autoplay-policy=no-user-gesture-required']),
    ],
  });
}

export async function openPlayer(
  browser: Browser,
  url: string,
  viewport = { width: 1280, height: 900 },
): Promise<{ context: BrowserContext; page: Page; errors: string[]; requests: string[] }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(url);
  await page.waitForFunction(`typeof window.auralisPlayer?.stats === 'function'`);
  return { context, page, errors, requests };
}

/**
 * `window.auralisPlayer.stats()` in the page. In-page code is passed as strings throughout these
 * tests: the root tsconfig has no DOM types, and tsx would wrap named inner functions in a
 * `__name` helper that does not exist in the page.
 */
export function stats(page: Page): Promise<PlayerStats> {
  return page.evaluate('window.auralisPlayer.stats()') as Promise<PlayerStats>;
}

/** Polls `probe` until it returns a truthy value or `timeoutMs` passes; returns the last value. */
export async function waitFor<T>(
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let value = await probe();
  while (!ok(value) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, intervalMs));
    value = await probe();
  }
  return value;
}

/**
 * Clicks play and measures, inside the page, the time until the worklet reports audible output.
 * Returns ms, or null if it never became audible within `timeoutMs`.
 */
/**
 * Polls an expression in the page until it is true, through page.evaluate (CDP, which the page's
 * CSP allows): page.waitForFunction polls with an eval inside the page, which `script-src 'self'`
 * forbids, so it only works when the expression is already true at its first check. Fails with the
 * expression when it never is.
 */
export async function until(page: Page, expression: string, timeoutMs: number): Promise<void> {
  const ok = await waitFor(
    () => page.evaluate(expression),
    (v) => v === true,
    timeoutMs,
  );
  if (ok !== true) throw new Error(`never true within ${timeoutMs} ms: ${expression}`);
}

export async function clickPlayAndTimeFirstAudio(page: Page, timeoutMs = 5000): Promise<number | null> {
  return page.evaluate(`new Promise((resolve) => {
    const t0 = performance.now();
    const tick = () => {
      if (window.auralisPlayer.stats().rms > ${RMS_THRESHOLD}) resolve(performance.now() - t0);
      else if (performance.now() - t0 > ${timeoutMs}) resolve(null);
      else setTimeout(tick, 5);
    };
    document.getElementById('play').click();
    tick();
  })`) as Promise<number | null>;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url} → ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export type TestServer = Awaited<ReturnType<typeof startServer>>;

/**
 * A suite's real server (127.0.0.1, port 0, with `config`) and Chromium, started together before
 * its tests and closed after them (the browser first). Read `server` and `browser` inside tests,
 * once `before` has run.
 */
export function serverAndBrowser(
  config: Parameters<typeof startServer>[0] = {},
  browserOpts: { autoplay?: boolean } = {},
): { readonly server: TestServer; readonly browser: Browser } {
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  before(async () => {
    [server, browser] = await Promise.all([
      startServer({ ...config, host: '127.0.0.1', port: 0 }),
      launchBrowser(browserOpts),
    ]);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });
  return {
    get server() {
      return server!;
    },
    get browser() {
      return browser!;
    },
  };
}
