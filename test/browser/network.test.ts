/**
 * The web player in Chromium behind the impairment proxy, one short run per network profile
 * (test/browser/network-run.ts; `npm run bench:network` runs the same profiles for minutes and
 * prints the numbers). Bounds are what a loaded 2-core machine meets; each still fails on a real
 * fault: no audio, a buffer that does not adapt or runs away, a player stuck far behind live, a
 * reset it does not recover from, a bitrate that does not adapt to a capped link (the last test:
 * a 40 kb/s cap, then lifted, about 80 s; it replaced a run of the 64 kb/s profile, which
 * `npm run bench:network -- --profile 64kbps` still measures).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startServer } from '../../src/server/server.ts';
import { launchBrowser } from './browser-helpers.ts';
import { startImpairmentProxy, type ImpairmentProxy } from './impairment-proxy.ts';
import {
  formatCapped,
  formatTable,
  profileByName,
  runCapped,
  runProfile,
  type ProfileResult,
} from './network-run.ts';

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
    // These links carry the 96 kb/s tier: jitter, stalls and resets are not congestion, and Auto
    // (client/src/net/abr.ts) must not step down for them.
    assert.equal(r.tierKbps, 96, `tier ${r.tierKbps} kb/s`);
    assert.equal(r.tierDowns, 0, `${r.tierDowns} steps down`);
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
    'a 40 kb/s cap, then lifted: steps down to a tier that fits, plays on, and comes back to the full tier',
    { timeout: 200_000 },
    async () => {
      // Good link 10 s, capped for the settling + 30 s, then lifted (about 80 s in all; the
      // benchmark runs the cap for minutes).
      const r = await runCapped(browser, proxy, { goodSeconds: 10, capBytesPerS: 5000, capSeconds: 30 });
      console.log(formatCapped([r]));
      assert.deepEqual(r.errors, [], 'page errors');
      // The good link carries the full tier: 96 kb/s of Opus plus headers on the wire.
      assert.equal(r.goodTierKbps, 96);
      assert.ok(r.goodWireKbps >= 96, `good link ${r.goodWireKbps} kb/s on the wire`);
      // Under the cap it settles at a tier that fits (24 kb/s × 1.25 < 40), in seconds (measured
      // 3.6–7.4 s: the step is asked ~1 s after the cap, then the 96 kb/s backlog drains ahead of
      // the server's answer; 20 s leaves room for a loaded machine).
      assert.ok(r.settleMs !== null && r.settleMs < 20_000, `settled after ${r.settleMs} ms`);
      assert.ok(r.cappedWireKbps < 40, `${r.cappedWireKbps} kb/s through a 40 kb/s cap?`);
      // And then plays: the goals are ≥ 95 % of real time and ≤ 2 underruns a minute; the bounds
      // leave a margin for a loaded 2-core machine (a main-thread stall of the page).
      assert.ok(r.playedShare >= 0.9, `played ${(r.playedShare * 100).toFixed(1)} % of real time`);
      assert.ok(r.underrunsPerMin <= 3, `${r.underruns} underruns in ${r.capSeconds.toFixed(0)} s`);
      // Lifted: full quality back within 30 s (two probes; measured 8–10 s, at most ~24 s by
      // design: abr.ts), with a margin.
      assert.ok(r.backMs !== null && r.backMs <= 40_000, `back to 96 kb/s after ${r.backMs} ms`);
      assert.ok(r.ups >= 2 && r.downs >= 1, `${r.downs} down, ${r.ups} up`);
    },
  );
});
