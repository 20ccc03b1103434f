import workletUrl from './playout-worklet.ts?worker&url';
import type { PlayoutStats } from './playout-buffer.ts';
import {
  PLAYOUT_PROCESSOR,
  type FromWorklet,
  type PlayoutProcessorOptions,
  type ToWorklet,
} from './worklet-messages.ts';

/**
 * The Web Audio graph: playout worklet → volume → analyser → speakers.
 * The AudioContext runs at the stream's 48 kHz where the browser allows, so no resampling
 * happens beyond the drift correction.
 */
export const STREAM_SAMPLE_RATE = 48_000;
/** A poll that has not been answered within this is dropped (the worklet is stalled). */
export const STATS_POLL_TIMEOUT_MS = 1000;
export const ANALYSER_FFT_SIZE = 2048;

export function workletPlaybackAvailable(): boolean {
  return (
    typeof globalThis.AudioContext === 'function' &&
    typeof globalThis.AudioWorkletNode === 'function' &&
    globalThis.isSecureContext === true
  );
}

export class AudioOutput {
  readonly context: AudioContext;
  readonly analyser: AnalyserNode;
  private readonly volume: GainNode;
  private node: AudioWorkletNode | null = null;
  private pollId = 0;
  private readonly pending = new Map<number, (stats: PlayoutStats | null) => void>();

  private constructor(context: AudioContext) {
    this.context = context;
    this.volume = context.createGain();
    this.analyser = context.createAnalyser();
    this.analyser.fftSize = ANALYSER_FFT_SIZE;
    this.analyser.smoothingTimeConstant = 0.85;
    this.volume.connect(this.analyser);
    this.analyser.connect(context.destination);
  }

  /**
   * Creates the context inside the user's gesture (call synchronously from the click handler,
   * before any await, or the browser may keep it suspended), then loads the worklet.
   */
  static createInGesture(): { output: Promise<AudioOutput>; context: AudioContext } {
    let context: AudioContext;
    try {
      context = new AudioContext({ sampleRate: STREAM_SAMPLE_RATE, latencyHint: 'playback' });
    } catch {
      context = new AudioContext({ latencyHint: 'playback' });
    }
    void context.resume();
    const output = new AudioOutput(context);
    return { context, output: output.load().then(() => output) };
  }

  private async load(): Promise<void> {
    await this.context.audioWorklet.addModule(workletUrl);
    const options: PlayoutProcessorOptions = { streamSampleRate: STREAM_SAMPLE_RATE, chunkMs: 100 };
    const node = new AudioWorkletNode(this.context, PLAYOUT_PROCESSOR, {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [2],
      processorOptions: options,
    });
    node.port.onmessage = (event: MessageEvent<FromWorklet>) => {
      const msg = event.data;
      const resolve = this.pending.get(msg.id);
      if (resolve) {
        this.pending.delete(msg.id);
        resolve(msg.stats);
      }
    };
    node.connect(this.volume);
    this.node = node;
  }

  post(msg: ToWorklet, transfer: Transferable[] = []): void {
    this.node?.port.postMessage(msg, transfer);
  }

  pushAudio(positionFrames: number, left: Float32Array, right: Float32Array, discontinuity: boolean): void {
    const transfer = left.buffer === right.buffer ? [left.buffer] : [left.buffer, right.buffer];
    this.post({ type: 'audio', positionFrames, left, right, discontinuity }, transfer as ArrayBuffer[]);
  }

  /** The worklet's figures, or null if it does not answer in time. */
  stats(): Promise<PlayoutStats | null> {
    if (!this.node) return Promise.resolve(null);
    const id = ++this.pollId;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.post({ type: 'poll', id });
      setTimeout(() => {
        if (this.pending.delete(id)) resolve(null);
      }, STATS_POLL_TIMEOUT_MS);
    });
  }

  setVolume(volume: number): void {
    // A short glide: a slider dragged quickly must not zipper.
    this.volume.gain.setTargetAtTime(volume, this.context.currentTime, 0.03);
  }

  async suspend(): Promise<void> {
    if (this.context.state === 'running') await this.context.suspend();
  }

  async resume(): Promise<void> {
    if (this.context.state !== 'running') await this.context.resume();
  }

  async close(): Promise<void> {
    for (const resolve of this.pending.values()) resolve(null);
    this.pending.clear();
    this.node?.disconnect();
    this.node = null;
    if (this.context.state !== 'closed') await this.context.close();
  }
}
