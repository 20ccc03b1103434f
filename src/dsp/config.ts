/**
 * Every bound and tuning constant of the synthesis layer, with units, in one table.
 * Sizes are finite on purpose: the audio path never grows a buffer or a queue.
 */
export const DSP_DEFAULTS = {
  /**
   * Control period: envelopes, LFOs, filter coefficients and parameter glides are updated every
   * this many frames (2.7 ms at 48 kHz), at absolute positions, so rendering is independent of
   * how callers chunk their requests. 128 rather than 64 halved the per-period overhead (a
   * quarter of the synth's time at 64); envelopes are linear ramps between ticks, finer than
   * the shortest attack (1.5 ms click, planned from the note's exact start).
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
