/**
 * Measures the web player in Chromium behind the impairment proxy, one network profile at a time:
 * time to first audio, underruns, the buffer target it settles at, lag behind live, and recovery
 * after an injected connection reset. Shared by `test/browser/network.test.ts` (short runs with
 * bounds) and `bench/network.ts` (long runs, a printed table). Not a test file.
 */
import type { Browser, Page } from 'playwright-core';
import { RMS_THRESHOLD, clickPlayAndTimeFirstAudio, openPlayer } from './browser-helpers.ts';
import type { ImpairmentProfile, ImpairmentProxy } from './impairment-proxy.ts';

export interface NetworkProfile {
  name: string;
  description: string;
  impairment: ImpairmentProfile;
}

/** Opus at 96 kb/s plus headers is ~12.5 kB/s on the wire. */
export const PROFILES: readonly NetworkProfile[] = [
  { name: 'lan', description: 'good LAN (no impairment)', impairment: {} },
  { name: '4g', description: '4G-like: 50 ± 30 ms each way', impairment: { delayMs: 50, jitterMs: 30 } },
  {
    name: 'wifi-stalls',
    description: 'Wi-Fi: 300 ms stall every 10 s',
    impairment: { delayMs: 2, jitterMs: 1, stall: { everyMs: 10_000, forMs: 300 } },
  },
  {
    name: '2mbps',
    description: '2 Mb/s cap each way, 10 ms',
    impairment: { delayMs: 10, rateBytesPerS: 250_000 },
  },
  {
    name: '64kbps',
    description: '64 kb/s cap (below the 96 kb/s tier: Auto plays 48 kb/s)',
    impairment: { delayMs: 20, rateBytesPerS: 8000 },
  },
];

export function profileByName(name: string): NetworkProfile {
  const p = PROFILES.find((x) => x.name === name);
  if (!p) throw new Error(`unknown profile ${name}; one of ${PROFILES.map((x) => x.name).join(', ')}`);
  return p;
}

export interface Sample {
  t: number;
  state: string;
  underruns: number;
  targetMs: number;
  bufferedMs: number;
  lagMs: number | null;
  rms: number;
  connections: number;
  catchUps: number;
  tierKbps: number | null;
  tierDowns: number;
}

export interface ResetResult {
  /** From the reset to "reconnected and audible", ms; null if not within the timeout. */
  recoveryMs: number | null;
  /** Underruns between the reset and 3 s after recovery. */
  underruns: number;
}

export interface ProfileResult {
  profile: string;
  seconds: number;
  firstAudioMs: number | null;
  /** Underruns in the steady phase (no injected reset), and scaled to 10 minutes. */
  underruns: number;
  underrunsPer10Min: number;
  /** Target at the end of the steady phase, and its max over the phase. */
  settledTargetMs: number;
  maxTargetMs: number;
  bufferedP50Ms: number;
  bufferedMaxMs: number;
  lagP50Ms: number | null;
  lagMaxMs: number | null;
  /** Share of samples in the steady phase with audible output. */
  audibleShare: number;
  /** Reconnects the player made by itself in the steady phase (no reset injected). */
  reconnects: number;
  /** Of those, reconnects to catch up with live (the lag watchdog). */
  catchUps: number;
  /** The bitrate tier of most samples in the steady phase (kb/s), and Auto's steps down in it. */
  tierKbps: number | null;
  tierDowns: number;
  resets: ResetResult[];
  errors: string[];
}

/** Starts an in-page sampler (every `everyMs`) that keeps its samples in `window.__netSamples`. */
async function startSampler(page: Page, everyMs: number): Promise<void> {
  await page.evaluate(`(() => {
    window.__netSamples = [];
    window.__netSampler = setInterval(() => {
      const s = window.auralisPlayer.stats();
      window.__netSamples.push({ t: Date.now(), state: s.state, underruns: s.underruns, targetMs: s.targetMs,
        bufferedMs: s.bufferedMs, lagMs: s.lagMs, rms: s.rms, connections: s.connections, catchUps: s.catchUps,
        tierKbps: s.tierKbps, tierDowns: s.tierDowns });
    }, ${everyMs});
  })()`);
}

async function takeSamples(page: Page): Promise<Sample[]> {
  return (await page.evaluate(`(() => {
    const s = window.__netSamples;
    window.__netSamples = [];
    return s;
  })()`)) as Sample[];
}

