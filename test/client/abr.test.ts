import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AbrController,
  CONGESTION_DELAY_MS,
  MAX_HOLD_MS,
  NEXT_PROBE_AFTER_UP_MS,
  type ChunkObservation,
} from '../../client/src/net/abr.ts';
import { mulberry32 } from './network-sim.ts';

/**
 * A millisecond-step simulation of the server, one link and the player's buffer, driving the
 * controller as the player does:
 * - the server sends a 100 ms chunk every 100 ms, LEAD_MS before its play time, of the tier this
 *   connection has (bytes = tier rate × 100 ms + header and framing);
 * - the link is a FIFO: a chunk leaves after the ones before it, at `rate(t)` bytes/s (0: no cap),
 *   and arrives `delay(t)` ms later (in order, as TCP);
 * - a `bitrate` request reaches the server after the one-way delay; the server switches at the
 *   first chunk it sends SWITCH_WARMUP_MS after that (the new tier's encoder warm-up) and its
 *   answer arrives just before that chunk;
 * - the buffer plays in real time, starts (and restarts after running dry) at TARGET_MS.
 */
const TIERS = [24, 48, 96, 128];
const CHUNK_MS = 100;
const LEAD_MS = 150;
const TARGET_MS = 200;
const SWITCH_WARMUP_MS = 200;
/** 32-byte chunk header + WebSocket framing + 5 packet lengths. */
const OVERHEAD_BYTES = 32 + 4 + 10;
const chunkBytes = (kbps: number) => (kbps * 1000 * CHUNK_MS) / 8000 + OVERHEAD_BYTES;

interface Link {
  /** Bytes/s at time t (ms); 0 = unlimited. */
  rate(t: number): number;
  /** One-way delay of a chunk leaving the bottleneck at t, ms. */
  delay(t: number): number;
  /** No byte moves in [t, t + stall) when this returns the stall's length at t (Wi-Fi). */
  stallUntil?(t: number): number;
}

interface SimResult {
  decisions: Array<{ t: number; kbps: number; reason: string }>;
  /** The tier the player received, per second of the run. */
  tierAt(tMs: number): number;
  /** Time (ms) at which the player first received chunks of `kbps` after `fromMs`; null if never. */
  firstAt(kbps: number, fromMs: number): number | null;
  underrunsBetween(fromMs: number, toMs: number): number;
  playedShare(fromMs: number, toMs: number): number;
  abr: AbrController;
}

