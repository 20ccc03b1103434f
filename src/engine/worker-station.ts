import { encodePcm16 } from '../codec/pcm16.ts';
import {
  CODEC_OPUS,
  CODEC_PCM_S16LE,
  FLAG_DISCONTINUITY,
  tierFlags,
  writeFrameHeader,
  type FrameHeader,
} from '../codec/frame-header.ts';
import { Mp3ChunkEncoder } from '../codec/mp3-encoder.ts';
import { OpusChunkEncoder } from '../codec/opus-encoder.ts';
import type { OpusEncoderPool } from './encoder-pool.ts';
import { FIRST_AUDIO_PAGE_SEQUENCE, OggOpusMuxer } from '../codec/ogg.ts';
import { applyPatch, type ParamsPatch } from '../music/params.ts';
import { CHANNELS, SAMPLE_RATE, type MusicParams, type NoteEvent, type NowInfo } from '../music/types.ts';
import type { AddStationMessage, EncodeWish, HistoryReply, NowReport, StationStats } from './messages.ts';
import { CHUNK_HEADER_BYTES, ChunkRing, WS_PREFIX_BYTES, writeWsBinaryHeader } from './ring.ts';
import { StationRenderer } from './station-renderer.ts';
import { NotesBatch, ScoreLog } from './score-log.ts';
import { writeMidiFile } from '../codec/midi.ts';
import { soundFontLoader } from '../dsp/soundfont.ts';

/** Bounded number of timing samples kept between two stats reports (one report a second). */
const MAX_TIMING_SAMPLES = 256;

/**
 * Chunks a tier switched on is encoded before its bytes are published: a decoder that switches to
 * it never hears the encoder's start-up (its first packets, which assume silence before them).
 */
export const TIER_WARMUP_CHUNKS = 2;

/**
 * Audio rendered, not published, before the first chunk of a station that wakes up (see
 * `WorkerStation.setWish`): the notes still sounding start in it, so their attacks, the reverb and
 * the delay have settled when the first chunk is heard (docs/ARCHITECTURE.md, "Lazy stations").
 */
export const WAKE_WARMUP_MS = 2000;

/** An Opus tier other than the default, encoded while someone listens to it. */
interface ExtraTier {
  readonly index: number;
  readonly bitrate: number;
  opus: OpusChunkEncoder;
  readonly ogg: OggOpusMuxer;
  /** Chunks encoded since its encoder started; published from TIER_WARMUP_CHUNKS on. */
  encoded: number;
}

/**
 * Encoding a chunk failed twice (with the encoder rebuilt in between): the chunk was not published
 * (the pacer skips it and flags the next one), and the station goes on with the next chunk.
 */
