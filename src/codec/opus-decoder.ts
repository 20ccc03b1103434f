import { createRequire } from 'node:module';
import { CodecError } from './codec-error.ts';
import { forEachOpusPacket } from './opus-wire.ts';

/**
 * Decodes Opus packets back to 48 kHz stereo, for tests and tools (clients decode with
 * WebCodecs). A thin wrapper over @evan/opus' Decoder; not used in the audio path, so it
 * allocates freely.
 */
interface EvanDecoder {
  decode(packet: ArrayBufferView): Uint8Array;
}
type EvanDecoderClass = new (o: { channels: number; sample_rate: number }) => EvanDecoder;

const require = createRequire(import.meta.url);

export class OpusPacketDecoder {
  private readonly decoder: EvanDecoder;

  constructor() {
    let Decoder: EvanDecoderClass;
    try {
      Decoder = (require('@evan/opus') as { Decoder: EvanDecoderClass }).Decoder;
    } catch (e) {
      throw new CodecError('NO_BACKEND', `@evan/opus could not be loaded: ${String(e)}`);
    }
    this.decoder = new Decoder({ channels: 2, sample_rate: 48_000 });
  }

  /** One packet → interleaved int16 stereo (960 frames for a 20 ms packet). */
  decodePacket(packet: Uint8Array): Int16Array {
    const bytes = this.decoder.decode(packet);
    // The decoder hands back a fresh, 2-byte-aligned copy; view it rather than copy again.
    return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  }

  /** A whole wire payload (u16 length + packet, repeated) → l/r floats. */
  decodePayload(payload: Uint8Array): { l: Float32Array; r: Float32Array } {
    const parts: Int16Array[] = [];
    forEachOpusPacket(payload, (start, length) =>
      parts.push(this.decodePacket(payload.subarray(start, start + length))),
    );
    const frames = parts.reduce((n, p) => n + (p.length >> 1), 0);
    const l = new Float32Array(frames);
    const r = new Float32Array(frames);
    let i = 0;
    for (const p of parts) {
      for (let k = 0; k < p.length; k += 2, i++) {
        l[i] = p[k]! / 32767;
        r[i] = p[k + 1]! / 32767;
      }
    }
    return { l, r };
  }
}
