import { ENV_RELEASE, type Envelope } from './envelope.ts';

/** What the allocator needs to know about a voice. */
export interface PooledVoice {
  readonly env: Envelope;
  /** Absolute frame the voice's current note started at (older voices are stolen first). */
  startFrame: number;
}

/** A voice that holds a note until a frame (the sustained instruments: pad, keys, drone, texture). */
export interface HeldVoice extends PooledVoice {
  /** Pitch class (0–11) of the note. */
  pitchClass: number;
  /** The control tick at or after this frame starts the release. */
  releaseAtFrame: number;
}

/**
 * A release event (NoteEvent `kind: 'release'`): every held voice whose note started before
 * `atFrame` and whose pitch class is not in `keepPitchClasses` (bit p for pitch class p) releases
 * at `atFrame` (at the control tick that reaches it, as a note's own end does), with its normal
 * release envelope. Notes that end earlier keep their end.
 */
export function releaseVoices(voices: readonly HeldVoice[], keepPitchClasses: number, atFrame: number): void {
  for (let i = 0; i < voices.length; i++) {
    const v = voices[i]!;
    if (!v.env.held || v.startFrame >= atFrame || v.releaseAtFrame <= atFrame) continue;
    if (((keepPitchClasses >> v.pitchClass) & 1) === 1) continue;
    v.releaseAtFrame = atFrame;
  }
}

/**
 * Picks a slot for a new note in a fixed pool of `voices.length` slots of which at most
 * `maxSounding` may hold or release notes at once. When that many sound, the quietest released
 * voice (else the oldest held one) starts a short fade and the new note takes a spare slot, so a
 * steal never cuts a waveform. Returns null when no slot is free at all (every spare still fading):
 * the caller drops the note rather than click.
 */
export function allocateVoice<V extends PooledVoice>(
  voices: readonly V[],
  maxSounding: number,
  stats: { voiceSteals: number },
): V | null {
  let free: V | null = null;
  let sounding = 0;
  let victim: V | null = null;
  let victimReleased = false;
  for (let i = 0; i < voices.length; i++) {
    const v = voices[i]!;
    const env = v.env;
    if (!env.active) {
      if (free === null) free = v;
      continue;
    }
    if (!env.held && !isReleasing(env)) continue; // fading after a steal, or ramping to zero
    sounding++;
    const released = isReleasing(env);
    if (victim === null) {
      victim = v;
      victimReleased = released;
    } else if (released) {
      if (!victimReleased || env.level < victim.env.level) {
        victim = v;
        victimReleased = true;
      }
    } else if (!victimReleased && v.startFrame < victim.startFrame) {
      victim = v;
    }
  }
  if (free === null) return null;
  if (sounding >= maxSounding && victim !== null) {
    victim.env.steal();
    stats.voiceSteals++;
  }
  return free;
}

function isReleasing(env: Envelope): boolean {
  return env.stage === ENV_RELEASE;
}

/**
 * Pitch classes (bit p for pitch class p) of the voices whose note started before `startedBefore`:
 * those still held when `heldOnly`, else all that still make sound (held, releasing or fading).
 */
export function voicePitchClasses(
  voices: readonly HeldVoice[],
  startedBefore: number,
  heldOnly: boolean,
): number {
  let mask = 0;
  for (let i = 0; i < voices.length; i++) {
    const v = voices[i]!;
    if (!v.env.active || v.startFrame >= startedBefore || (heldOnly && !v.env.held)) continue;
    mask |= 1 << v.pitchClass;
  }
  return mask;
}
