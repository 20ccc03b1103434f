/**
 * The web player in Chromium behind the impairment proxy, one short run per network profile
 * (test/browser/network-run.ts; `npm run bench:network` runs the same profiles for minutes and
 * prints the numbers). Bounds are what a loaded 2-core machine meets; each still fails on a real
 * fault: no audio, a buffer that does not adapt or runs away, a player stuck far behind live, a
 * reset it does not recover from.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startServer } from '../../src/server/server.ts';
import { launchBrowser } from './browser-helpers.ts';
import { startImpairmentProxy, type ImpairmentProxy } from './impairment-proxy.ts';
import { formatTable, profileByName, runProfile, type ProfileResult } from './network-run.ts';

type Server = Awaited<ReturnType<typeof startServer>>;

/**
 * One underrun is allowed on the good profiles: on this shared machine a main-thread stall of the
 * page (seen up to ~200 ms at start-up) can empty a 150 ms buffer once. A buffer that does not
 * adapt underruns on every impairment, many times.
 */
const SMALL_UNDERRUNS = 1;

describe('the player on bad networks, in Chromium', () => {
  let server: Server;
  let proxy: ImpairmentProxy;
  let browser: Browser;
  const rows: ProfileResult[] = [];

  before(async () => {
    [server, browser] = await Promise.all([startServer({ host: '127.0.0.1', port: 0 }), launchBrowser()]);
    proxy = await startImpairmentProxy(server.port);
  });
  after(async () => {
    if (rows.length) console.log(formatTable(rows));
    await browser?.close();
    await proxy?.close();
    await server?.close();
  });

  const run = async (name: string, seconds: number, resets: number) => {
    const r = await runProfile(browser, proxy, profileByName(name), { seconds, resets });
    rows.push(r);
    console.log(formatTable([r]).split('\n').at(-1));
    assert.deepEqual(r.errors, [], 'page errors');
    return r;
  };

  it('good LAN: plays at once, no underruns, a low target, close to live', { timeout: 60_000 }, async () => {
    const r = await run('lan', 15, 0);
    assert.ok(r.firstAudioMs !== null && r.firstAudioMs < 5000, `first audio ${r.firstAudioMs} ms`);
    assert.ok(r.underruns <= SMALL_UNDERRUNS, `${r.underruns} underruns`);
    assert.ok(r.settledTargetMs < 400, `target ${r.settledTargetMs} ms`);
    assert.ok(r.audibleShare > 0.9, `audible ${r.audibleShare}`);
    // Lag ≈ what is buffered (start-up keeps ≤ 400 ms) minus the server's 150 ms lead.
    assert.ok(r.lagP50Ms !== null && r.lagP50Ms < 1000, `lag p50 ${r.lagP50Ms} ms`);
  });

  it(
    '4G-like (50 ± 30 ms each way): no underruns, target under 400 ms, recovers from a reset',
    { timeout: 90_000 },
    async () => {
      const r = await run('4g', 20, 1);
      assert.ok(r.firstAudioMs !== null && r.firstAudioMs < 5000, `first audio ${r.firstAudioMs} ms`);
      assert.ok(r.underruns <= SMALL_UNDERRUNS, `${r.underruns} underruns`);
      assert.ok(r.settledTargetMs < 400, `target ${r.settledTargetMs} ms`);
      assert.ok(r.lagP50Ms !== null && r.lagP50Ms < 1000, `lag p50 ${r.lagP50Ms} ms`);
      // The reset was injected and seen: the player reconnected and plays again (measured ~0.6 s;
      // 5 s covers the backoff's first delay, a handshake over 4G and a loaded machine).
      const [reset] = r.resets;
      assert.ok(reset!.recoveryMs !== null && reset!.recoveryMs < 5000, `recovery ${reset!.recoveryMs} ms`);
      assert.ok(reset!.underruns <= 1, `${reset!.underruns} underruns around the reset`);
    },
  );

  it('Wi-Fi with a 300 ms stall every 10 s: rides through the stalls', { timeout: 60_000 }, async () => {
    // 25 s: two stalls (at 10 s and 20 s after the profile was set).
    const r = await run('wifi-stalls', 25, 0);
    assert.ok(r.firstAudioMs !== null && r.firstAudioMs < 5000, `first audio ${r.firstAudioMs} ms`);
    // The first stall may come before the target has learnt it: at most one underrun per stall.
    assert.ok(r.underruns <= 2, `${r.underruns} underruns`);
    // Riding a 300 ms gap needs ≥ 300 ms buffered: chunk + 300 ms + safety ≈ 430 ms; a target
    // that grew on every stall without coming down would pass 600 ms.
    assert.ok(r.settledTargetMs < 600, `target ${r.settledTargetMs} ms`);
    assert.ok(r.audibleShare > 0.85, `audible ${r.audibleShare}`);
  });

  it('2 Mb/s cap: no underruns, target under 400 ms', { timeout: 60_000 }, async () => {
    const r = await run('2mbps', 15, 0);
    assert.ok(r.firstAudioMs !== null && r.firstAudioMs < 5000, `first audio ${r.firstAudioMs} ms`);
    assert.ok(r.underruns <= SMALL_UNDERRUNS, `${r.underruns} underruns`);
    assert.ok(r.settledTargetMs < 400, `target ${r.settledTargetMs} ms`);
    assert.ok(r.lagP50Ms !== null && r.lagP50Ms < 1000, `lag p50 ${r.lagP50Ms} ms`);
  });

  it(
    '64 kb/s cap (below the 96 kb/s stream): degrades sanely, counted underruns, bounded buffer and lag',
    { timeout: 90_000 },
    async () => {
      const r = await run('64kbps', 35, 0);
      // It plays, part of the time (the link carries ~2/3 of the stream).
      assert.ok(r.firstAudioMs !== null, 'never played');
      assert.ok(r.audibleShare > 0.3, `audible ${r.audibleShare}`);
      // It cannot play continuously: the starvation happened, and was counted.
      assert.ok(r.underruns >= 1, 'a stream above the link rate played without an underrun?');
      // No runaway buffer: the target is clamped (2 s) and a fill beyond target + 1.5 s is cut.
      assert.ok(r.maxTargetMs <= 2000, `target ${r.maxTargetMs} ms`);
      assert.ok(r.bufferedMaxMs < 4000, `buffered ${r.bufferedMaxMs} ms`);
      // No runaway lag: the backlog sits in the network, so the player reconnects to catch up
      // (lag-watchdog.ts: past target + 2 s for 3 s). Without that the lag only grows (measured:
      // 4.6 s p50, 7.7 s max by the end of this run, no catch-up); with it, ≤ ~5.5 s.
      assert.ok(r.catchUps >= 1, 'never caught up with live');
      assert.ok(r.lagMaxMs !== null && r.lagMaxMs < 7000, `lag max ${r.lagMaxMs} ms`);
    },
  );
});
