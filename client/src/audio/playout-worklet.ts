import { PlayoutBuffer } from './playout-buffer.ts';
import {
  PLAYOUT_PROCESSOR,
  type FromWorklet,
  type PlayoutProcessorOptions,
  type ToWorklet,
} from './worklet-messages.ts';

/**
 * The AudioWorklet side of the player: a thin shell around PlayoutBuffer, which holds all the
 * logic. process() only renders (no allocation); messages are handled between render quanta.
 */
class PlayoutProcessor extends AudioWorkletProcessor {
  private readonly playout: PlayoutBuffer;
  /** For outputs wired with fewer than two channels (never expected; keeps process() total). */
  private spare = new Float32Array(128);

  constructor(options?: AudioWorkletNodeOptions) {
    super(options);
    const opts = (options?.processorOptions ?? {}) as Partial<PlayoutProcessorOptions>;
    this.playout = new PlayoutBuffer({
      sampleRate: opts.streamSampleRate ?? 48_000,
      // The AudioWorkletGlobalScope's `sampleRate` (not declared for the rest of the client on purpose).
      outputSampleRate: (globalThis as unknown as { sampleRate: number }).sampleRate,
      chunkMs: opts.chunkMs ?? 100,
    });
    this.port.onmessage = (event: MessageEvent<ToWorklet>) => this.onMessage(event.data);
  }

  private onMessage(msg: ToWorklet): void {
    switch (msg.type) {
      case 'audio':
        this.playout.push(msg.positionFrames, msg.left, msg.right, msg.discontinuity);
        break;
      case 'newStream':
        this.playout.newStream();
        this.playout.setChunkMs(msg.chunkMs);
        break;
      case 'jitter':
        this.playout.setJitterMs(msg.jitterMs, msg.maxLatenessMs);
        break;
      case 'fade':
        this.playout.fadeTo(msg.gain, msg.ms);
        break;
      case 'clear':
        this.playout.clear();
        break;
      case 'poll': {
        const reply: FromWorklet = { type: 'stats', id: msg.id, stats: this.playout.stats() };
        this.port.postMessage(reply);
        break;
      }
    }
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0];
    if (out.length >= 2) {
      this.playout.render(out[0], out[1]);
      for (let c = 2; c < out.length; c++) out[c].fill(0);
    } else if (out.length === 1) {
      // Resized at most once, if the render quantum is ever not 128 frames.
      if (this.spare.length !== out[0].length) this.spare = new Float32Array(out[0].length);
      this.playout.render(out[0], this.spare);
    }
    return true;
  }
}

registerProcessor(PLAYOUT_PROCESSOR, PlayoutProcessor);
