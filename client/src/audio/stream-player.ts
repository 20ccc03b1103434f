import { chooseStream, isPersonalSessionId, streamPath, type StreamKind } from './stream-choice.ts';

/**
 * The fallback path: an `<audio>` element playing the station's HLS (where the browser plays it
 * natively), Ogg/Opus or MP3 stream (stream-choice.ts). Used where the worklet path is unavailable (no AudioWorklet, or an
 * insecure origin) and on phones for background / lock-screen listening, where browsers keep
 * media elements playing but may suspend an AudioContext.
 */
export const STREAM_FADE_STEP_MS = 50;

export class StreamPlayer {
  private fadeTimer: ReturnType<typeof setInterval> | null = null;
  private volumeValue = 1;
  /** The stream the element plays (or last played): stream-choice.ts. */
  kind: StreamKind = 'ogg';
  /** 'waiting' events while playing: the element ran out of data. */
  stalls = 0;
  private playing = false;

  constructor(private readonly audio: HTMLAudioElement) {
    audio.preload = 'none';
    audio.addEventListener('waiting', () => {
      if (this.playing) this.stalls++;
    });
  }

  get element(): HTMLAudioElement {
    return this.audio;
  }

  /** Starts the stream from "now" (a fresh request, so nothing stale is replayed). */
  async play(station: string, fadeInMs: number): Promise<void> {
    this.playing = true;
    const kind = chooseStream(this.audio, isPersonalSessionId(station));
    this.kind = kind;
    const url = new URL(streamPath(kind, station), location.href);
    // A progressive stream must be a fresh request (nothing stale replayed); HLS is live anyway.
    if (kind !== 'hls') url.searchParams.set('t', String(Date.now()));
    this.audio.src = url.toString();
    this.audio.volume = 0;
    await this.audio.play();
    this.fadeTo(this.volumeValue, fadeInMs);
  }

  /** Fades out, then stops downloading. */
  async stop(fadeOutMs: number): Promise<void> {
    this.playing = false;
    await new Promise<void>((resolve) => this.fadeTo(0, fadeOutMs, resolve));
    if (this.playing) return;
    this.audio.pause();
    this.audio.removeAttribute('src');
    this.audio.load();
  }

  setVolume(volume: number): void {
    this.volumeValue = volume;
    if (this.playing && !this.fadeTimer) this.audio.volume = volume;
  }

  fadeTo(volume: number, ms: number, done?: () => void): void {
    if (this.fadeTimer) clearInterval(this.fadeTimer);
    const from = this.audio.volume;
    const steps = Math.max(1, Math.round(ms / STREAM_FADE_STEP_MS));
    let step = 0;
    this.fadeTimer = setInterval(() => {
      step++;
      const x = step / steps;
      this.audio.volume = Math.min(
        1,
        Math.max(0, from + (volume - from) * (0.5 - 0.5 * Math.cos(Math.PI * x))),
      );
      if (step >= steps) {
        if (this.fadeTimer) clearInterval(this.fadeTimer);
        this.fadeTimer = null;
        done?.();
      }
    }, STREAM_FADE_STEP_MS);
  }

  /** Seconds buffered ahead of the play position. */
  bufferedMs(): number {
    const b = this.audio.buffered;
    if (b.length === 0) return 0;
    return Math.max(0, (b.end(b.length - 1) - this.audio.currentTime) * 1000);
  }

  playedSeconds(): number {
    return this.audio.currentTime;
  }
}