function simulate(
  seconds: number,
  link: Link,
  opts: { start?: number; manualAt?: Array<[number, number | null]> } = {},
): SimResult {
  const abr = new AbrController();
  const startKbps = opts.start ?? 96;
  abr.onWelcome(TIERS, startKbps, 0);
  let serverTier = startKbps;
  let pendingSwitch = null as { kbps: number; atServerMs: number } | null;
  const inFlight: Array<{
    arriveMs: number;
    kbps: number;
    seq: number;
    playMs: number;
    bytes: number;
    confirm: boolean;
  }> = [];
  let lastDeparture = 0;
  let level = 0;
  let playing = false;
  let underruns = 0;
  const underrunTimes: number[] = [];
  const playedMs = new Uint8Array(seconds * 1000);
  const receivedTier = new Float64Array(seconds);
  const decisions: SimResult['decisions'] = [];
  const arrivalsByTier: Array<{ t: number; kbps: number }> = [];
  const obs: ChunkObservation = {
    arrivalMs: 0,
    playTimeMs: 0,
    sequence: 0,
    bytes: 0,
    bufferedMs: 0,
    targetMs: TARGET_MS,
    underruns: 0,
  };
  let seq = 0;
  const manual = [...(opts.manualAt ?? [])];
  const send = (kbps: number, t: number) => {
    decisions.push({ t, kbps, reason: abr.reason });
    pendingSwitch = { kbps, atServerMs: t + link.delay(t) };
  };
  for (let t = 0; t < seconds * 1000; t++) {
    while (manual.length && manual[0]![0] <= t) {
      const [, kbps] = manual.shift()!;
      const ask = abr.setManual(kbps, t);
      if (ask !== null) send(ask, t);
    }
    if (t % CHUNK_MS === 0) {
      let confirm = false;
      if (pendingSwitch && t >= pendingSwitch.atServerMs + SWITCH_WARMUP_MS) {
        confirm = true;
        serverTier = pendingSwitch.kbps;
        pendingSwitch = null;
      }
      const bytes = chunkBytes(serverTier);
      let leave = Math.max(t, lastDeparture);
      const stallEnd = link.stallUntil?.(leave) ?? 0;
      if (stallEnd > leave) leave = stallEnd;
      const rate = link.rate(leave);
      const departure = leave + (rate > 0 ? (bytes / rate) * 1000 : 0);
      lastDeparture = departure;
      inFlight.push({
        arriveMs: departure + link.delay(departure),
        kbps: serverTier,
        seq: seq++,
        playMs: t + LEAD_MS,
        bytes,
        confirm,
      });
    }
    // Arrivals, in order (a late one holds back those behind it).
    while (inFlight.length && inFlight[0]!.arriveMs <= t) {
      const c = inFlight.shift()!;
      if (c.confirm) abr.onSwitched(c.kbps, t);
      arrivalsByTier.push({ t, kbps: c.kbps });
      receivedTier[Math.floor(t / 1000)] = c.kbps;
      level += CHUNK_MS;
      if (!playing && level >= TARGET_MS) playing = true;
      obs.arrivalMs = t;
      obs.playTimeMs = c.playMs;
      obs.sequence = c.seq;
      obs.bytes = c.bytes;
      obs.bufferedMs = level;
      obs.underruns = underruns;
      const ask = abr.onChunk(obs);
      if (ask !== null) send(ask, t);
    }
    if (playing) {
      playedMs[t] = 1;
      level -= 1;
      if (level <= 0) {
        level = 0;
        playing = false;
        underruns++;
        underrunTimes.push(t);
      }
    }
  }
  for (let s = 1; s < seconds; s++) if (receivedTier[s] === 0) receivedTier[s] = receivedTier[s - 1]!;
  return {
    decisions,
    abr,
    tierAt: (tMs) => receivedTier[Math.floor(tMs / 1000)]!,
    firstAt: (kbps, fromMs) => arrivalsByTier.find((a) => a.t >= fromMs && a.kbps === kbps)?.t ?? null,
    underrunsBetween: (a, b) => underrunTimes.filter((x) => x >= a && x < b).length,
    playedShare: (a, b) => {
      let n = 0;
      for (let t = a; t < b; t++) n += playedMs[t]!;
      return n / (b - a);
    },
  };
}

const good: Link = { rate: () => 0, delay: () => 5 };
/** 40 kb/s between fromS and toS (seconds), a good link otherwise. */
const capped = (fromS: number, toS: number, bytesPerS = 5000): Link => ({
  rate: (t) => (t >= fromS * 1000 && t < toS * 1000 ? bytesPerS : 0),
  delay: () => 20,
});

