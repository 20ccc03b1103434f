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

  private draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
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
