import { FLAG_DISCONTINUITY, HEADER_OFFSET } from '../../codec/frame-header.ts';
import { MP3_FRAME_SAMPLES, MP3_SAMPLE_RATE, mp3FrameLength } from '../../codec/mp3-encoder.ts';
import { monoNowMs } from '../../engine/clock.ts';
import type { EngineStation } from '../../engine/engine-host.ts';
import { CHUNK_HEADER_BYTES, WS_PREFIX_BYTES } from '../../engine/ring.ts';
import { OPUS_PACKET_SAMPLES, opusFragmentHeader } from './fmp4.ts';
import { id3Tag, MAX_ID3_BYTES } from './id3.ts';
import { mediaPlaylist, targetDurationFor, type PlaylistSegment } from './playlist.ts';

/** The renditions: MP3 (packed audio with ID3) and Opus (fragmented MP4). */
export type HlsCodec = 'mp3' | 'opus';
/** Samples of one coded frame: an MP3 frame (1152) or an Opus packet (960), both at 48 kHz. */
const FRAME_SAMPLES: Record<HlsCodec, number> = { mp3: MP3_FRAME_SAMPLES, opus: OPUS_PACKET_SAMPLES };
/** Bytes of the fMP4 fragment header besides 4 bytes per packet (moof, traf, tfhd, tfdt, trun, mdat). */
const FMP4_HEADER_BYTES = 128;
/** Segments listed in the media playlist. */
export const PLAYLIST_SEGMENTS = 6;
/** Segments kept in memory: the playlist's plus two, for a client that read a playlist just before it slid. */
export const KEPT_SEGMENTS = PLAYLIST_SEGMENTS + 2;
/** Nominal segment length: a whole number of chunks nearest this. */
export const SEGMENT_TARGET_MS = 3000;

/** Chunks per segment: the whole number nearest 3 s, kept within 2–4 s where the chunk length allows. */
export function chunksPerSegment(chunkMs: number): number {
  let n = Math.max(1, Math.round(SEGMENT_TARGET_MS / chunkMs));
  while (n > 1 && n * chunkMs > 4000) n--;
  while (n * chunkMs < 2000) n++;
  return n;
}

export interface HlsSegment extends PlaylistSegment {
  /** Sequence number of its first chunk (its file name). */
  firstSeq: number;
  /** MP3 frames in it. */
  frames: number;
  /** The 90 kHz timestamp of its first sample (modulo 2^33), as in its ID3 PRIV frame. */
  timestamp90k: number;
  /** The now-playing title in its ID3 TIT2 frame. */
  title: string;
  /** ID3 tag + MP3 frames; never changed once made. */
  readonly bytes: Buffer;
}

/** What a segment says about what is sounding: the title (TIT2) and the now-playing JSON (TXXX). */
export interface NowSource {
  (): { title: string; json: string };
}

export interface SegmenterOptions {
  /** Default `mp3`. */
  codec?: HlsCodec;
  engine: Pick<EngineStation, 'ring' | 'startMonoMs' | 'wallOffsetMs' | 'chunkFrames' | 'chunkMs'>;
  now: NowSource;
  /** Media sequence number of the first segment at least this (kept increasing across segmenters). */
  minMsn: number;
  /**
   * Released this long after the last request (`renew`); at least two target durations, since a
   * player reloads its playlist about once per target duration.
   */
  leaseMs: number;
  onSegment?: (s: HlsSegment) => void;
  /** The lease ran out: the owner releases the segmenter (and closes it). */
  onExpired: () => void;
}

/**
 * One station's HLS segmenter. The pacer hands it every chunk it publishes (`chunk(seq)`, one
 * call per chunk, no allocation): it copies the chunk's MP3 frames from the ring into its
 * preallocated segment buffer and counts them. Every `chunksPerSegment` chunks (at sequence
 * numbers that are multiples of it, so boundaries fall on chunk and MP3 frame boundaries) it
 * makes the segment: one immutable Buffer of an ID3 tag (timestamp, title, now-playing JSON) and
 * the frames, kept in a window of KEPT_SEGMENTS (bounded in count and bytes); older ones are
 * dropped (freed once no response still sends them).
 *
 * A gap (a chunk without MP3 bytes, a skipped chunk, a chunk flagged as a discontinuity) ends
 * the segment early and starts a new run: its next segment carries EXT-X-DISCONTINUITY and a new
 * timestamp anchor. Within a run, timestamps advance by the frames' exact duration, so each
 * segment's PRIV timestamp is the previous one plus its EXTINF.
 *
 * The lease: each HLS request renews it; one timer (not per chunk) calls `onExpired` once no
 * request came for `leaseMs`.
 */