/** Resets the connections and measures, in the page, the time until it plays again. */
async function measureReset(page: Page, proxy: ImpairmentProxy, timeoutMs: number): Promise<ResetResult> {
  const before = (await page.evaluate('window.auralisPlayer.stats()')) as Sample;
  const waiting = page.evaluate(`new Promise((resolve) => {
    const end = Date.now() + ${timeoutMs};
    const tick = () => {
      const s = window.auralisPlayer.stats();
      if (s.connections > ${before.connections} && s.state === 'playing' && s.rms > ${RMS_THRESHOLD}) resolve(Date.now());
      else if (Date.now() > end) resolve(null);
      else setTimeout(tick, 10);
    };
    tick();
  })`) as Promise<number | null>;
  const resetAt = Date.now();
  proxy.resetConnections();
  const at = await waiting;
  await page.waitForTimeout(3000);
  const after = (await page.evaluate('window.auralisPlayer.stats()')) as Sample;
  return { recoveryMs: at === null ? null : at - resetAt, underruns: after.underruns - before.underruns };
}

function mostCommon<T>(values: T[]): T | undefined {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: T | undefined;
  let n = 0;
  for (const [v, c] of counts) if (c > n) [best, n] = [v, c];
  return best;
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

/**
 * Runs one profile in a fresh browser context: sets the proxy's profile, opens the player through
 * it, plays for `seconds` (steady phase, sampled every 250 ms), then injects `resets` connection
 * resets 10 s apart and measures each recovery.
 */
export async function runProfile(
  browser: Browser,
  proxy: ImpairmentProxy,
  profile: NetworkProfile,
  opts: { seconds: number; resets: number; firstAudioTimeoutMs?: number; recoveryTimeoutMs?: number },
): Promise<ProfileResult> {
  proxy.setProfile(profile.impairment);
  const { context, page, errors } = await openPlayer(browser, proxy.url);
  try {
    const firstAudioMs = await clickPlayAndTimeFirstAudio(page, opts.firstAudioTimeoutMs ?? 15_000);
    const startStats = (await page.evaluate('window.auralisPlayer.stats()')) as Sample;
    await startSampler(page, 250);
    await page.waitForTimeout(opts.seconds * 1000);
    const samples = await takeSamples(page);
    const last = samples.at(-1) ?? startStats;
    const lags = samples.map((s) => s.lagMs).filter((x): x is number => typeof x === 'number');
    const buffered = samples.map((s) => s.bufferedMs);
    const underruns = last.underruns - startStats.underruns;
    const resets: ResetResult[] = [];
    for (let i = 0; i < opts.resets; i++) {
      if (i > 0) await page.waitForTimeout(7000);
      resets.push(await measureReset(page, proxy, opts.recoveryTimeoutMs ?? 20_000));
    }
    return {
      profile: profile.name,
      seconds: opts.seconds,
      firstAudioMs,
      underruns,
      underrunsPer10Min: (underruns / opts.seconds) * 600,
      settledTargetMs: last.targetMs,
      maxTargetMs: Math.max(0, ...samples.map((s) => s.targetMs)),
      bufferedP50Ms: buffered.length ? percentile(buffered, 0.5) : 0,
      bufferedMaxMs: buffered.length ? Math.max(...buffered) : 0,
      lagP50Ms: lags.length ? percentile(lags, 0.5) : null,
      lagMaxMs: lags.length ? Math.max(...lags) : null,
      audibleShare: samples.length ? samples.filter((s) => s.rms > RMS_THRESHOLD).length / samples.length : 0,
      reconnects: last.connections - startStats.connections,
      catchUps: last.catchUps - startStats.catchUps,
      tierKbps: mostCommon(samples.map((s) => s.tierKbps)) ?? last.tierKbps,
      tierDowns: last.tierDowns - startStats.tierDowns,
      resets,
      errors,
    };
  } finally {
    await context.close();
  }
}

const fmt = (x: number | null, digits = 0) => (x === null ? '–' : x.toFixed(digits));

export function formatTable(rows: ProfileResult[]): string {
  const head =
    '| profile | minutes | underruns / 10 min (count) | settled target (ms) | max target (ms) | lag behind live p50 / max (ms) | buffered p50 / max (ms) | audible | reconnects (catch-ups) | tier most of the time (kb/s), steps down | first audio (ms) | reset recovery (ms) | underruns per reset |';
  const sep = '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const body = rows.map((r) => {
    const rec = r.resets.map((x) => fmt(x.recoveryMs)).join(', ') || '–';
    const ur = r.resets.map((x) => x.underruns).join(', ') || '–';
    return (
      `| ${r.profile} | ${(r.seconds / 60).toFixed(1)} | ${r.underrunsPer10Min.toFixed(1)} (${r.underruns}) | ` +
      `${r.settledTargetMs.toFixed(0)} | ${r.maxTargetMs.toFixed(0)} | ${fmt(r.lagP50Ms)} / ${fmt(r.lagMaxMs)} | ` +
      `${r.bufferedP50Ms.toFixed(0)} / ${r.bufferedMaxMs.toFixed(0)} | ${(r.audibleShare * 100).toFixed(0)} % | ` +
      `${r.reconnects} (${r.catchUps}) | ${fmt(r.tierKbps)}, ${r.tierDowns} | ${fmt(r.firstAudioMs)} | ${rec} | ${ur} |`
    );
  });
  return [head, sep, ...body].join('\n');
}

