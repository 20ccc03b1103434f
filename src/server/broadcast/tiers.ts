import type { Engine } from '../../engine/engine.ts';
import type { ServerConfig } from '../config.ts';
import type { Station } from '../station.ts';
import type { Listener } from './listener.ts';

/**
 * Opus bitrate tiers on the main thread: which tiers a connection may ask for, and which tiers each
 * station's worker must encode. A listener holds the tier it gets and, while a switch waits for its
 * bytes, the tier it asked for; the engine encodes a tier other than the default while anyone holds
 * it (Station.tierHolds), so the tier a listener leaves stays encoded until it has switched.
 */

/** The tiers offered on the wire (kb/s, ascending; `welcome.tiers`), index = the header's tier bits. */
export function offeredTiers(config: ServerConfig): readonly number[] {
  // The baseline profile encodes per listener, at the default bitrate only.
  return config.profile === 'baseline' ? [config.opusBitrate / 1000] : config.opusTiers;
}

/** The index of the default tier (opusBitrate) in offeredTiers. */
export function defaultTierIndex(config: ServerConfig): number {
  return offeredTiers(config).indexOf(config.opusBitrate / 1000);
}

/**
 * A `bitrate` value (query parameter, in kb/s) as a tier index: absent or `auto` is the default
 * tier; anything else must be one of the tiers. Returns the index, or the refusal's message.
 */
export function parseBitrate(raw: string | undefined, config: ServerConfig): number | string {
  const tiers = offeredTiers(config);
  if (raw === undefined || raw === 'auto') return defaultTierIndex(config);
  const i = /^\d{1,4}$/.test(raw) ? tiers.indexOf(Number(raw)) : -1;
  return i >= 0 ? i : `bitrate must be one of ${tiers.join(', ')} (kb/s) or auto, got ${JSON.stringify(raw)}`;
}

function hold(engine: Engine, st: Station, tier: number): void {
  if (st.tierHolds[tier]!++ === 0 && tier !== st.engine.ring.layout.defaultTier) {
    engine.setOpusTiers(st.id, tierMask(st));
  }
}

function release(engine: Engine, st: Station, tier: number): void {
  if (--st.tierHolds[tier]! === 0 && tier !== st.engine.ring.layout.defaultTier) {
    engine.setOpusTiers(st.id, tierMask(st));
  }
}

/** The tiers besides the default that the station's listeners hold (a bit per index). */
export function tierMask(st: Station): number {
  const def = st.engine.ring.layout.defaultTier;
  let mask = 0;
  for (let i = 0; i < st.tierHolds.length; i++) if (i !== def && st.tierHolds[i]! > 0) mask |= 1 << i;
  return mask;
}

/**
 * A new Opus listener that asks for tier `want`: it starts on that tier when the ring already has
 * its bytes for `firstSeq` (the first chunk of its burst: someone else listens to it), else on the
 * default tier, and then switches by itself at the first chunk of `want` (after its warm-up) —
 * audio at once rather than silence until the tier is warm.
 */
export function joinTier(engine: Engine, st: Station, l: Listener, want: number, firstSeq: number): void {
  const ring = st.engine.ring;
  const seq = ring.has(firstSeq) ? firstSeq : ring.published() - 1;
  const ready = want === ring.layout.defaultTier || (ring.has(seq) && ring.opusFrameLength(seq, want) > 0);
  l.tier = ready ? want : ring.layout.defaultTier;
  l.wantTier = want;
  hold(engine, st, l.tier);
  if (l.wantTier !== l.tier) hold(engine, st, l.wantTier);
}

/**
 * The listener asks for tier `want`: true when it already gets it (nothing to wait for; a pending
 * switch is cancelled), else the switch waits for the pacer (Listener.tierSwitched).
 */
export function requestTier(engine: Engine, st: Station, l: Listener, want: number): boolean {
  const current = l.tier!;
  const pending = l.wantTier!;
  if (want === pending && want !== current) return false;
  if (pending !== current) release(engine, st, pending);
  l.wantTier = want;
  if (want === current) return true;
  hold(engine, st, want);
  return false;
}

/** The pacer switched the listener from `fromTier` to its wanted tier: the old one is let go. */
export function switchedTier(engine: Engine, st: Station, fromTier: number): void {
  release(engine, st, fromTier);
}

/** The listener left: its tiers are let go. */
export function leaveTier(engine: Engine, st: Station, l: Listener): void {
  release(engine, st, l.tier!);
  if (l.wantTier !== l.tier) release(engine, st, l.wantTier!);
}