export class HlsSegmenter {
  readonly codec: HlsCodec;
  readonly chunksPerSegment: number;
  /** The station timeline's identity in URLs: Unix ms at which its chunk 0 plays. */
  readonly epoch: number;
  readonly targetDurationS: number;
  /** Largest segment (bytes): the bound per kept segment. */
  readonly maxSegmentBytes: number;
  private readonly engine: SegmenterOptions['engine'];
  private readonly now: NowSource;
  /** The lease actually applied (see SegmenterOptions.leaseMs). */
  readonly leaseMs: number;
  private readonly onSegment: ((s: HlsSegment) => void) | undefined;
  private readonly onExpired: () => void;
  private readonly view: DataView;
  private readonly work: Buffer;
  /** Opus: each packet's size in the segment being filled (fMP4 `trun`). */
  private readonly sizes: Uint32Array;
  private readonly frameMs: number;
  private readonly frameTicks: number;
  private readonly ext: string;
  private readonly kept: HlsSegment[] = [];
  private keptBytes = 0;
  private playlistText: string | null = null;
  private nextMsn: number;
  private discontinuities = 0;
  private madeAny = false;
  private lastSeq = -2;
  // The segment being filled.
  private curChunks = 0;
  private curBytes = 0;
  private curFrames = 0;
  private curFirstSeq = 0;
  private curTitle = '';
  private curJson = '';
  private curDiscontinuity = false;
  private curTimestamp = 0;
  private curProgramDateMs = 0;
  // The run (contiguous audio) the next segment continues; broken by any gap.
  private runBroken = true;
  private runAnchorMs = 0;
  private runAnchorTicks = 0;
  private runAnchorSamples = 0;
  private runFrames = 0;
  private lastRequestMs = monoNowMs();
  private leaseTimer: NodeJS.Timeout | null = null;
  private readyResolve: (() => void) | null = null;
  private readonly ready: Promise<void>;
  private closedValue = false;

  constructor(opts: SegmenterOptions) {
    const e = opts.engine;
    this.engine = e;
    this.codec = opts.codec ?? 'mp3';
    this.frameMs = (FRAME_SAMPLES[this.codec] * 1000) / MP3_SAMPLE_RATE;
    this.frameTicks = (FRAME_SAMPLES[this.codec] * 90_000) / MP3_SAMPLE_RATE;
    this.ext = this.codec === 'mp3' ? 'mp3' : 'm4s';
    this.now = opts.now;
    this.onSegment = opts.onSegment;
    this.onExpired = opts.onExpired;
    this.nextMsn = opts.minMsn;
    this.chunksPerSegment = chunksPerSegment(e.chunkMs);
    this.epoch = Math.round(e.startMonoMs + e.wallOffsetMs);
    const ring = e.ring;
    this.view = new DataView(ring.sab);
    const chunkBytes =
      this.codec === 'mp3' ? ring.layout.mp3RegionBytes : ring.layout.opusRegionBytes - WS_PREFIX_BYTES;
    this.work = Buffer.alloc(this.chunksPerSegment * chunkBytes);
    // MP3: at most the chunks' samples plus one frame that LAME completes early, plus one more of
    // slack; Opus: exactly the chunks' packets.
    const maxFrames =
      this.codec === 'mp3'
        ? Math.ceil((this.chunksPerSegment * e.chunkFrames) / MP3_FRAME_SAMPLES) + 1
        : (this.chunksPerSegment * e.chunkFrames) / OPUS_PACKET_SAMPLES;
    this.sizes = new Uint32Array(this.codec === 'opus' ? maxFrames : 0);
    this.maxSegmentBytes =
      (this.codec === 'mp3' ? MAX_ID3_BYTES : FMP4_HEADER_BYTES + 4 * maxFrames) + this.work.length;
    this.targetDurationS = targetDurationFor((maxFrames * this.frameMs) / 1000);
    this.leaseMs = Math.max(opts.leaseMs, 2000 * this.targetDurationS);
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
    this.armLease(this.leaseMs);
  }