// ---- the capped link: adaptive bitrate ----------------------------------------------------------

export interface CappedOptions {
  /** Good link before the cap, s (the wire bitrate is measured over its last 10 s). */
  goodSeconds: number;
  /** Bottleneck while capped, bytes/s (5000 = 40 kb/s). */
  capBytesPerS: number;
  /** Time measured under the cap once the tier has settled, s. */
  capSeconds: number;
  /** Longest wait for the tier to settle under the cap, and to come back after, ms. */
  settleTimeoutMs?: number;
  backTimeoutMs?: number;
  /** One-way delay of the link throughout, ms. */
  delayMs?: number;
}

export interface CappedResult {
  capKbps: number;
  /** The tier on the good link, and the bytes that reached the browser over 10 s of it, kb/s. */
  goodTierKbps: number | null;
  goodWireKbps: number;
  /** From the cap to the server confirming a tier whose rate × 1.25 fits under it, ms. */
  settleMs: number | null;
  settledTierKbps: number | null;
  /** Measured under the cap, from the settling for capSeconds. */
  capSeconds: number;
  /** Audio played ÷ real time, underruns (and per minute), over that window. */
  playedShare: number;
  underruns: number;
  underrunsPerMin: number;
  /** Bytes that reached the browser over that window, kb/s. */
  cappedWireKbps: number;
  /** Lag behind live over that window (sampled every 250 ms), ms. */
  lagP50Ms: number | null;
  lagMaxMs: number | null;
  /** The jitter buffer's target and fill over that window, p50, ms. */
  targetP50Ms: number;
  bufferedP50Ms: number;
  /** Auto's decisions over the whole run: steps down and probes up. */
  downs: number;
  ups: number;
  /** Underruns between the cap and the settling (the backlog of the faster tier draining). */
  settleUnderruns: number;
  reconnects: number;
  catchUps: number;
  /** From lifting the cap to the good link's tier confirmed again, ms. */
  backMs: number | null;
  errors: string[];
}

async function waitForTier(
  page: Page,
  ok: (kbps: number | null) => boolean,
  timeoutMs: number,
): Promise<number | null> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    const s = (await page.evaluate('window.auralisPlayer.stats()')) as { tierKbps: number | null };
    if (ok(s.tierKbps)) return Date.now() - start;
    await page.waitForTimeout(100);
  }
  return null;
}

interface CapSample {
  tierKbps: number | null;
  underruns: number;
  playedFrames: number;
  connections: number;
  catchUps: number;
  tierDowns: number;
  tierUps: number;
}

const capSample = (page: Page) => page.evaluate('window.auralisPlayer.stats()') as Promise<CapSample>;

/**
 * A good link, then a cap below the stream's bitrate, then the cap lifted (adaptive bitrate,
 * client/src/net/abr.ts): the tier and wire bitrate on the good link, the time to settle at a tier
 * that fits, how well it plays under the cap, and the time back to the good link's tier.
 */