export class ChunkEncodeError extends Error {
  readonly seq: number;
  constructor(seq: number, cause: unknown) {
    super(`encoding chunk ${seq} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ChunkEncodeError';
    this.seq = seq;
  }
}

/**
 * One station inside an engine worker: renders the next chunk, encodes it once (Opus, PCM16 and the
 * Ogg page) straight into the station's shared ring, and publishes it. Buffers are allocated here,
 * once; rendering a chunk allocates nothing of its own.
 */
export class WorkerStation {
  readonly id: string;
  readonly ring: ChunkRing;
  readonly chunkFrames: number;
  /** Monotonic ms at which position 0 plays (src/engine/clock.ts). */
  startMonoMs: number;
  /** Wall minus monotonic ms, fixed at the station's creation: for the header's Unix play time. */
  private readonly wallOffsetMs: number;
  readonly chunkMs: number;
  private renderer: StationRenderer;
  /** The sampled layer's SoundFont (loaded on first use), for a renderer built again (a moment). */
  private soundfont: ReturnType<typeof soundFontLoader> = null;
  private opus: OpusChunkEncoder;
  private readonly opusOptions: { bitrate: number; complexity: number };
  private readonly ogg: OggOpusMuxer;
  private readonly defaultTier: number;
  private readonly serial: number;
  /** The other tiers by index, null while not wished (no encoder, no cost). */
  private readonly extra: (ExtraTier | null)[];
  /** The MP3 encoder while someone listens to the station's MP3 stream, else null (no MP3 cost). */
  private mp3: Mp3ChunkEncoder | null = null;
  private readonly mp3Bitrate: number;
  private readonly left: Float32Array;
  private readonly right: Float32Array;
  /**
   * The renderer starts at local frame 0; station positions continue across worker restarts and
   * chunks skipped because they were overdue (`skipLate`).
   */
  private baseFrames: number;
  private nextSeq: number;
  private discontinuity: boolean;
  private readonly header: FrameHeader;
  private lastNow: NowInfo | null = null;
  readonly synthSeconds: number[] = [];
  readonly encodeOpusSeconds: number[] = [];
  readonly encodePcmSeconds: number[] = [];
  readonly encodeMp3Seconds: number[] = [];
  /** Fault injection: the encoder throws for this many more chunks (0 in normal operation). */
  failEncodes = 0;
  /** Fault injection: the retry with a rebuilt encoder throws too (the chunks are dropped). */
  failPersistent = false;
  /** An encoder error the last renderNext() recovered from (the retry worked), for the host; else null. */
  recoveredError: string | null = null;
  /** Fault injection: the thread exits in the middle of writing the next chunk. */
  exitMidChunk = false;

  /** Where the encoders of tiers switched off go, and where those of tiers switched on come from. */
  private readonly encoders: OpusEncoderPool | null;
  /** The host's last wish (what to encode, and whether anyone listens at all). */
  private wishValue: EncodeWish = { mp3: false, tiers: 0, live: true };
  /** The notes handed out lately (for `score.mid`), and those of the chunk being rendered (for `?events=1`). */
  private readonly score = new ScoreLog();
  private readonly batch = new NotesBatch();
  /** The last chunk's `notes` frame, for the worker to send (taken by `takeNotes`); null when none. */
  private notesFrame: Uint8Array | null = null;
  private readonly observe = (e: NoteEvent): void => {
    this.score.add(e, this.baseFrames);
    if (this.wishValue.events === true && !this.renderer.asleep) this.batch.add(e, this.baseFrames);
  };
  /** Monotonic ms of the last idle catch-up (`idleTick`). */
  lastIdleTickMs = 0;
  /** Wall seconds of the last wake-up (warm-up included), for the stats; -1 when none since the last report. */
  private wakeSeconds = -1;
  /** Monotonic ms since when the next chunk's slot is held by the main thread (-1: not waiting). */
  private waitingSinceMs = -1;
  /** Waits begun, and ms waited, since the last stats report. */
  private ringWaits = 0;
  private ringWaitMs = 0;

  /**
   * `opus`: an encoder to reuse (reset, with the message's bitrate and complexity), else a new one.
   * `encoders`: the worker's pool for the other tiers' encoders (none: built and closed here).
   */
  constructor(msg: AddStationMessage, opus?: OpusChunkEncoder, encoders?: OpusEncoderPool) {
    this.encoders = encoders ?? null;
    this.id = msg.id;
    this.ring = new ChunkRing(msg.ring, msg.layout);
    this.chunkFrames = msg.chunkFrames;
    this.chunkMs = (msg.chunkFrames * 1000) / SAMPLE_RATE;
    this.startMonoMs = msg.startMonoMs;
    this.wallOffsetMs = msg.wallOffsetMs;
    this.nextSeq = msg.startSeq;
    this.baseFrames = msg.moment ? msg.moment.baseFrames : msg.startSeq * msg.chunkFrames;
    this.discontinuity = msg.discontinuity;
    this.renderer = new StationRenderer({
      seed: msg.seed,
      params: msg.params,
      soundfont: (this.soundfont = soundFontLoader(msg.soundfont)),
      onEvent: this.observe,
    });
    this.opusOptions = { bitrate: msg.opusBitrate, complexity: msg.opusComplexity };
    this.opus = opus ?? new OpusChunkEncoder(this.opusOptions);
    this.defaultTier = msg.layout.defaultTier;
    this.serial = hashId(msg.id);
    this.ogg = this.muxer(msg.startSeq);
    this.extra = msg.layout.tiers.map(() => null);
    this.mp3Bitrate = msg.mp3Bitrate;
    this.left = new Float32Array(msg.chunkFrames);
    this.right = new Float32Array(msg.chunkFrames);
    // A station nobody listens to starts asleep; the worker wakes it on the chunk due then.
    if (msg.wish.live === false) this.renderer.sleep();
    // Taken over from another process: its changes go into the score where they took effect (each
    // asked for just before its position, so the composer puts it on that same beat or bar).
    if (msg.history && this.renderer.asleep) {
      for (const h of msg.history) {
        this.renderer.skipTo(Math.max(0, h.effectiveAt - 1));
        this.renderer.change(h.params);
      }
    }
    if (msg.moment) this.startAtMoment(msg.moment, msg.startSeq);
    this.wishValue = { ...msg.wish, live: msg.wish.live !== false };
    if (this.wishValue.live) this.applyEncoders();
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

  /**
   * A personal session started at a moment: the moment's score up to chunk `seq`, then a wake-up
   * there with the lazy stations' warm-up (rendered now, not published).
   */
  private startAtMoment(moment: HistoryReply, seq: number): void {
    const frames = this.chunkFrames;
    const warmup = Math.ceil(WAKE_WARMUP_MS / this.chunkMs) * frames;
    const r = StationRenderer.resume(
      moment.history,
      seq * frames - this.baseFrames,
      warmup,
      this.observe,
      this.soundfont,
    );
    this.renderer = r.renderer;
    for (let i = 0; i < Math.round(r.warmupFrames / frames); i++)
      this.renderer.render(this.left, this.right, frames);
  }

  /**
   * An Ogg muxer whose next page is chunk `seq`'s. One page per chunk (a chunk is at most 1 s: 50
   * packets, well under a page's 255 segments), numbered FIRST_AUDIO_PAGE_SEQUENCE + seq, so a
   * station resumed by a restarted worker continues the page numbering of the one before, and the
   * pages of every tier (same serial, same pre-skip) can follow one another in one stream.
   */
  private muxer(seq: number): OggOpusMuxer {
    return new OggOpusMuxer({
      serial: this.serial,
      preSkipFrames: this.opus.preSkipFrames,
      sampleRate: SAMPLE_RATE,
      channels: CHANNELS,
      vendor: 'auralis',
      title: this.id,
      firstAudioSequence: FIRST_AUDIO_PAGE_SEQUENCE + seq,
    });
  }

  /**
   * Applies what the main thread wants: whether the station renders at all (`live`: someone
   * listens) and what it encodes besides the default tier (MP3, other tiers). Idempotent. Going
   * idle stops synthesis and frees every encoder but the default tier's; waking up renders from the
   * chunk due at `nowMs` on, after a warm-up that is not published (WAKE_WARMUP_MS).
   */
  setWish(wish: EncodeWish, nowMs: number, leadMs: number): void {
    const live = wish.live !== false;
    this.wishValue = { mp3: wish.mp3, tiers: wish.tiers, live, events: wish.events === true };
    if (!this.wishValue.events) this.batch.clear();
    if (!live) {
      this.sleep();
      return;
    }
    if (this.renderer.asleep) this.wake(nowMs, leadMs);
    this.applyEncoders();
  }

  private applyEncoders(): void {
    this.setMp3(this.wishValue.mp3);
    this.setTiers(this.wishValue.tiers);
  }

  /** Whether the station renders (someone listens); false while it is idle. */
  get live(): boolean {
    return !this.renderer.asleep;
  }

  /**
   * Goes idle: no synthesis, no encoding, no encoder but the default tier's. The chunks already
   * rendered ahead stay in the ring: a wake-up before they are due sends them (the main thread
   * empties the ring at a wake-up once they are past). The clock and the score go on (`idleTick`).
   */
  private sleep(): void {
    if (this.renderer.asleep) return;
    this.setMp3(false);
    this.setTiers(0);
    this.renderer.sleep();
  }

  /**
   * Idle: moves the station to the chunk due now (its Ogg page numbers too) and composes up to
   * it without synthesis, so that the score stays where it would be had the station been heard
   * all along. Returns the chord name when what sounds changed, else null. A few µs per second.
   */
  idleTick(nowMs: number, leadMs: number): string | null {
    this.lastIdleTickMs = nowMs;
    this.moveToDue(nowMs, leadMs);
    this.renderer.skipTo(this.nextSeq * this.chunkFrames - this.baseFrames);
    // Before the first chord (the station's first moment) there is nothing to announce.
    return this.renderer.now().chord === '' ? null : this.soundingChanged();
  }

  /** Idle: the next chunk becomes the one due at `nowMs` (never goes back). */
  private moveToDue(nowMs: number, leadMs: number): void {
    const dueSeq = Math.floor((nowMs + leadMs - this.startMonoMs) / this.chunkMs);
    if (dueSeq <= this.nextSeq) return;
    this.ogg.skipPages(dueSeq - this.nextSeq);
    this.nextSeq = dueSeq;
  }

  /**
   * Wakes up at the chunk due now: the score is composed up to the warm-up's start, a fresh synth
   * gets the notes still sounding there and renders the warm-up (not published; its last chunks
   * go through the Opus encoder, so that its look-ahead holds this audio, not the audio from
   * before the sleep). The first chunk rendered next is the one due now.
   */
  private wake(nowMs: number, leadMs: number): void {
    const t0 = performance.now();
    const from = this.nextSeq;
    this.moveToDue(nowMs, leadMs);
    // Woken before the chunks rendered ahead were due: they are sent, and the Opus stream goes on
    // from them, so the encoder keeps its state (a warm-up would put other audio into it).
    const continues = this.nextSeq === from;
    const frames = this.chunkFrames;
    const warmupChunks = Math.ceil(WAKE_WARMUP_MS / this.chunkMs);
    const warmup = this.renderer.wake(this.nextSeq * frames - this.baseFrames, warmupChunks * frames);
    const chunks = Math.round(warmup / frames);
    const at = this.ring.opusRegion(this.nextSeq) + WS_PREFIX_BYTES + CHUNK_HEADER_BYTES;
    const maxPacket = this.ring.layout.tiers[this.defaultTier]!.maxPacketBytes;
    for (let i = 0; i < chunks; i++) {
      this.renderer.render(this.left, this.right, frames);
      // (Its slot is free: a station goes idle only once nobody listens, so no socket holds it.)
      if (continues || i < chunks - TIER_WARMUP_CHUNKS || !this.ring.mayWrite(this.nextSeq)) continue;
      try {
        // Into the region of the chunk due now, which its own encoding overwrites next.
        this.opus.encode(this.left, this.right, frames, this.ring.bytes, at, maxPacket);
      } catch {
        this.rebuildEncoder();
      }
    }
    this.wakeSeconds = (performance.now() - t0) / 1000;
  }

  /**
   * Starts (a fresh encoder, published after its warm-up) or stops (the encoder is freed) each tier
   * other than the default: bit i of `mask` for tier i. Idempotent.
   */
  setTiers(mask: number): void {
    const tiers = this.ring.layout.tiers;
    for (let i = 0; i < tiers.length; i++) {
      if (i === this.defaultTier) continue;
      const on = (mask & (1 << i)) !== 0;
      const t = this.extra[i];
      if (on && !t) {
        const bitrate = tiers[i]!.kbps * 1000;
        const complexity = this.opusOptions.complexity;
        this.extra[i] = {
          index: i,
          bitrate,
          opus: this.encoders?.take(bitrate, complexity) ?? new OpusChunkEncoder({ bitrate, complexity }),
          ogg: this.muxer(this.nextSeq),
          encoded: 0,
        };
      } else if (!on && t) {
        if (this.encoders) this.encoders.give(t.opus);
        else t.opus.close();
        this.extra[i] = null;
      }
    }
  }

  /** The tiers encoded now (a bit per index, the default's included). */
  get tiersEncoding(): number {
    let mask = 1 << this.defaultTier;
    for (const t of this.extra) if (t) mask |= 1 << t.index;
    return mask;
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

  /** Due time (monotonic ms) of the next chunk to render: its play time minus the lead. */
  nextDueMs(leadMs: number): number {
    return this.startMonoMs + this.nextSeq * this.chunkMs - leadMs;
  }

  /** ms between the due time of the newest rendered chunk and now. */
  bufferedMs(nowMs: number, leadMs: number): number {
    return this.nextDueMs(leadMs) - nowMs;
  }

  /** Applies a patch to the parameters this station plays; returns them and where they are heard. */
  change(patch: ParamsPatch, nowMs: number, leadMs: number): { effectiveAt: number; params: MusicParams } {
    // Idle: the score is first brought to the chunk due now, where a live station would be about
    // to play, so the change lands where it would have had the station been heard.
    if (this.renderer.asleep) this.idleTick(nowMs, leadMs);
    const params = applyPatch(this.renderer.params, patch);
    return { effectiveAt: this.renderer.change(params) + this.baseFrames, params };
  }

  /**
   * Ends the station: returns its Opus encoder for reuse (the caller resets or closes it). The ring
   * belongs to the host.
   */
  /** Replaces an encoder whose state is unknown (it threw), freeing the old one's memory. */
  private rebuildEncoder(): void {
    try {
      this.opus.close();
    } catch {
      // Already broken: it is dropped either way.
    }
    this.opus = new OpusChunkEncoder(this.opusOptions);
  }

  takeEncoder(): OpusChunkEncoder {
    this.setMp3(false);
    this.setTiers(0);
    return this.opus;
  }

  /**
   * Starts (a new encoder: its stream begins with the next chunk rendered) or stops (the encoder is
   * freed) the MP3 stream. Idempotent.
   */
  setMp3(on: boolean): void {
    if (on && !this.mp3) this.mp3 = new Mp3ChunkEncoder({ bitrate: this.mp3Bitrate });
    else if (!on && this.mp3) {
      this.mp3.close();
      this.mp3 = null;
    }
  }

  get mp3Encoding(): boolean {
    return this.mp3 !== null;
  }

  /**
   * When the next chunk is already overdue by more than `maxLateMs` (the thread or the whole
   * process was stopped), jumps to the chunk due now instead of rendering audio that would be
   * skipped anyway; that chunk carries the discontinuity flag. Returns the chunks skipped (0
   * normally).
   */
  skipLate(nowMs: number, leadMs: number, maxLateMs: number): number {
    if (nowMs - this.nextDueMs(leadMs) <= maxLateMs) return 0;
    const dueSeq = Math.floor((nowMs + leadMs - this.startMonoMs) / this.chunkMs);
    const skipped = dueSeq - this.nextSeq;
    if (skipped <= 0) return 0;
    this.nextSeq = dueSeq;
    this.ogg.skipPages(skipped);
    for (const t of this.extra) t?.ogg.skipPages(skipped);
    this.baseFrames += skipped * this.chunkFrames;
    this.discontinuity = true;
    return skipped;
  }

  /**
   * Whether the next chunk may be written into the ring now (its slot's previous chunk is no longer
   * held by the main thread: ring.ts, HOLD). While it may not, the station waits: nothing is
   * rendered, and the wait is counted for the stats. One atomic load, no allocation.
   */
  canWriteNext(nowMs: number): boolean {
    if (this.ring.mayWrite(this.nextSeq)) {
      if (this.waitingSinceMs >= 0) {
        this.ringWaitMs += nowMs - this.waitingSinceMs;
        this.waitingSinceMs = -1;
      }
      return true;
    }
    if (this.waitingSinceMs < 0) {
      this.waitingSinceMs = nowMs;
      this.ringWaits++;
    }
    return false;
  }

  /** Whether the station waits for the main thread to release the next chunk's slot. */
  get waitingForRing(): boolean {
    return this.waitingSinceMs >= 0;
  }

  /** Sequence number of the next chunk to render. */
  get nextSequence(): number {
    return this.nextSeq;
  }

  /**
   * Renders, encodes and publishes the next chunk. Returns the chord name when it changed with this
   * chunk, else null. When the encoder throws, it is rebuilt and the chunk encoded again (flagged:
   * the decoder's state no longer matches; `recoveredError` says why); when that throws too, the
   * chunk is skipped and ChunkEncodeError thrown.
   */
  renderNext(): string | null {
    const seq = this.nextSeq;
    const ring = this.ring;
    const bytes = ring.bytes;
    const frames = this.chunkFrames;
    const positionFrames = seq * frames;

    const t0 = performance.now();
    this.renderer.render(this.left, this.right, frames);
    const t1 = performance.now();
    if (this.batch.size > 0) {
      this.notesFrame = this.batch.frame(seq, positionFrames);
      this.batch.clear();
    }

    const h = this.header;
    h.flags = this.discontinuity ? FLAG_DISCONTINUITY : 0;
    h.sequence = seq;
    h.positionFrames = positionFrames;
    h.playTimeMs = this.startMonoMs + this.wallOffsetMs + seq * this.chunkMs;

    const opusHeaderAt = ring.opusRegion(seq) + WS_PREFIX_BYTES;
    const pcmFlags = h.flags;
    let opusPayloadBytes: number;
    try {
      opusPayloadBytes = this.encodeOpus(opusHeaderAt + CHUNK_HEADER_BYTES, false);
    } catch (first) {
      // The encoder's state is unknown now: rebuild it and encode the chunk once more.
      this.rebuildEncoder();
      try {
        opusPayloadBytes = this.encodeOpus(opusHeaderAt + CHUNK_HEADER_BYTES, true);
        this.recoveredError = `encoding chunk ${seq} failed (${errorText(first)}); encoded again with a new encoder`;
        h.flags |= FLAG_DISCONTINUITY;
      } catch (err) {
        // Skip this chunk (never publish a partly written one) and flag the next.
        this.rebuildEncoder();
        this.ogg.skipPages(1);
        for (const t of this.extra) t?.ogg.skipPages(1);
        this.nextSeq = seq + 1;
        this.discontinuity = true;
        throw new ChunkEncodeError(seq, err);
      }
    }
    h.codec = CODEC_OPUS;
    h.flags |= tierFlags(this.defaultTier);
    writeFrameHeader(bytes, opusHeaderAt, h);
    h.flags = pcmFlags;
    const opusStart = writeWsBinaryHeader(bytes, opusHeaderAt, CHUNK_HEADER_BYTES + opusPayloadBytes);
    for (let i = 0; i < this.extra.length; i++) {
      const t = this.extra[i];
      if (t) this.encodeTier(t, seq, pcmFlags);
      else if (i !== this.defaultTier) ring.setTier(seq, i, 0, 0, 0);
    }
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
    const t4 = performance.now();
    const mp3On = this.mp3 !== null;
    const mp3Len = mp3On ? this.encodeMp3(seq) : 0;
    // Fault injection: die with the chunk written but not published (a crash mid-chunk).
    if (this.exitMidChunk) process.exit(70);

    ring.publish(
      seq,
      opusStart,
      opusHeaderAt + CHUNK_HEADER_BYTES + opusPayloadBytes - opusStart,
      pcmStart,
      pcmHeaderAt + CHUNK_HEADER_BYTES + pcmPayloadBytes - pcmStart,
      oggLen,
      mp3Len,
    );
    this.nextSeq = seq + 1;
    this.discontinuity = false;

    pushBounded(this.synthSeconds, (t1 - t0) / 1000);
    pushBounded(this.encodeOpusSeconds, (t2 - t1) / 1000);
    pushBounded(this.encodePcmSeconds, (t3 - t2) / 1000);
    if (mp3On) pushBounded(this.encodeMp3Seconds, (performance.now() - t4) / 1000);

    return this.soundingChanged();
  }

  /** The chord name when the chord, key, mode or section sounding now changed since the last call. */
  private soundingChanged(): string | null {
    // A new chord, or the same symbol in another key, mode or section: what is sounding changed.
    const now = this.renderer.now();
    const last = this.lastNow;
    if (
      last === null ||
      (now !== last &&
        (now.chord !== last.chord ||
          now.key !== last.key ||
          now.mode !== last.mode ||
          now.section !== last.section))
    ) {
      this.lastNow = now;
      return now.chord;
    }
    return null;
  }

  /**
   * Encodes the chunk's MP3 frames into the ring's MP3 region; returns their length. When LAME
   * throws, the MP3 encoder is rebuilt (its stream starts again with the next chunk) and this
   * chunk carries no MP3 bytes: the Opus, PCM and Ogg streams are not affected.
   */
  private encodeMp3(seq: number): number {
    const region = this.ring.mp3Region(seq);
    try {
      return this.mp3!.encode(
        this.left,
        this.right,
        this.chunkFrames,
        this.ring.bytes,
        region,
        this.ring.layout.mp3RegionBytes,
      );
    } catch (err) {
      this.setMp3(false);
      this.setMp3(true);
      this.recoveredError = `MP3 encoding of chunk ${seq} failed (${errorText(err)}); the MP3 encoder was rebuilt`;
      return 0;
    }
  }

  /**
   * Encodes the chunk (already rendered into left/right) in another tier: its WebSocket frame and
   * its Ogg page into the tier's regions; recorded in the ring (length 0 during the warm-up). When
   * its encoder throws, it is rebuilt and the chunk encoded again, flagged; when that throws too,
   * the tier has no bytes for this chunk and starts again with its warm-up. The other tiers and
   * streams are not affected.
   */
  private encodeTier(t: ExtraTier, seq: number, flags: number): void {
    const ring = this.ring;
    const bytes = ring.bytes;
    const headerAt = ring.opusRegion(seq, t.index) + WS_PREFIX_BYTES;
    const maxPacket = ring.layout.tiers[t.index]!.maxPacketBytes;
    const h = this.header;
    let payloadBytes: number;
    let tierFlagsNow = flags | tierFlags(t.index);
    try {
      payloadBytes = t.opus.encode(
        this.left,
        this.right,
        this.chunkFrames,
        bytes,
        headerAt + CHUNK_HEADER_BYTES,
        maxPacket,
      );
    } catch (first) {
      this.rebuildTier(t);
      try {
        payloadBytes = t.opus.encode(
          this.left,
          this.right,
          this.chunkFrames,
          bytes,
          headerAt + CHUNK_HEADER_BYTES,
          maxPacket,
        );
        tierFlagsNow |= FLAG_DISCONTINUITY;
        this.recoveredError = `encoding chunk ${seq} at ${t.bitrate / 1000} kb/s failed (${errorText(first)}); encoded again with a new encoder`;
      } catch (err) {
        this.rebuildTier(t);
        t.ogg.skipPages(1);
        ring.setTier(seq, t.index, 0, 0, 0);
        this.recoveredError = `encoding chunk ${seq} at ${t.bitrate / 1000} kb/s failed twice (${errorText(err)}); that tier starts again`;
        return;
      }
    }
    const payload = bytes.subarray(
      headerAt + CHUNK_HEADER_BYTES,
      headerAt + CHUNK_HEADER_BYTES + payloadBytes,
    );
    const oggLen = t.ogg.writePageForChunk(
      payload,
      (seq + 1) * this.chunkFrames,
      bytes,
      ring.oggRegion(seq, t.index),
    );
    if (t.encoded++ < TIER_WARMUP_CHUNKS) {
      ring.setTier(seq, t.index, 0, 0, 0);
      return;
    }
    const saved = h.flags;
    h.flags = tierFlagsNow;
    writeFrameHeader(bytes, headerAt, h);
    h.flags = saved;
    const start = writeWsBinaryHeader(bytes, headerAt, CHUNK_HEADER_BYTES + payloadBytes);
    ring.setTier(seq, t.index, start, headerAt + CHUNK_HEADER_BYTES + payloadBytes - start, oggLen);
  }

  /** A tier encoder whose state is unknown (it threw) is replaced; the tier warms up again. */
  private rebuildTier(t: ExtraTier): void {
    try {
      t.opus.close();
    } catch {
      // Already broken: it is dropped either way.
    }
    t.opus = new OpusChunkEncoder({ bitrate: t.bitrate, complexity: this.opusOptions.complexity });
    t.encoded = 0;
  }

  private encodeOpus(offset: number, retry: boolean): number {
    if (this.failEncodes > 0) {
      // Injected: the first attempt of each affected chunk throws; the retry too when persistent.
      if (!retry || this.failPersistent) {
        if (retry || !this.failPersistent) this.failEncodes--;
        throw new Error('injected encoder fault');
      }
    }
    const maxPacket = this.ring.layout.tiers[this.defaultTier]!.maxPacketBytes;
    return this.opus.encode(this.left, this.right, this.chunkFrames, this.ring.bytes, offset, maxPacket);
  }

  /**
   * What reproduces this station's audio at station position `position` (a moment): the
   * renderer's history; asleep, the wake-up a listener arriving then would cause.
   */
  history(position: number): HistoryReply {
    const warmup = Math.ceil(WAKE_WARMUP_MS / this.chunkMs) * this.chunkFrames;
    return {
      history: this.renderer.history(position - this.baseFrames, warmup),
      baseFrames: this.baseFrames,
    };
  }

  /** The `notes` frame of the chunk rendered last (once), or null. */
  takeNotes(): Uint8Array | null {
    const f = this.notesFrame;
    this.notesFrame = null;
    return f;
  }

  /**
   * The notes sounding in station positions [from, to) as a Standard MIDI File (one track per
   * instrument, at the tempo now), from the notes kept (SCORE_LOG_NOTES, far more than 600 s).
   */
  scoreMidi(from: number, to: number, title: string): Uint8Array {
    return writeMidiFile(this.score.window(from, to), {
      bpm: this.renderer.params.bpm,
      sampleRate: SAMPLE_RATE,
      endFrame: to - from,
      title,
    });
  }

  nowInfo(): NowReport {
    const n = this.renderer.now();
    return {
      position: this.nextSeq * this.chunkFrames,
      chord: n.chord,
      key: n.key,
      mode: n.mode,
      section: n.section,
      next: this.renderer.nextChange(),
    };
  }

  takeStats(nowMs: number, leadMs: number): StationStats {
    const s: StationStats = {
      id: this.id,
      synthSeconds: this.synthSeconds.splice(0),
      encodeOpusSeconds: this.encodeOpusSeconds.splice(0),
      encodePcmSeconds: this.encodePcmSeconds.splice(0),
      encodeMp3Seconds: this.encodeMp3Seconds.splice(0),
      mp3: this.mp3 !== null,
      opusTiers: this.tiersEncoding,
      bufferedMs: this.live ? this.bufferedMs(nowMs, leadMs) : 0,
      live: this.live,
      wakeSeconds: this.wakeSeconds,
      ringWaits: this.ringWaits,
      ringWaitSeconds: 0,
    };
    if (this.waitingSinceMs >= 0) {
      this.ringWaitMs += nowMs - this.waitingSinceMs;
      this.waitingSinceMs = nowMs;
    }
    s.ringWaitSeconds = this.ringWaitMs / 1000;
    this.ringWaits = 0;
    this.ringWaitMs = 0;
    this.wakeSeconds = -1;
    return s;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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
