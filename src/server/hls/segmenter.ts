import { FLAG_DISCONTINUITY, HEADER_OFFSET } from '../../codec/frame-header.ts';
import { MP3_FRAME_SAMPLES, MP3_SAMPLE_RATE, mp3FrameLength } from '../../codec/mp3-encoder.ts';
import { monoNowMs } from '../../engine/clock.ts';
import type { EngineStation } from '../../engine/engine-host.ts';
import { WS_PREFIX_BYTES } from '../../engine/ring.ts';
import { id3Tag, MAX_ID3_BYTES } from './id3.ts';
import { mediaPlaylist, targetDurationFor, type PlaylistSegment } from './playlist.ts';

/** MP3 frame length (ms) and in 90 kHz ticks (1152 samples at 48 kHz: 24 ms, 2160 ticks). */
const FRAME_MS = (MP3_FRAME_SAMPLES * 1000) / MP3_SAMPLE_RATE;
const FRAME_TICKS = (MP3_FRAME_SAMPLES * 90_000) / MP3_SAMPLE_RATE;
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
  private readonly kept: HlsSegment[] = [];
  private keptBytes = 0;
  private playlistText: string | null = null;
  private nextMsn: number;
  private discontinuities = 0;
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
  private runFrames = 0;
  private lastRequestMs = monoNowMs();
  private leaseTimer: NodeJS.Timeout | null = null;
  private readyResolve: (() => void) | null = null;
  private readonly ready: Promise<void>;
  private closedValue = false;

  constructor(opts: SegmenterOptions) {
    const e = opts.engine;
    this.engine = e;
    this.now = opts.now;
    this.onSegment = opts.onSegment;
    this.onExpired = opts.onExpired;
    this.nextMsn = opts.minMsn;
    this.chunksPerSegment = chunksPerSegment(e.chunkMs);
    this.epoch = Math.round(e.startMonoMs + e.wallOffsetMs);
    const ring = e.ring;
    this.view = new DataView(ring.sab);
    this.work = Buffer.alloc(this.chunksPerSegment * ring.layout.mp3RegionBytes);
    this.maxSegmentBytes = MAX_ID3_BYTES + this.work.length;
    // At most the chunks' samples plus one frame that LAME completes early, plus one more of slack.
    const maxFrames = Math.ceil((this.chunksPerSegment * e.chunkFrames) / MP3_FRAME_SAMPLES) + 1;
    this.targetDurationS = targetDurationFor((maxFrames * FRAME_MS) / 1000);
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

  /** The media playlist (built once per new segment), or null before the first segment. */
  playlist(): string | null {
    if (this.playlistText === null && this.kept.length > 0) {
      this.playlistText = mediaPlaylist(this.kept.slice(-PLAYLIST_SEGMENTS), this.targetDurationS);
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
    const len = ring.mp3Length(seq);
    const header = ring.pcmRegion(seq) + WS_PREFIX_BYTES;
    const flagged = (ring.bytes[header + HEADER_OFFSET.flags]! & FLAG_DISCONTINUITY) !== 0;
    if (seq !== this.lastSeq + 1 || flagged || len === 0) {
      if (this.curChunks > 0) this.finish();
      this.runBroken = true;
    }
    this.lastSeq = seq;
    if (len === 0) return;
    if (this.curChunks === 0) this.begin(seq, header);
    const start = ring.mp3Region(seq);
    const bytes = ring.bytes;
    // A byte loop, not Buffer.copy or set(subarray(...)): those make a view object per call.
    const work = this.work;
    for (let i = 0, to = this.curBytes; i < len; i++) work[to + i] = bytes[start + i]!;
    this.curBytes += len;
    // Count the whole frames (the encoder gives each chunk whole frames from a frame header on).
    for (let at = start, end = start + len; at < end;) {
      const n = mp3FrameLength(bytes, at, end);
      if (n === 0) break;
      this.curFrames++;
      at += n;
    }
    this.curChunks++;
    if ((seq + 1) % this.chunksPerSegment === 0) this.finish();
  }

  private begin(seq: number, header: number): void {
    if (this.runBroken) {
      // A new run: anchored at the chunk header's play time (Unix ms of its first sample).
      this.runAnchorMs = this.view.getFloat64(header + HEADER_OFFSET.playTimeMs, true);
      this.runAnchorTicks = Math.round((this.runAnchorMs - this.epoch) * 90);
      this.runFrames = 0;
      this.curDiscontinuity = this.kept.length > 0; // the first segment follows nothing
      this.runBroken = false;
    } else this.curDiscontinuity = false;
    this.curFirstSeq = seq;
    this.curTimestamp = this.runAnchorTicks + this.runFrames * FRAME_TICKS;
    this.curProgramDateMs = this.runAnchorMs + this.runFrames * FRAME_MS;
    const now = this.now();
    this.curTitle = now.title;
    this.curJson = now.json;
  }

  /** Makes the segment from the frames gathered so far. */
  private finish(): void {
    const frames = this.curFrames;
    const id3 = id3Tag(this.curTimestamp, this.curTitle, this.curJson);
    const bytes = Buffer.allocUnsafeSlow(id3.length + this.curBytes);
    id3.copy(bytes, 0);
    this.work.copy(bytes, id3.length, 0, this.curBytes);
    if (this.curDiscontinuity) this.discontinuities++;
    const msn = Math.max(this.nextMsn, Math.floor(this.curFirstSeq / this.chunksPerSegment));
    this.nextMsn = msn + 1;
    const s: HlsSegment = {
      msn,
      firstSeq: this.curFirstSeq,
      uri: `${this.epoch}/${this.curFirstSeq}.mp3`,
      durationS: (frames * FRAME_MS) / 1000,
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
