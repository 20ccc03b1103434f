/**
 * Every bound and tuning constant of the synthesis layer, with units, in one table.
 * Sizes are finite on purpose: the audio path never grows a buffer or a queue.
 */
export const DSP_DEFAULTS = {
  /**
   * Control period: envelopes, LFOs, filter coefficients and parameter glides are updated every
   * this many frames (5.3 ms at 48 kHz), at absolute positions, so rendering is independent of
   * how callers chunk their requests. At 64 frames the per-period work was a quarter of the
   * synth's time. Envelopes are linear ramps between ticks, planned from a note's exact start;
   * an attack shorter than the rest of its period (the 1.5–4 ms percussion attacks) is
   * stretched to at most one period, which only softens it. The limiter looks two periods ahead.
   */
  controlFrames: 256,
  /** Largest piece process() renders at once when the caller does not say. */
  maxBlockFrames: 256,
  /** Notes waiting in the pending queue; the composer schedules at most a few seconds ahead. */
  pendingEventCapacity: 1024,
  /** Voices that may sound at once, per instrument; beyond this the synth steals. */
  maxVoices: { pad: 8, keys: 8, drone: 3, texture: 3, perc: 6 },
  /** Extra voice slots per instrument that let stolen voices fade while the new note starts. */
  spareVoices: 4,
  /** Fade of a stolen voice (long enough to be click-free, short enough to free the slot). */
  stealFadeSeconds: 0.008,
  /** Time constant of timbre glides (95 % of the way after ~3 τ ≈ 1.8 s). */
  timbreGlideSeconds: 0.6,
  /** Time constant of the delay-time glide after a tempo change. */
  delayGlideSeconds: 0.5,
  /** Longest tempo-synced delay (dotted eighth at 40 bpm is 1.125 s). */
  maxDelaySeconds: 2,
  /** Reverb pre-delay. */
  reverbPreDelaySeconds: 0.035,
  /** High-pass corner on everything but the drone. */
  highPassHz: 40,
  /** Master limiter ceiling (sample peak); the margin keeps true peaks below −1 dBTP. */
  limiterCeilingDb: -1.6,
  /**
   * Envelope level under which a released voice is silent enough to free (−60 dB: the reverb
   * tail covers the rest, and freeing sooner cut the keys' voice count by a quarter).
   */
  silenceLevel: 1e-3,
} as const;
