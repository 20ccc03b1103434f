import { monoNowMs } from '../engine/clock.ts';
import type { EngineStation, NowEvent } from '../engine/engine-host.ts';
import type { ParamsChange } from '../engine/messages.ts';
import type { MusicParams } from '../music/types.ts';
import { icyMetadataBlock } from './broadcast/icy.ts';
import { ListenerSet } from './broadcast/listener.ts';
import { nowPlaying, streamTitle } from './now-playing.ts';

/** Bounded queue of `now` events waiting for their position to be due. */
const MAX_PENDING_NOW = 16;

export interface WsPeer {
  send(text: string): void;
  readonly personalOwner: boolean;
}

/** The main thread's view of one station: its engine handle, its listeners and its cursor. */
export class Station {
  readonly id: string;
  readonly personal: boolean;
  readonly seed: number;
  readonly engine: EngineStation;
  private paramsValue: MusicParams;
  /** Next chunk the pacer will publish to listeners. */
  nextSeq = 0;
  /** Its stream listeners, in arrival order (the pacer walks them in that order). */
  readonly listeners = new ListenerSet();
  /** WebSocket peers (for JSON messages: params, now). */
  readonly peers = new Set<WsPeer>();
  readonly createdAtMs = monoNowMs();
  /**
   * Personal sessions: what their resume token carries besides the clock (the parameters they
   * started with and their changes since: session-token.ts), a fresh token on demand (set by the
   * registry), and their grace timer.
   */
  initialParams: MusicParams | null = null;
  history: ParamsChange[] = [];
  issueResumeToken: (() => string) | null = null;
  ownerConnected = false;
  graceTimer: NodeJS.Timeout | null = null;
  private readonly pendingNow: NowEvent[] = [];
  private lastNowValue: NowEvent | null = null;
  /**
   * Whether the engine renders this station. False: idle (no consumer for `idleAfterMs`): no
   * synthesis, no encoding, the pacer skips it; the registry wakes it when a consumer arrives
   * (docs/ARCHITECTURE.md, "Lazy stations").
   */
  live = true;
  /** Monotonic ms at which its last consumer left while live (the registry's idle check); -1: none. */
  idleSinceMs = -1;
  /** HLS renditions whose segmenter is leased (each keeps the station live, see src/server/hls/). */
  hlsLeases = 0;
  /** Listeners of the MP3 stream: the engine encodes MP3 for this station while it is above 0. */
  mp3Listeners = 0;
  /**
   * Per Opus tier (index): the listeners that get it or asked for it (broadcast/tiers.ts). The
   * engine encodes a tier other than the default while its count is above 0.
   */
  readonly tierHolds: Int32Array;
  /** The pacer's views of the chunk being published, per tier (made for the tiers in use only). */
  readonly tierFrames: (Buffer | null)[];
  readonly tierPages: (Buffer | null)[];
  /** The station's HLS segmenter while HLS requests keep coming (src/server/hls/): the pacer hands it each chunk. */
  hls: { chunk(seq: number): void } | null = null;
  /** The ICY metadata block of the current title (broadcast/icy.ts), built on first use after a change. */
  private icy: Buffer | null = null;

  constructor(opts: {
    id: string;
    personal: boolean;
    seed: number;
    params: MusicParams;
    engine: EngineStation;
  }) {
    this.id = opts.id;
    this.personal = opts.personal;
    this.seed = opts.seed;
    this.paramsValue = opts.params;
    this.engine = opts.engine;
    const tiers = opts.engine.ring.layout.tiers.length;
    this.tierHolds = new Int32Array(tiers);
    this.tierFrames = new Array<Buffer | null>(tiers).fill(null);
    this.tierPages = new Array<Buffer | null>(tiers).fill(null);
  }

  get params(): MusicParams {
    return this.paramsValue;
  }
  set params(p: MusicParams) {
    this.paramsValue = p;
    this.icy = null;
  }

  /** The last `now` event the published audio reached (the sounding chord), or null before the first. */
  get lastNow(): NowEvent | null {
    return this.lastNowValue;
  }

  /**
   * The ICY metadata block of `streamTitle(nowPlaying(this))` (the station, its preset, key and
   * mode and the sounding chord): built once per change of any of them and shared by every MP3
   * listener (the same Buffer until the title changes, so listeners can tell a change by reference).
   */
  icyBlock(): Buffer {
    this.icy ??= icyMetadataBlock(streamTitle(nowPlaying(this)));
    return this.icy;
  }

  /**
   * What keeps the station live: its stream listeners (WebSocket, Ogg, WAV, MP3), its HLS leases and,
   * for a personal session, its owner's connection. Now-playing event streams do not count.
   */
  get consumers(): number {
    return this.listeners.size + this.hlsLeases + (this.personal && this.ownerConnected ? 1 : 0);
  }

  /**
   * Gone idle: nothing is published any more to announce the `now` events rendered ahead, so the
   * newest is taken as sounding now (it does within the render-ahead); idle ones follow. True
   * when that changed what sounds.
   */
  wentIdle(): boolean {
    const last = this.pendingNow[this.pendingNow.length - 1];
    if (last) this.idleNow(last);
    return last !== undefined;
  }

  /** Idle: what sounds is announced at once (nothing is published to wait for). */
  idleNow(e: NowEvent): void {
    this.pendingNow.length = 0;
    this.lastNowValue = e;
    this.icy = null;
  }

  get chunkMs(): number {
    return this.engine.chunkMs;
  }

  /** Monotonic ms (src/engine/clock.ts) at which chunk `seq` is due to be sent (play time minus lead). */
  dueMs(seq: number, leadMs: number): number {
    return this.engine.startMonoMs + seq * this.engine.chunkMs - leadMs;
  }

  /**
   * Position (frames) of the next chunk to be published; while idle, of the chunk that would be
   * playing now (the clock goes on).
   */
  get positionFrames(): number {
    const e = this.engine;
    if (this.live) return this.nextSeq * e.chunkFrames;
    return Math.max(0, Math.floor((monoNowMs() - e.startMonoMs) / e.chunkMs)) * e.chunkFrames;
  }

  /** How far the rendered audio reaches past now, in ms (negative: the engine is behind); 0 while idle. */
  bufferedMs(nowMs: number, leadMs: number): number {
    if (!this.live) return 0;
    return this.dueMs(this.engine.ring.published(), leadMs) - nowMs;
  }

  queueNow(e: NowEvent): void {
    if (this.pendingNow.length >= MAX_PENDING_NOW) this.pendingNow.shift();
    this.pendingNow.push(e);
  }

  /** The first `now` event rendered but not yet announced (the next change, certain), or null. */
  upcomingNow(): NowEvent | null {
    return this.pendingNow[0] ?? null;
  }

  /** Returns the next `now` event whose position has been reached, or null. */
  takeDueNow(positionFrames: number): NowEvent | null {
    const first = this.pendingNow[0];
    if (first && first.position <= positionFrames) {
      this.pendingNow.shift();
      this.lastNowValue = first;
      this.icy = null;
      return first;
    }
    return null;
  }
}
