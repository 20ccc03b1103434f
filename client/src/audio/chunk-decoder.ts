import { OpusStreamDecoder } from './opus-decoder.ts';
import type { ChunkHeader } from '../protocol/chunk-header.ts';
import { framesPerPacket, splitOpusPackets } from '../protocol/opus-packets.ts';
import { decodePcm16 } from '../protocol/pcm16.ts';

/**
 * Wire chunks → positioned stereo frames, for either codec. Opus goes packet by packet through
 * WebCodecs (asynchronously); PCM is converted at once. The discontinuity flag travels with the
 * first frames of its chunk.
 */
export interface PositionedFrames {
  positionFrames: number;
  left: Float32Array;
  right: Float32Array;
  discontinuity: boolean;
}

export class ChunkDecoder {
  private opus: OpusStreamDecoder | null = null;
  /** Position of the first packet of the latest flagged Opus chunk (its output is async). */
  private discontinuityAtFrames: number | null = null;
  /** Chunks that could not be decoded (bad payloads), for diagnostics. */
  badChunks = 0;

  constructor(private readonly onFrames: (frames: PositionedFrames) => void) {}

  decode(header: ChunkHeader, payload: Uint8Array): void {
    if (header.codec === 'pcm') {
      const planes = decodePcm16(payload, header.channels, header.frames);
      if (planes.length === 0 || planes[0].length === 0) {
        this.badChunks++;
        return;
      }
      const left = planes[0];
      const right = planes[1] ?? planes[0].slice();
      this.onFrames({
        positionFrames: header.positionFrames,
        left,
        right,
        discontinuity: header.discontinuity,
      });
      return;
    }
    const split = splitOpusPackets(payload);
    if (!split.ok) {
      this.badChunks++;
      return;
    }
    if (!this.opus) {
      this.opus = new OpusStreamDecoder(
        ({ positionFrames, planes }) => {
          const discontinuity = positionFrames === this.discontinuityAtFrames;
          if (discontinuity) this.discontinuityAtFrames = null;
          this.onFrames({
            positionFrames,
            left: planes[0],
            right: planes[1] ?? planes[0].slice(),
            discontinuity,
          });
        },
        { channels: header.channels, sampleRate: header.sampleRate },
      );
    }
    if (header.discontinuity) this.discontinuityAtFrames = header.positionFrames;
    const step = framesPerPacket(header.sampleRate);
    for (let i = 0; i < split.packets.length; i++) {
      this.opus.decode(split.packets[i], header.positionFrames + i * step);
    }
  }

  /** A new connection: drop decoder state and anything queued. */
  reset(): void {
    this.opus?.close();
    this.opus = null;
    this.discontinuityAtFrames = null;
  }

  get decodeErrors(): number {
    return this.opus?.errors ?? 0;
  }
}
