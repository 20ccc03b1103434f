/**
 * Opus packets → planar float frames through WebCodecs' AudioDecoder. Each 20 ms packet is one
 * EncodedAudioChunk whose timestamp carries its station position, so decoded audio keeps its
 * place on the station's clock whatever the decoder's latency.
 */
export const OPUS_SAMPLE_RATE = 48_000;
/** Packets queued in the decoder beyond this (2 s) mean it cannot keep up: start it afresh. */
export const MAX_DECODE_QUEUE = 100;

export interface DecodedFrames {
  positionFrames: number;
  planes: Float32Array[];
}

export function webCodecsOpusAvailable(): boolean {
  return typeof globalThis.AudioDecoder === 'function' && typeof globalThis.EncodedAudioChunk === 'function';
}

/** Resolves true when this browser's AudioDecoder decodes 48 kHz stereo Opus. */
export async function opusDecodingSupported(): Promise<boolean> {
  if (!webCodecsOpusAvailable()) return false;
  try {
    const support = await AudioDecoder.isConfigSupported({
      codec: 'opus',
      sampleRate: OPUS_SAMPLE_RATE,
      numberOfChannels: 2,
    });
    return support.supported === true;
  } catch {
    return false;
  }
}

const US_PER_S = 1_000_000;

export class OpusStreamDecoder {
  private decoder: AudioDecoder | null = null;
  private readonly channels: number;
  private readonly sampleRate: number;
  /** Decode errors since start, for the stats line. */
  errors = 0;

  constructor(
    private readonly onFrames: (frames: DecodedFrames) => void,
    opts: { channels?: number; sampleRate?: number } = {},
  ) {
    this.channels = opts.channels ?? 2;
    this.sampleRate = opts.sampleRate ?? OPUS_SAMPLE_RATE;
  }

  private ensureDecoder(): AudioDecoder {
    if (this.decoder && this.decoder.state === 'configured') return this.decoder;
    const decoder = new AudioDecoder({
      output: (data) => this.onOutput(data),
      error: () => {
        // The decoder closes itself on error; the next packet builds a new one.
        this.errors++;
      },
    });
    decoder.configure({ codec: 'opus', sampleRate: this.sampleRate, numberOfChannels: this.channels });
    this.decoder = decoder;
    return decoder;
  }

  /** Queues one 20 ms packet whose first frame is at `positionFrames`. */
  decode(packet: Uint8Array, positionFrames: number): void {
    const decoder = this.ensureDecoder();
    if (decoder.decodeQueueSize > MAX_DECODE_QUEUE) {
      this.reset();
      return;
    }
    decoder.decode(
      new EncodedAudioChunk({
        type: 'key',
        timestamp: Math.round((positionFrames / this.sampleRate) * US_PER_S),
        data: packet,
      }),
    );
  }

  private onOutput(data: AudioData): void {
    try {
      const frames = data.numberOfFrames;
      const planes: Float32Array[] = [];
      for (let c = 0; c < Math.max(2, data.numberOfChannels) && c < 2; c++) {
        const plane = new Float32Array(frames);
        const source = Math.min(c, data.numberOfChannels - 1);
        data.copyTo(plane, { planeIndex: source, format: 'f32-planar' });
        planes.push(plane);
      }
      const positionFrames = Math.round((data.timestamp / US_PER_S) * data.sampleRate);
      this.onFrames({ positionFrames, planes });
    } finally {
      data.close();
    }
  }

  /** Drops queued packets (a new connection); decoder state starts fresh. */
  reset(): void {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
  }

  close(): void {
    this.reset();
  }
}
