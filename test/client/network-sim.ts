/**
 * A simulated network and sound card for the player's pure audio modules: a station sends a sine
 * wave (continuous in station position, so any jump or gap would show as a step) in chunks; each
 * chunk arrives after a delay; the "sound card" pulls 128-frame blocks at its own clock.
 * Not a test file: imported by test/client/*.test.ts.
 */
import { ArrivalStats } from '../../client/src/audio/arrival-stats.ts';
import { PlayoutBuffer } from '../../client/src/audio/playout-buffer.ts';

export const SAMPLE_RATE = 48_000;
export const BLOCK_FRAMES = 128;
export const SINE_HZ = 220;
export const SINE_AMPLITUDE = 0.5;
/** A sine of 220 Hz at 0.5 moves at most 0.0144 per frame; a click is a much larger step. */
export const CLICK_STEP = 0.05;

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimOptions {
  seconds: number;
  chunkMs?: number;
  /** Sender clock faster (+) or slower (−) than the sound card, as a fraction (0.003 = +0.3 %). */
  drift?: number;
  /** Extra delay of chunk k in ms (before TCP ordering is applied); default 0. */
  delayMs?: (k: number, sendS: number) => number;
  /** Chunks for which this returns true are never sent (a network stall or skipped chunks). */
  drop?: (k: number, sendS: number) => boolean;
  /** Station position of chunk k (default k × chunk frames); a jump models skipped audio. */
  positionOf?: (k: number, chunkFrames: number) => number;
  /** Feed the arrival statistics to the buffer's target (false = fixed target, for comparison). */
  adaptive?: boolean;
  /** Keep every output sample (for click checks); off for long runs. */
  keepOutput?: boolean;
  /** Called after every block, with the time in seconds. */
  onBlock?: (timeS: number, playout: PlayoutBuffer) => void;
}

export interface SimResult {
  playout: PlayoutBuffer;
  output: Float32Array | null;
  maxStep: number;
  /** [timeS, bufferedMs, targetMs] every 100 ms. */
  trace: Array<[number, number, number]>;
  firstUnderrunS: number | null;
}

export function sineChunk(positionFrames: number, frames: number): [Float32Array, Float32Array] {
  const l = new Float32Array(frames);
  const r = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    const v = SINE_AMPLITUDE * Math.sin((2 * Math.PI * SINE_HZ * (positionFrames + i)) / SAMPLE_RATE);
    l[i] = v;
    r[i] = v;
  }
  return [l, r];
}

export function simulate(opts: SimOptions): SimResult {
  const chunkMs = opts.chunkMs ?? 100;
  const chunkFrames = Math.round((chunkMs / 1000) * SAMPLE_RATE);
  const drift = opts.drift ?? 0;
  const adaptive = opts.adaptive ?? true;
  const playout = new PlayoutBuffer({ sampleRate: SAMPLE_RATE, chunkMs });
  playout.setChunkMs(chunkMs);
  const stats = new ArrivalStats();
  // As the player does on `welcome`: the first second is warm-up.
  stats.reset(0);
  const totalBlocks = Math.floor((opts.seconds * SAMPLE_RATE) / BLOCK_FRAMES);
  const output = opts.keepOutput ? new Float32Array(totalBlocks * BLOCK_FRAMES) : null;
  const outL = new Float32Array(BLOCK_FRAMES);
  const outR = new Float32Array(BLOCK_FRAMES);
  const trace: Array<[number, number, number]> = [];
  let k = 0;
  let lastArrivalS = 0;
  let nextArrivalS = -1;
  let prev = 0;
  let maxStep = 0;
  let firstUnderrunS: number | null = null;

  const scheduleNext = (): void => {
    for (;;) {
      const sendS = (k * chunkMs) / 1000 / (1 + drift);
      if (opts.drop?.(k, sendS)) {
        k++;
        continue;
      }
      const delayS = (opts.delayMs?.(k, sendS) ?? 0) / 1000;
      // TCP delivers in order: a late chunk holds back the ones behind it.
      nextArrivalS = Math.max(lastArrivalS, sendS + delayS);
      return;
    }
  };
  scheduleNext();

  for (let b = 0; b < totalBlocks; b++) {
    const nowS = (b * BLOCK_FRAMES) / SAMPLE_RATE;
    while (nextArrivalS <= nowS) {
      const position = opts.positionOf?.(k, chunkFrames) ?? k * chunkFrames;
      const [l, r] = sineChunk(position, chunkFrames);
      playout.push(position, l, r);
      const jitterMs = stats.add(nextArrivalS * 1000, position, SAMPLE_RATE);
      if (adaptive) playout.setJitterMs(jitterMs, stats.maxLatenessMs);
      lastArrivalS = nextArrivalS;
      k++;
      scheduleNext();
    }
    playout.render(outL, outR);
    for (let i = 0; i < BLOCK_FRAMES; i++) {
      const step = Math.abs(outL[i] - prev);
      if (step > maxStep) maxStep = step;
      prev = outL[i];
    }
    if (output) output.set(outL, b * BLOCK_FRAMES);
    if (firstUnderrunS === null && playout.underruns > 0) firstUnderrunS = nowS;
    if (b % Math.round((0.1 * SAMPLE_RATE) / BLOCK_FRAMES) === 0) {
      trace.push([nowS, playout.bufferedMs, playout.targetMs]);
    }
    opts.onBlock?.(nowS, playout);
  }
  return { playout, output, maxStep, trace, firstUnderrunS };
}
