import type { Timbre } from '../music/types.ts';
import { onePoleCoef } from './tables.ts';

/** The Timbre fields, in a fixed order (the order write() uses), so the glide can run over typed arrays. */
const FIELDS = [
  'brightness',
  'reverbMix',
  'reverbDecaySeconds',
  'delayMix',
  'padLevel',
  'keysLevel',
  'droneLevel',
  'textureLevel',
  'percLevel',
  'bellness',
] as const satisfies readonly (keyof Timbre)[];

/**
 * The sound character as it is now, gliding towards the last Timbre asked for. Each field
 * follows a one-pole smoother updated once per control period; consumers that turn a field into
 * a gain ramp it per sample, so nothing steps audibly.
 */
export class TimbreGlide implements Timbre {
  brightness = 0;
  reverbMix = 0;
  reverbDecaySeconds = 0;
  delayMix = 0;
  padLevel = 0;
  keysLevel = 0;
  droneLevel = 0;
  textureLevel = 0;
  percLevel = 0;
  bellness = 0;
  private readonly target = new Float64Array(FIELDS.length);
  private readonly current = new Float64Array(FIELDS.length);
  private readonly coef: number;

  constructor(initial: Timbre, controlRate: number, glideSeconds: number) {
    this.coef = onePoleCoef(glideSeconds, controlRate);
    this.jumpTo(initial);
  }

  /** Sets the value immediately (at construction). */
  jumpTo(t: Timbre): void {
    this.setTarget(t);
    this.write(this.target);
  }

  /** Sets the value to glide towards (copies the fields; the caller keeps its object). */
  setTarget(t: Timbre): void {
    for (let i = 0; i < FIELDS.length; i++) {
      const v = t[FIELDS[i]!];
      // Invalid numbers keep the previous target rather than poisoning the audio path with NaN.
      if (typeof v === 'number' && Number.isFinite(v)) this.target[i] = v;
    }
  }

  /**
   * One control period of gliding. The values live in a typed array and are copied to the named
   * fields one by one: a loop over `this[name]` was a megamorphic keyed access that boxed every
   * value (measured: 9 MB of garbage per minute of audio).
   */
  tick(): void {
    const c = this.coef;
    const tg = this.target;
    const cur = this.current;
    for (let i = 0; i < cur.length; i++) {
      const d = tg[i]! - cur[i]!;
      // Snap when within a hair, so a settled glide stops changing coefficients.
      cur[i] = Math.abs(d) < 1e-9 ? tg[i]! : cur[i]! + d * c;
    }
    this.write(cur);
  }

  private write(v: Float64Array): void {
    this.current.set(v);
    this.brightness = v[0]!;
    this.reverbMix = v[1]!;
    this.reverbDecaySeconds = v[2]!;
    this.delayMix = v[3]!;
    this.padLevel = v[4]!;
    this.keysLevel = v[5]!;
    this.droneLevel = v[6]!;
    this.textureLevel = v[7]!;
    this.percLevel = v[8]!;
    this.bellness = v[9]!;
  }
}