export async function runCapped(
  browser: Browser,
  proxy: ImpairmentProxy,
  opts: CappedOptions,
): Promise<CappedResult> {
  const delayMs = opts.delayMs ?? 20;
  proxy.setProfile({ delayMs });
  const { context, page, errors } = await openPlayer(browser, proxy.url);
  try {
    const first = await clickPlayAndTimeFirstAudio(page, 15_000);
    if (first === null) throw new Error('no audio on the good link');
    const start = await capSample(page);
    // Good link: let the page's start-up pass, then count the bytes of 10 s.
    await page.waitForTimeout(Math.max(0, opts.goodSeconds - 10) * 1000);
    const bytes0 = proxy.counters.bytesToClient;
    const t0 = Date.now();
    await page.waitForTimeout(Math.min(10, opts.goodSeconds) * 1000);
    const goodWireKbps = ((proxy.counters.bytesToClient - bytes0) * 8) / (Date.now() - t0);
    const good = await capSample(page);

    // The cap: wait for a tier that fits.
    const capKbps = (opts.capBytesPerS * 8) / 1000;
    const fits = (kbps: number | null) => kbps !== null && kbps * 1.25 < capKbps;
    proxy.setProfile({ delayMs, rateBytesPerS: opts.capBytesPerS });
    const capAt = await capSample(page);
    const settleMs = await waitForTier(page, fits, opts.settleTimeoutMs ?? 30_000);
    const settled = await capSample(page);
    const w0 = Date.now();
    const wBytes0 = proxy.counters.bytesToClient;
    await startSampler(page, 250);
    await page.waitForTimeout(opts.capSeconds * 1000);
    const w1 = Date.now();
    const samples = await takeSamples(page);
    const lags = samples.map((x) => x.lagMs).filter((x): x is number => typeof x === 'number');
    await page.evaluate('clearInterval(window.__netSampler)');
    const cappedWireKbps = ((proxy.counters.bytesToClient - wBytes0) * 8) / (w1 - w0);
    const end = await capSample(page);

    // Lift the cap: back to the good link's tier.
    proxy.setProfile({ delayMs });
    const backMs = await waitForTier(
      page,
      (k) => k !== null && k >= (good.tierKbps ?? 0),
      opts.backTimeoutMs ?? 45_000,
    );
    const last = await capSample(page);
    const seconds = (w1 - w0) / 1000;
    const underruns = end.underruns - settled.underruns;
    return {
      capKbps,
      goodTierKbps: good.tierKbps,
      goodWireKbps,
      settleMs,
      settledTierKbps: settled.tierKbps,
      capSeconds: seconds,
      playedShare: (end.playedFrames - settled.playedFrames) / 48_000 / seconds,
      underruns,
      underrunsPerMin: (underruns / seconds) * 60,
      cappedWireKbps,
      lagP50Ms: lags.length ? percentile(lags, 0.5) : null,
      lagMaxMs: lags.length ? Math.max(...lags) : null,
      targetP50Ms: samples.length
        ? percentile(
            samples.map((x) => x.targetMs),
            0.5,
          )
        : 0,
      bufferedP50Ms: samples.length
        ? percentile(
            samples.map((x) => x.bufferedMs),
            0.5,
          )
        : 0,
      downs: last.tierDowns - start.tierDowns,
      ups: last.tierUps - start.tierUps,
      settleUnderruns: settled.underruns - capAt.underruns,
      reconnects: last.connections - start.connections,
      catchUps: last.catchUps - start.catchUps,
      backMs,
      errors,
    };
  } finally {
    await context.close();
    proxy.setProfile({});
  }
}

export function formatCapped(rows: CappedResult[]): string {
  const head =
    '| cap (kb/s) | good link: tier / wire (kb/s) | settle (s) | settled tier (kb/s) | underruns while settling | under the cap (s) | played | underruns (per min) | wire under the cap (kb/s) | lag behind live p50 / max (ms) | target / buffered p50 (ms) | back to full tier (s) | steps down / probes up | reconnects (catch-ups) |';
  const sep =
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const s = (ms: number | null) => (ms === null ? 'never' : (ms / 1000).toFixed(1));
  const body = rows.map(
    (r) =>
      `| ${r.capKbps} | ${fmt(r.goodTierKbps)} / ${r.goodWireKbps.toFixed(1)} | ${s(r.settleMs)} | ${fmt(r.settledTierKbps)} | ` +
      `${r.settleUnderruns} | ${r.capSeconds.toFixed(0)} | ${(r.playedShare * 100).toFixed(1)} % | ` +
      `${r.underruns} (${r.underrunsPerMin.toFixed(2)}) | ${r.cappedWireKbps.toFixed(1)} | ` +
      `${fmt(r.lagP50Ms)} / ${fmt(r.lagMaxMs)} | ${r.targetP50Ms.toFixed(0)} / ${r.bufferedP50Ms.toFixed(0)} | ${s(r.backMs)} | ` +
      `${r.downs} / ${r.ups} | ${r.reconnects} (${r.catchUps}) |`,
  );
  return [head, sep, ...body].join('\n');
}
