import { encodePcm16 } from '../codec/pcm16.ts';
import {
  CODEC_OPUS,
  CODEC_PCM_S16LE,
  FLAG_DISCONTINUITY,
  writeFrameHeader,
  type FrameHeader,
} from '../codec/frame-header.ts';
import { OpusChunkEncoder } from '../codec/opus-encoder.ts';
import { OggOpusMuxer } from '../codec/ogg.ts';
import { applyPatch, type ParamsPatch } from '../music/params.ts';
import { CHANNELS, SAMPLE_RATE, type MusicParams } from '../music/types.ts';
import type { AddStationMessage, StationStats } from './messages.ts';
import { CHUNK_HEADER_BYTES, ChunkRing, WS_PREFIX_BYTES, writeWsBinaryHeader } from './ring.ts';
import { StationRenderer } from './station-renderer.ts';

/** Bounded number of timing samples kept between two stats reports (one report a second). */
const MAX_TIMING_SAMPLES = 256;

/**
 * One station inside an engine worker: renders the next chunk, encodes it once (Opus, PCM16 and the
 * Ogg page) straight into the station's shared ring, and publishes it. Buffers are allocated here,
 * once; rendering a chunk allocates nothing of its own.
 */
export class WorkerStation {
  readonly id: string;
  readonly ring: ChunkRing;
  readonly chunkFrames: number;
  startTimeMs: number;
  readonly chunkMs: number;
  private readonly renderer: StationRenderer;
  private readonly opus: OpusChunkEncoder;
  private readonly ogg: OggOpusMuxer;
  private readonly left: Float32Array;
  private readonly right: Float32Array;
  /** The renderer starts at local frame 0; station positions continue across worker restarts. */
  private readonly baseFrames: number;
  private nextSeq: number;
  private discontinuity: boolean;
  private readonly header: FrameHeader;
  private lastChord = '';
  readonly synthSeconds: number[] = [];
  readonly encodeOpusSeconds: number[] = [];
  readonly encodePcmSeconds: number[] = [];

  /** `opus`: an encoder to reuse (reset, with the message's bitrate and complexity), else a new one. */
  constructor(msg: AddStationMessage, opus?: OpusChunkEncoder) {
    this.id = msg.id;
    this.ring = new ChunkRing(msg.ring, msg.layout);
    this.chunkFrames = msg.chunkFrames;
    this.chunkMs = (msg.chunkFrames * 1000) / SAMPLE_RATE;
    this.startTimeMs = msg.startTimeMs;
    this.nextSeq = msg.startSeq;
    this.baseFrames = msg.startSeq * msg.chunkFrames;
    this.discontinuity = msg.discontinuity;
    this.renderer = new StationRenderer({ seed: msg.seed, params: msg.params });
    this.opus = opus ?? new OpusChunkEncoder({ bitrate: msg.opusBitrate, complexity: msg.opusComplexity });
    this.ogg = new OggOpusMuxer({
      serial: hashId(msg.id),
      preSkipFrames: this.opus.preSkipFrames,
      sampleRate: SAMPLE_RATE,
      channels: CHANNELS,
      vendor: 'auralis',
      title: msg.id,
    });
    this.left = new Float32Array(msg.chunkFrames);
    this.right = new Float32Array(msg.chunkFrames);
    this.header = {
      version: 1,
      codec: CODEC_OPUS,
      channels: CHANNELS,
      flags: 0,
      sampleRate: SAMPLE_RATE,
      sequence: 0,
      frames: msg.chunkFrames,
      positionFrames: 0,
      playTimeMs: 0,
    };
  }

  get opusBackend(): string {
    return this.opus.backend;
  }
  get preSkipFrames(): number {
    return this.opus.preSkipFrames;
  }
  oggHeader(): Uint8Array {
    return this.ogg.headerPages();
  }

  /** Due time (Unix ms) of the next chunk to render: its play time minus the lead. */
  nextDueMs(leadMs: number): number {
    return this.startTimeMs + this.nextSeq * this.chunkMs - leadMs;
  }

  /** ms between the due time of the newest rendered chunk and now. */
  bufferedMs(nowMs: number, leadMs: number): number {
    return this.nextDueMs(leadMs) - nowMs;
  }