describe('adaptive bitrate controller', () => {
  it('a good link: stays at the tier it was given, asks nothing', () => {
    const r = simulate(120, good);
    assert.deepEqual(r.decisions, []);
    assert.equal(r.tierAt(119_000), 96);
    assert.equal(r.abr.currentKbps, 96);
    assert.equal(r.underrunsBetween(2000, 120_000), 0);
  });

  it('jitter (50 ± 30 ms, in order) and 300 ms stalls every 10 s are not congestion', () => {
    const rand = mulberry32(7);
    const r = simulate(120, {
      rate: () => 0,
      delay: () => 50 + (rand() * 2 - 1) * 30,
      stallUntil: (t) => (t % 10_000 < 300 && t > 5000 ? t - (t % 10_000) + 300 : 0),
    });
    assert.deepEqual(r.decisions, []);
    assert.equal(r.tierAt(119_000), 96);
  });

  it('a 40 kb/s cap: steps down at once, past 48, to 24; plays on under the cap; back to 96 within 30 s of the cap lifting', () => {
    const r = simulate(170, capped(20, 110));
    const first = r.decisions[0];
    assert.ok(first, 'no decision under the cap');
    // Within 2 s of the cap: the delay grows by 150 ms per 250 ms arrival, past 250 ms at once.
    assert.ok(first.t >= 20_000 && first.t < 22_000, `first decision at ${first.t}`);
    // Several tiers at once: 48 kb/s (6 kB/s × 1.25) does not fit under 5 kB/s.
    assert.equal(first.kbps, 24, JSON.stringify(r.decisions.slice(0, 3)));
    assert.equal(first.reason, 'congestion');
    const settled = r.firstAt(24, 20_000);
    assert.ok(settled !== null && settled < 24_000, `24 kb/s arrived at ${settled}`);
    // Under the cap (from 10 s after it began to its end): the probes to 48 fail and come back,
    // never more than every HOLD_AFTER_DOWN_MS… MAX_HOLD_MS; the player keeps playing.
    const probes = r.decisions.filter((d) => d.t >= 30_000 && d.t < 110_000 && d.reason === 'probe');
    const failed = r.decisions.filter((d) => d.t >= 30_000 && d.t < 110_000 && d.reason === 'probe-failed');
    assert.ok(probes.length >= 3, `${probes.length} probes in 80 s`); // It does look for more.
    assert.ok(probes.length <= 8, `${probes.length} probes in 80 s`);
    assert.equal(failed.length, probes.length, JSON.stringify(r.decisions));
    assert.ok(probes.every((p) => p.kbps === 48));
    for (let i = 1; i < failed.length; i++) {
      const gap = probes[i]!.t - failed[i - 1]!.t;
      assert.ok(gap >= 8000 && gap <= MAX_HOLD_MS + 3000, `hold ${gap} ms`);
    }
    const share = r.playedShare(30_000, 110_000);
    assert.ok(share >= 0.95, `played ${share}`);
    const underruns = r.underrunsBetween(30_000, 110_000);
    assert.ok(underruns <= 2 * (80 / 60), `${underruns} underruns in 80 s`);
    // The cap lifts at 110 s: two probes (24 → 48 → 96), both held, within 30 s; never above 96.
    const back = r.firstAt(96, 110_000);
    assert.ok(
      back !== null && back - 110_000 <= 30_000,
      `96 kb/s back ${back === null ? 'never' : back - 110_000} ms after the cap`,
    );
    assert.equal(r.tierAt(169_000), 96);
    assert.ok(!r.decisions.some((d) => d.kbps === 128), 'Auto went above the tier the server started with');
  });

  it('worst case: the cap lifts just after a failed probe at the longest hold, and 96 kb/s is back within 30 s', () => {
    // The same run as above (deterministic) finds the last failed probe before 110 s…
    const probe = simulate(110, capped(20, 110));
    const failed = probe.decisions.filter((d) => d.reason === 'probe-failed');
    assert.ok(failed.length >= 3, JSON.stringify(probe.decisions));
    const gap = failed.at(-1)!.t - failed.at(-2)!.t;
    assert.ok(gap >= MAX_HOLD_MS, `the hold grew to ${gap} ms`);
    // …and lifts the cap 100 ms after it.
    const liftMs = failed.at(-1)!.t + 100;
    const r = simulate(Math.ceil(liftMs / 1000) + 40, capped(20, liftMs / 1000));
    const back = r.firstAt(96, liftMs);
    assert.ok(
      back !== null && back - liftMs <= 30_000,
      `96 kb/s back after ${back === null ? 'never' : back - liftMs} ms`,
    );
    assert.ok(back! - liftMs >= MAX_HOLD_MS, 'the longest hold was not waited out: not the worst case');
  });

  it('a cap from the start of the connection: settles at the lowest tier that fits (64 kb/s → 48)', () => {
    const r = simulate(60, capped(0, 60, 8000));
    assert.ok(r.decisions.length > 0);
    assert.equal(r.decisions[0]!.kbps, 48, JSON.stringify(r.decisions.slice(0, 3)));
    assert.equal(r.tierAt(59_000) <= 48, true);
    assert.ok(r.playedShare(15_000, 60_000) >= 0.95, `played ${r.playedShare(15_000, 60_000)}`);
  });

  it('a delay that keeps growing after a step down steps down again (20 kb/s link: 48, then 24)', () => {
    // 10 s of 96 kb/s, a cap of 8 kB/s (48 fits: 6 kB/s × 1.25 = 7.5 kB/s), then the
    // cap drops to 3.5 kB/s: even 24 kb/s + headers barely fits; it stays at 24 (the lowest).
    const r = simulate(60, { rate: (t) => (t < 10_000 ? 0 : t < 30_000 ? 8000 : 3200), delay: () => 20 });
    assert.equal(r.decisions[0]!.kbps, 48, JSON.stringify(r.decisions));
    assert.ok(
      r.decisions.some((d) => d.t > 30_000 && d.kbps === 24 && d.reason === 'congestion'),
      JSON.stringify(r.decisions),
    );
    assert.equal(r.abr.currentKbps, 24);
  });

  it('a manual tier overrides Auto until Auto is chosen again', () => {
    const r = simulate(90, capped(20, 60), {
      manualAt: [
        [5000, 128],
        [70_000, null],
      ],
    });
    // The manual choice is asked for once, and nothing else until Auto is back.
    const before = r.decisions.filter((d) => d.t < 70_000);
    assert.deepEqual(
      before.map((d) => [d.kbps, d.reason]),
      [[128, 'manual']],
    );
    assert.equal(r.tierAt(50_000), 128);
    // Back to Auto at 70 s: above the ceiling (96, the server's first tier), it goes to it.
    const after = r.decisions.filter((d) => d.t >= 70_000);
    assert.deepEqual(after[0] && [after[0].kbps, after[0].reason], [96, 'auto']);
    assert.equal(r.tierAt(89_000), 96);
    assert.equal(r.abr.mode, 'auto');
  });

  it('a probe that makes the buffer underrun steps back at once; an unconfirmed switch is judged afresh', () => {
    const abr = new AbrController();
    abr.onWelcome(TIERS, 96, 0);
    const o: ChunkObservation = {
      arrivalMs: 0,
      playTimeMs: 0,
      sequence: 0,
      bytes: 1246,
      bufferedMs: 300,
      targetMs: 200,
      underruns: 0,
    };
    let k = 0;
    const feed = (untilMs: number, lateMs = 0): number[] => {
      const asked: number[] = [];
      for (; k * 100 < untilMs; k++) {
        o.arrivalMs = k * 100 + 20 + lateMs;
        o.playTimeMs = k * 100 + 150;
        o.sequence = k;
        const ask = abr.onChunk(o);
        if (ask !== null) asked.push(ask);
      }
      return asked;
    };
    // Healthy at 96 (the ceiling): nothing to ask.
    assert.deepEqual(feed(20_000), []);
    // Manual 48, confirmed, then Auto: a probe back to 96 after NEXT_PROBE_AFTER_UP_MS of health.
    assert.equal(abr.setManual(48, 20_000), 48);
    abr.onSwitched(48, 20_100);
    assert.equal(abr.setManual(null, 20_100), null);
    const asked = feed(20_100 + NEXT_PROBE_AFTER_UP_MS + 500);
    assert.deepEqual(asked, [96]);
    assert.equal(abr.reason, 'probe');
    abr.onSwitched(96, k * 100);
    // The buffer underruns during the probe: back to 48 at the next chunk.
    o.underruns = 1;
    assert.deepEqual(feed(k * 100 + 100), [48]);
    assert.equal(abr.reason, 'probe-failed');
    assert.equal(abr.counts.failedProbes, 1);
    // The server never confirms: after SWITCH_TIMEOUT_MS the controller judges afresh (still
    // healthy, still at 96 as far as it knows: nothing to ask).
    assert.equal(abr.pendingKbps, 48);
    assert.deepEqual(feed(k * 100 + 6000), []);
    assert.equal(abr.pendingKbps, null);
    assert.equal(abr.currentKbps, 96);
  });

  it('no tiers (PCM, or a server without tiers): never asks', () => {
    const abr = new AbrController();
    abr.onWelcome([], null, 0);
    const o: ChunkObservation = {
      arrivalMs: 0,
      playTimeMs: 0,
      sequence: 0,
      bytes: 1000,
      bufferedMs: 0,
      targetMs: 200,
      underruns: 0,
    };
    for (let k = 0; k < 600; k++) {
      // A link far too slow: the delay grows by 150 ms a chunk.
      o.arrivalMs = k * 250;
      o.playTimeMs = k * 100;
      o.sequence = k;
      o.underruns = k;
      assert.equal(abr.onChunk(o), null);
    }
    assert.equal(abr.currentKbps, null);
    assert.equal(abr.setManual(48, 0), null);
    assert.ok(abr.queueingDelayMs > CONGESTION_DELAY_MS, 'the delay was measured all the same');
  });

  it('a reconnect keeps the ceiling and the manual choice; the server confirms switches', () => {
    const abr = new AbrController();
    abr.onWelcome(TIERS, 96, 0);
    assert.equal(abr.setManual(48, 10), 48);
    assert.equal(abr.pendingKbps, 48);
    assert.equal(abr.preferredKbps, 48);
    abr.onSwitched(48, 300);
    assert.equal(abr.currentKbps, 48);
    assert.equal(abr.pendingKbps, null);
    abr.onWelcome(TIERS, 48, 5000);
    assert.equal(abr.mode, 'manual');
    assert.equal(abr.ceilingKbps, 96);
    assert.equal(abr.setManual(null, 6000), null); // 48 ≤ the ceiling: Auto starts from it.
    assert.equal(abr.preferredKbps, 48);
    assert.ok(NEXT_PROBE_AFTER_UP_MS > 0);
  });
});
