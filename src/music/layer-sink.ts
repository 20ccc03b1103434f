import type { Instrument } from './types.ts';

/**
 * Receives one note of a layer in musical time: position and length in beats (the composer turns
 * them into frames through the tempo map), MIDI note and velocity.
 */
export type LayerNoteSink = (
  instrument: Instrument,
  positionBeats: number,
  durationBeats: number,
  midi: number,
  velocity: number,
) => void;