  /** Applies a patch to the parameters this station plays; returns them and where they are heard. */
  change(patch: ParamsPatch): { effectiveAt: number; params: MusicParams } {
    const params = applyPatch(this.renderer.params, patch);
    return { effectiveAt: this.renderer.change(params) + this.baseFrames, params };
  }

  /**
   * Ends the station: returns its Opus encoder for reuse (the caller resets or closes it). The ring
   * belongs to the host.
   */
  takeEncoder(): OpusChunkEncoder {
    return this.opus;
  }

  /** Returns the chord name when it changed with this chunk, else null. */
  renderNext(): string | null {
    const seq = this.nextSeq;
    const ring = this.ring;
    const bytes = ring.bytes;
    const frames = this.chunkFrames;
    const positionFrames = seq * frames;

    const t0 = performance.now();
    this.renderer.render(this.left, this.right, frames);
    const t1 = performance.now();

    const h = this.header;
    h.flags = this.discontinuity ? FLAG_DISCONTINUITY : 0;
    h.sequence = seq;
    h.positionFrames = positionFrames;
    h.playTimeMs = this.startTimeMs + seq * this.chunkMs;

    const opusHeaderAt = ring.opusRegion(seq) + WS_PREFIX_BYTES;
    const opusPayloadBytes = this.opus.encode(
      this.left,
      this.right,
      frames,
      bytes,
      opusHeaderAt + CHUNK_HEADER_BYTES,
    );
    h.codec = CODEC_OPUS;
    writeFrameHeader(bytes, opusHeaderAt, h);
    const opusStart = writeWsBinaryHeader(bytes, opusHeaderAt, CHUNK_HEADER_BYTES + opusPayloadBytes);
    const t2 = performance.now();

    const pcmHeaderAt = ring.pcmRegion(seq) + WS_PREFIX_BYTES;
    const pcmPayloadBytes = encodePcm16(
      this.left,
      this.right,
      frames,
      bytes,
      pcmHeaderAt + CHUNK_HEADER_BYTES,
    );
    h.codec = CODEC_PCM_S16LE;
    writeFrameHeader(bytes, pcmHeaderAt, h);
    const pcmStart = writeWsBinaryHeader(bytes, pcmHeaderAt, CHUNK_HEADER_BYTES + pcmPayloadBytes);
    const t3 = performance.now();

    const payload = bytes.subarray(
      opusHeaderAt + CHUNK_HEADER_BYTES,
      opusHeaderAt + CHUNK_HEADER_BYTES + opusPayloadBytes,
    );
    const oggLen = this.ogg.writePageForChunk(payload, positionFrames + frames, bytes, ring.oggRegion(seq));

    ring.publish(
      seq,
      opusStart,
      opusHeaderAt + CHUNK_HEADER_BYTES + opusPayloadBytes - opusStart,
      pcmStart,
      pcmHeaderAt + CHUNK_HEADER_BYTES + pcmPayloadBytes - pcmStart,
      oggLen,
    );
    this.nextSeq = seq + 1;
    this.discontinuity = false;

    pushBounded(this.synthSeconds, (t1 - t0) / 1000);
    pushBounded(this.encodeOpusSeconds, (t2 - t1) / 1000);
    pushBounded(this.encodePcmSeconds, (t3 - t2) / 1000);

    const now = this.renderer.now();
    if (now.chord !== this.lastChord) {
      this.lastChord = now.chord;
      return now.chord;
    }
    return null;
  }

  nowInfo(): { position: number; chord: string; key: string; mode: string; section: string } {
    const n = this.renderer.now();
    return {
      position: this.nextSeq * this.chunkFrames,
      chord: n.chord,
      key: n.key,
      mode: n.mode,
      section: n.section,
    };
  }

  takeStats(nowMs: number, leadMs: number): StationStats {
    const s: StationStats = {
      id: this.id,
      synthSeconds: this.synthSeconds.splice(0),
      encodeOpusSeconds: this.encodeOpusSeconds.splice(0),
      encodePcmSeconds: this.encodePcmSeconds.splice(0),
      bufferedMs: this.bufferedMs(nowMs, leadMs),
    };
    return s;
  }
}

function pushBounded(arr: number[], v: number): void {
  if (arr.length < MAX_TIMING_SAMPLES) arr.push(v);
}

/** A stable 32-bit Ogg serial number from the station id (FNV-1a). */
function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
