import type { ScoreNote } from '../score/notes.ts';

/**
 * A calm spectrum: the analyser's magnitudes on a logarithmic frequency axis, drawn as a soft
 * filled curve. At most MAX_FPS frames a second; with `prefers-reduced-motion` it redraws only
 * every REDUCED_MOTION_INTERVAL_MS (a still picture that changes, not an animation), and it
 * stops drawing while the page is hidden.
 */
export const MAX_FPS = 30;
export const REDUCED_MOTION_INTERVAL_MS = 2000;
export const MIN_HZ = 40;
export const MAX_HZ = 16_000;
const POINTS = 96;
/** The notes are drawn from this long before the playhead … */
export const NOTES_PAST_MS = 6000;
/** … to this long after it (they arrive ahead of their audio). */
export const NOTES_AHEAD_MS = 1500;
const LOW_PITCH = 24;
const HIGH_PITCH = 100;
const NOTE_COLOURS: Record<string, string> = {
  pad: 'rgba(185, 168, 255, 0.45)',
  keys: 'rgba(255, 214, 153, 0.75)',
  drone: 'rgba(120, 160, 255, 0.35)',
  texture: 'rgba(159, 216, 203, 0.25)',
  perc: 'rgba(234, 238, 248, 0.6)',
};

/** The live score to draw: the notes received and the station position being heard now. */
export interface NotesView {
  notes: readonly ScoreNote[];
  playhead: number;
  sampleRate: number;
}

export class Visualizer {
  private frame = 0;
  private lastDrawMs = 0;
  private bins: Uint8Array<ArrayBuffer> | null = null;
  private readonly reducedMotion: MediaQueryList;
  private readonly smoothed = new Float32Array(POINTS);
  private readonly display = new Float32Array(POINTS);

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly analyser: () => AnalyserNode | null,
    private readonly active: () => boolean,
    /** The live score (`events=1`), or null when none: drawn as a piano roll around the playhead. */
    private readonly score: () => NotesView | null = () => null,
  ) {
    this.reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
    this.loop = this.loop.bind(this);
    this.frame = requestAnimationFrame(this.loop);
  }

  private resize(): void {
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    this.canvas.width = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    this.canvas.height = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    this.draw();
  }

  private loop(nowMs: number): void {
    this.frame = requestAnimationFrame(this.loop);
    if (document.hidden) return;
    const interval = this.reducedMotion.matches ? REDUCED_MOTION_INTERVAL_MS : 1000 / MAX_FPS;
    if (nowMs - this.lastDrawMs < interval) return;
    this.lastDrawMs = nowMs;
    this.draw();
  }

  /** Notes drawn in the last frame (for tests and the page's figures). */
  notesDrawn = 0;

  /**
   * The notes heard from NOTES_PAST_MS before the playhead to NOTES_AHEAD_MS after it, as a piano
   * roll: time across (the playhead at 80 %), pitch up, a colour per instrument.
   */
  private drawNotes(ctx: CanvasRenderingContext2D, width: number, height: number): void {
    const view = this.active() ? this.score() : null;
    this.notesDrawn = 0;
    if (!view) return;
    const perMs = view.sampleRate / 1000;
    const from = view.playhead - NOTES_PAST_MS * perMs;
    const to = view.playhead + NOTES_AHEAD_MS * perMs;
    const span = to - from;
    const rowH = Math.max(2, (height * 0.9) / (HIGH_PITCH - LOW_PITCH));
    for (const n of view.notes) {
      if (n.start >= to || n.end <= from || n.instrument === 'texture') continue;
      const x0 = ((Math.max(n.start, from) - from) / span) * width;
      const x1 = ((Math.min(n.end, to) - from) / span) * width;
      const p = Math.max(LOW_PITCH, Math.min(HIGH_PITCH, n.pitch));
      const y = height * 0.95 - ((p - LOW_PITCH) / (HIGH_PITCH - LOW_PITCH)) * height * 0.9;
      ctx.fillStyle = NOTE_COLOURS[n.instrument] ?? 'rgba(234, 238, 248, 0.5)';
      ctx.globalAlpha = 0.35 + 0.65 * Math.min(1, n.velocity);
      ctx.fillRect(x0, y - rowH / 2, Math.max(2, x1 - x0), rowH);
      this.notesDrawn++;
    }
    ctx.globalAlpha = 1;
    // The playhead.
    const px = ((view.playhead - from) / span) * width;
    ctx.fillStyle = 'rgba(234, 238, 248, 0.25)';
    ctx.fillRect(px, 0, Math.max(1, width / 800), height);
  }

  private draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
    this.drawNotes(ctx, width, height);
    const analyser = this.active() ? this.analyser() : null;
    if (analyser) {
      if (!this.bins || this.bins.length !== analyser.frequencyBinCount) {
        this.bins = new Uint8Array(analyser.frequencyBinCount);
      }
      analyser.getByteFrequencyData(this.bins);
      const nyquist = analyser.context.sampleRate / 2;
      const follow = this.reducedMotion.matches ? 1 : 0.35;
      for (let i = 0; i < POINTS; i++) {
        const hz = MIN_HZ * (MAX_HZ / MIN_HZ) ** (i / (POINTS - 1));
        const bin = Math.min(this.bins.length - 1, Math.round((hz / nyquist) * this.bins.length));
        const v = this.bins[bin] / 255;
        this.smoothed[i] += (v - this.smoothed[i]) * follow;
      }
    } else {
      for (let i = 0; i < POINTS; i++) this.smoothed[i] *= 0.9;
    }
    // A little spatial smoothing: tonal peaks read as spikes, which is not the mood here.
    for (let i = 0; i < POINTS; i++) {
      const a = this.smoothed[Math.max(0, i - 1)];
      const b = this.smoothed[Math.min(POINTS - 1, i + 1)];
      this.display[i] = 0.25 * a + 0.5 * this.smoothed[i] + 0.25 * b;
    }
    const base = height * 0.98;
    const gradient = ctx.createLinearGradient(0, 0, width, 0);
    gradient.addColorStop(0, 'rgba(185, 168, 255, 0.35)');
    gradient.addColorStop(1, 'rgba(159, 216, 203, 0.30)');
    ctx.beginPath();
    ctx.moveTo(0, base);
    for (let i = 0; i < POINTS; i++) {
      const x = (i / (POINTS - 1)) * width;
      // Kept to the lower part of the stage so the chord above stays legible.
      const y = base - this.display[i] ** 1.4 * height * 0.6;
      ctx.lineTo(x, y);
    }
    ctx.lineTo(width, base);
    ctx.closePath();
    ctx.fillStyle = gradient;
    ctx.fill();
    ctx.strokeStyle = 'rgba(234, 238, 248, 0.35)';
    ctx.lineWidth = Math.max(1, width / 600);
    ctx.stroke();
  }

  dispose(): void {
    cancelAnimationFrame(this.frame);
  }
}