  get closed(): boolean {
    return this.closedValue;
  }

  /** The segments kept (oldest first); the playlist lists the last PLAYLIST_SEGMENTS. */
  get segments(): readonly HlsSegment[] {
    return this.kept;
  }

  /** Bytes held by kept segments. */
  get bytesKept(): number {
    return this.keptBytes;
  }

  /** Bytes preallocated for the segment being filled. */
  get workBytes(): number {
    return this.work.length;
  }

  /** A kept segment by its first chunk's sequence number, or undefined (outside the window). */
  segment(firstSeq: number): HlsSegment | undefined {
    for (const s of this.kept) if (s.firstSeq === firstSeq) return s;
    return undefined;
  }

  /** URI of the fMP4 init segment (Opus), relative to the media playlist; null for MP3. */
  get initUri(): string | null {
    return this.codec === 'opus' ? `${this.epoch}/init.mp4` : null;
  }

  /** The media playlist (built once per new segment), or null before the first segment. */
  playlist(): string | null {
    if (this.playlistText === null && this.kept.length > 0) {
      this.playlistText = mediaPlaylist(
        this.kept.slice(-PLAYLIST_SEGMENTS),
        this.targetDurationS,
        this.initUri,
      );
    }
    return this.playlistText;
  }

  /** Waits (at most `timeoutMs`) for the first segment; true once there is one. */
  async waitForSegment(timeoutMs: number): Promise<boolean> {
    if (this.kept.length > 0) return true;
    if (this.closedValue) return false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.ready, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    return this.kept.length > 0;
  }

  /** A request for this station's HLS arrived: the lease runs `leaseMs` from now. */
  renew(): void {
    this.lastRequestMs = monoNowMs();
  }

  /** The media sequence number the next segment gets. */
  get nextMediaSequence(): number {
    return this.nextMsn;
  }

  /** Called by the pacer for every chunk it publishes, in order. No allocation except at a segment's end. */
  chunk(seq: number): void {
    if (this.closedValue) return;
    const ring = this.engine.ring;
    const mp3 = this.codec === 'mp3';
    // MP3: the chunk's frames; Opus: the default tier's wire payload (u16 length + packet, ...).
    const start = mp3 ? ring.mp3Region(seq) : ring.opusRegion(seq) + WS_PREFIX_BYTES + CHUNK_HEADER_BYTES;
    const len = mp3
      ? ring.mp3Length(seq)
      : Math.max(0, ring.opusFrameStart(seq) + ring.opusFrameLength(seq) - start);
    // The chunk header (play time, position); the Opus one also says when its encoder was rebuilt.
    const header = ring.pcmRegion(seq) + WS_PREFIX_BYTES;
    const flagsAt = (mp3 ? header : ring.opusRegion(seq) + WS_PREFIX_BYTES) + HEADER_OFFSET.flags;
    const flagged = (ring.bytes[flagsAt]! & FLAG_DISCONTINUITY) !== 0;
    if (seq !== this.lastSeq + 1 || flagged || len === 0) {
      if (this.curChunks > 0) this.finish();
      this.runBroken = true;
    }
    this.lastSeq = seq;
    if (len === 0) return;
    if (this.curChunks === 0) this.begin(seq, header);
    const bytes = ring.bytes;
    const work = this.work;
    if (mp3) {
      // A byte loop, not Buffer.copy or set(subarray(...)): those make a view object per call.
      for (let i = 0, to = this.curBytes; i < len; i++) work[to + i] = bytes[start + i]!;
      this.curBytes += len;
      // Count the whole frames (the encoder gives each chunk whole frames from a frame header on).
      for (let at = start, end = start + len; at < end;) {
        const n = mp3FrameLength(bytes, at, end);
        if (n === 0) break;
        this.curFrames++;
        at += n;
      }
    } else {
      // Each packet without its length prefix; its size goes to the fragment's sample table.
      for (let at = start, end = start + len; at + 2 <= end && this.curFrames < this.sizes.length;) {
        const n = bytes[at]! | (bytes[at + 1]! << 8);
        at += 2;
        if (n === 0 || at + n > end) break;
        for (let i = 0, to = this.curBytes; i < n; i++) work[to + i] = bytes[at + i]!;
        this.curBytes += n;
        this.sizes[this.curFrames++] = n;
        at += n;
      }
    }
    this.curChunks++;
    if ((seq + 1) % this.chunksPerSegment === 0) this.finish();
  }

