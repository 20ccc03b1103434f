import { Rng } from '../../src/music/rng.ts';
import type { NoteEvent } from '../../src/music/types.ts';
import { PERC_BRUSH, PERC_CLICK, PERC_KICK, PERC_SHAKER } from '../../src/music/types.ts';

/**
 * A hand-written ambient score for driving the Synth without the composer: slow pad chords in
 * A aeolian that overlap, a sparse keys melody, a drone on the root, a texture band and soft
 * percussion. Density 0…1 scales the number of keys and percussion notes, like `intensity`.
 */
export function testScore(opts: {
  seconds: number;
  bpm: number;
  seed: number;
  density?: number;
  sampleRate?: number;
  percussion?: boolean;
}): NoteEvent[] {
  const sr = opts.sampleRate ?? 48_000;
  const density = opts.density ?? 0.5;
  const rng = new Rng(opts.seed);
  const beat = (60 / opts.bpm) * sr;
  const bar = 4 * beat;
  const total = opts.seconds * sr;
  const events: NoteEvent[] = [];
  const chords = [
    [45, 52, 57, 60, 64, 71],
    [41, 48, 57, 60, 64, 67],
    [43, 50, 55, 59, 62, 69],
    [40, 47, 55, 59, 62, 67],
  ];
  const scale = [57, 59, 60, 62, 64, 65, 67, 69, 71, 72, 74, 76];
  for (let b = 0, c = 0; b * bar < total; b += 2, c++) {
    const chord = chords[c % chords.length]!;
    const start = Math.round(b * bar);
    for (const midi of chord.slice(1)) {
      events.push({
        instrument: 'pad',
        startFrame: start,
        durationFrames: Math.round(2.2 * bar),
        midi,
        velocity: 0.5 + 0.3 * rng.next(),
      });
    }
    if (c % 2 === 0) {
      events.push({
        instrument: 'drone',
        startFrame: start,
        durationFrames: Math.round(4 * bar),
        midi: chord[0]! - 12,
        velocity: 0.7,
      });
    }
    if (c % 4 === 1) {
      events.push({
        instrument: 'texture',
        startFrame: start,
        durationFrames: Math.round(6 * bar),
        midi: 84 + rng.int(8),
        velocity: 0.6,
      });
    }
    for (let k = 0; k < 8; k++) {
      if (rng.next() > 0.25 + 0.6 * density) continue;
      const at = start + Math.round(k * beat + rng.range(0, 0.1) * beat);
      events.push({
        instrument: 'keys',
        startFrame: at,
        durationFrames: Math.round(beat * (1 + rng.int(3))),
        midi: scale[rng.int(scale.length)]!,
        velocity: 0.35 + 0.5 * rng.next(),
      });
    }
    if (opts.percussion ?? true) {
      for (let k = 0; k < 8; k++) {
        if (rng.next() > 0.5 * density) continue;
        const kinds = [PERC_KICK, PERC_SHAKER, PERC_BRUSH, PERC_CLICK];
        events.push({
          instrument: 'perc',
          startFrame: start + Math.round(k * beat),
          durationFrames: 1000,
          midi: kinds[k % 4]!,
          velocity: 0.3 + 0.4 * rng.next(),
        });
      }
    }
  }
  return events.filter((e) => e.startFrame < total).sort((a, b) => a.startFrame - b.startFrame);
}