  private begin(seq: number, header: number): void {
    if (this.runBroken) {
      // A new run: anchored at the chunk header's play time (Unix ms of its first sample).
      this.runAnchorMs = this.view.getFloat64(header + HEADER_OFFSET.playTimeMs, true);
      this.runAnchorTicks = Math.round((this.runAnchorMs - this.epoch) * 90);
      this.runAnchorSamples = this.view.getFloat64(header + HEADER_OFFSET.positionFrames, true);
      this.runFrames = 0;
      this.curDiscontinuity = this.kept.length > 0; // the first segment follows nothing
      this.runBroken = false;
    } else this.curDiscontinuity = false;
    this.curFirstSeq = seq;
    this.curTimestamp = this.runAnchorTicks + this.runFrames * this.frameTicks;
    this.curProgramDateMs = this.runAnchorMs + this.runFrames * this.frameMs;
    if (this.codec === 'opus') return; // no titles in fMP4 segments
    const now = this.now();
    this.curTitle = now.title;
    this.curJson = now.json;
  }

  /** Makes the segment from the frames gathered so far. */
  private finish(): void {
    const frames = this.curFrames;
    if (this.curDiscontinuity) this.discontinuities++;
    // Consecutive within a segmenter (a playlist numbers its segments by their index); the first one
    // at least the station's segment grid index, so a later segmenter's numbers rarely restart low.
    const msn = this.madeAny
      ? this.nextMsn
      : Math.max(this.nextMsn, Math.floor(this.curFirstSeq / this.chunksPerSegment));
    this.madeAny = true;
    this.nextMsn = msn + 1;
    // MP3: the ID3 tag (timestamp, title, now playing); Opus: moof + mdat header.
    const head =
      this.codec === 'mp3'
        ? id3Tag(this.curTimestamp, this.curTitle, this.curJson)
        : opusFragmentHeader(
            msn + 1,
            this.runAnchorSamples + this.runFrames * OPUS_PACKET_SAMPLES,
            this.sizes,
            frames,
            this.curBytes,
          );
    const bytes = Buffer.allocUnsafeSlow(head.length + this.curBytes);
    head.copy(bytes, 0);
    this.work.copy(bytes, head.length, 0, this.curBytes);
    const s: HlsSegment = {
      msn,
      firstSeq: this.curFirstSeq,
      uri: `${this.epoch}/${this.curFirstSeq}.${this.ext}`,
      durationS: (frames * this.frameMs) / 1000,
      programDateMs: this.curProgramDateMs,
      discontinuity: this.curDiscontinuity,
      discontinuitySeq: this.discontinuities,
      frames,
      timestamp90k: this.curTimestamp % 2 ** 33,
      title: this.curTitle,
      bytes,
    };
    this.runFrames += frames;
    this.curChunks = 0;
    this.curBytes = 0;
    this.curFrames = 0;
    this.kept.push(s);
    this.keptBytes += bytes.length;
    while (this.kept.length > KEPT_SEGMENTS) this.keptBytes -= this.kept.shift()!.bytes.length;
    this.playlistText = null;
    this.readyResolve?.();
    this.readyResolve = null;
    this.onSegment?.(s);
  }

  private armLease(ms: number): void {
    this.leaseTimer = setTimeout(this.checkLease, Math.max(1, ms));
    this.leaseTimer.unref();
  }

  private readonly checkLease = (): void => {
    this.leaseTimer = null;
    if (this.closedValue) return;
    const idle = monoNowMs() - this.lastRequestMs;
    if (idle >= this.leaseMs) this.onExpired();
    else this.armLease(this.leaseMs - idle);
  };

  /** Stops the lease timer, drops the segments and wakes waiting requests. Idempotent. */
  close(): void {
    if (this.closedValue) return;
    this.closedValue = true;
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    this.leaseTimer = null;
    this.kept.length = 0;
    this.keptBytes = 0;
    this.playlistText = null;
    this.readyResolve?.();
    this.readyResolve = null;
  }
}
