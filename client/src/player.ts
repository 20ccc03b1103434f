import { NoteTimeline, type NotesMessage, type ScoreClock, type ScoreNote } from './score/notes.ts';
import { ArrivalStats } from './audio/arrival-stats.ts';
import { AudioOutput, STREAM_SAMPLE_RATE, workletPlaybackAvailable } from './audio/audio-output.ts';
import { ChunkDecoder, type PositionedFrames } from './audio/chunk-decoder.ts';
import { chooseCodec, type WireCodec } from './audio/codec-choice.ts';
import { opusDecodingSupported } from './audio/opus-decoder.ts';
import { PlayoutState, type PlayoutStats } from './audio/playout-buffer.ts';
import { StreamPlayer } from './audio/stream-player.ts';
import type { StreamKind } from './audio/stream-choice.ts';
import { AbrController, type AbrMode, type ChunkObservation } from './net/abr.ts';
import { Connection, type ConnectionState } from './net/connection.ts';
import { LagWatchdog } from './net/lag-watchdog.ts';
import { webSocketUrl, type Listening } from './net/ws-url.ts';
import { parseChunk } from './protocol/chunk-header.ts';
import {
  parseNowEvent,
  type ErrorMessage,
  type SleepMessage,
  type NowMessage,
  type ParamsMessage,
  type ParamsPatch,
  type WelcomeMessage,
} from './protocol/messages.ts';

/**
 * The player: connection, decoding, playout and the `<audio>` fallback behind one object.
 * The UI (main.ts) only calls play/pause/select/set and renders what the events report.
 */
export const FADE_IN_MS = 1200;
export const FADE_OUT_MS = 450;
export const STATS_POLL_MS = 100;
export const STATS_REPORT_MS = 2000;
export const PING_INTERVAL_MS = 5000;
/** Decoded audio held while the worklet is still loading (first play): at most ~2 s. */
export const MAX_PENDING_AUDIO = 100;

export type PlayerState = 'stopped' | 'connecting' | 'buffering' | 'playing' | 'reconnecting' | 'error';
export type PlaybackPath = 'worklet' | 'stream';

export interface PlayerStats {
  state: PlayerState;
  bufferedMs: number;
  targetMs: number;
  underruns: number;
  playedFrames: number;
  rms: number;
  /** The wire codec, or the `<audio>` fallback's stream (hls, ogg or mp3). */
  codec: WireCodec | StreamKind;
  rttMs: number | null;
  path: PlaybackPath;
  splices: number;
  ratio: number;
  /** Network jitter measured from chunk arrivals (p98 lateness), ms. */
  jitterMs: number;
  /**
   * Lag behind live, ms: how long after the server's clock plays a frame (the chunk header's play
   * time) the jitter buffer's read head plays it; null when unknown (not playing, stream path).
   * Uses the server clock estimated from ping/pong; excludes the device's own output latency.
   */
  lagMs: number | null;
  /** Connections that reached `welcome` since the page loaded (1 + reconnects, per play). */
  connections: number;
  /** Reconnects made to catch up with live after falling far behind (net/lag-watchdog.ts). */
  catchUps: number;
  /** The Opus tier this connection gets (kb/s; null for PCM, the stream path or an old server). */
  tierKbps: number | null;
  /** `auto` (net/abr.ts chooses) or `manual`; the tier asked for and not confirmed yet. */
  tierMode: AbrMode;
  tierPendingKbps: number | null;
  /** Tier changes Auto asked for: down (congestion, failed probes) and up (probes). */
  tierDowns: number;
  tierUps: number;
  /** Queueing delay of the latest chunk above its 10 s floor, ms; delivered bytes/s over 1 s. */
  queueDelayMs: number;
  throughputBytesPerS: number;
  detail: string;
}

export interface PlayerEvents {
  onState(state: PlayerState, detail: string): void;
  onWelcome(msg: WelcomeMessage): void;
  onParams(msg: ParamsMessage): void;
  onNow(msg: NowMessage): void;
  onServerError(msg: ErrorMessage): void;
  /** The bitrate tier changed (asked for, confirmed, or the tiers offered): render tierInfo(). */
  onTier?(): void;
  /** A `notes` message arrived (already in `player.score`); `ended`: the notes its releases cut short. */
  onNotes?(msg: NotesMessage, ended: ScoreNote[]): void;
  /** The personal session's sleep timer was set, or ended the session. */
  onSleep?(msg: SleepMessage): void;
}

/** The adaptive bitrate's state, for the page (PROTOCOL.md "Bitrate tiers"). */
export interface TierInfo {
  /** Tiers the server offers (kb/s, ascending); empty for PCM or a server without tiers. */
  tiers: readonly number[];
  /** The tier this connection gets now, and the one asked for and not yet confirmed. */
  kbps: number | null;
  pendingKbps: number | null;
  mode: AbrMode;
  /** The listener's fixed choice (mode `manual`), else null. */
  manualKbps: number | null;
}

const randomUnit = (): number => {
  const word = new Uint32Array(1);
  crypto.getRandomValues(word);
  return word[0] / 2 ** 32;
};

export class Player {
  private listening: Listening = { kind: 'station', station: 'default' };
  private readonly connection: Connection;
  private readonly arrivals = new ArrivalStats();
  private readonly decoder: ChunkDecoder;
  private readonly stream: StreamPlayer;
  private output: AudioOutput | null = null;
  private context: AudioContext | null = null;
  private outputPromise: Promise<AudioOutput> | null = null;
  private readonly pendingAudio: PositionedFrames[] = [];
  private codecPromise: Promise<WireCodec>;
  private codec: WireCodec = 'opus';
  private codecKnown = false;
  private playing = false;
  /** Bumped on every play/pause so that stale async continuations do nothing. */
  private generation = 0;
  private path: PlaybackPath;
  private handedOver = false;
  /** While the `<audio>` element plays (no WebSocket): the station's now-playing event stream. */
  private nowFeed: EventSource | null = null;
  private volume = 0.8;
  private resumeToken: string | null = null;
  private welcome: WelcomeMessage | null = null;
  private hadAudio = false;
  private lastPlayout: PlayoutStats | null = null;
  private rttMs: number | null = null;
  private jitterMs = 0;
  /** Unix ms (server clock) at which the station's position 0 plays, from the chunk headers. */
  private stationOriginMs: number | null = null;
  /** The notes of the live score received lately (`events=1`), for the visualizer and MIDI out. */
  readonly score = new NoteTimeline();
  /** Server clock − local Date.now(), from the latest pong (0 until one arrives). */
  private clockOffsetMs = 0;
  private lagMs: number | null = null;
  private welcomes = 0;
  private readonly lagWatchdog = new LagWatchdog();
  private readonly abr = new AbrController();
  /**
   * Attempts in a row that ended before a `welcome`. After two, the next URL leaves `bitrate` out:
   * a server restarted with other tiers refuses a tier it no longer has (INVALID_PARAM).
   */
  private attemptsWithoutWelcome = 0;
  private welcomedThisAttempt = false;
  /** Reused for every chunk (no allocation per chunk). */
  private readonly observation: ChunkObservation = {
    arrivalMs: 0,
    playTimeMs: 0,
    sequence: 0,
    bytes: 0,
    bufferedMs: 0,
    targetMs: 0,
    underruns: 0,
  };
  private stateValue: PlayerState = 'stopped';
  private controlToken: string | null = null;
  private detail = '';
  private timers: Array<ReturnType<typeof setInterval>> = [];

  constructor(
    audioElement: HTMLAudioElement,
    private readonly events: PlayerEvents,
    private readonly pageUrl: string = location.href,
  ) {
    this.stream = new StreamPlayer(audioElement);
    this.path = workletPlaybackAvailable() ? 'worklet' : 'stream';
    this.codecPromise = chooseCodec(new URL(pageUrl).search, opusDecodingSupported);
    void this.codecPromise.then((c) => {
      this.codec = c;
      this.codecKnown = true;
    });
    this.decoder = new ChunkDecoder((frames) => this.onFrames(frames));
    this.connection = new Connection(
      {
        url: () => this.socketUrl(),
        onState: (s) => this.onConnectionState(s),
        onMessage: (msg) => {
          switch (msg.type) {
            case 'welcome':
              return this.onWelcome(msg);
            case 'params':
              // A personal session's owner gets a token that carries the change: resume with it.
              if (msg.resumeToken) this.resumeToken = msg.resumeToken;
              return this.events.onParams(msg);
            case 'now':
              return this.events.onNow(msg);
            case 'pong':
              this.onPong(msg.t, msg.serverTime);
              return;
            case 'notes':
              this.events.onNotes?.(msg, this.score.add(msg));
              return;
            case 'bitrate':
              this.abr.onSwitched(msg.kbps, performance.now());
              this.events.onTier?.();
              return;
            case 'error':
              return this.events.onServerError(msg);
            case 'sleep':
              return this.events.onSleep?.(msg);
          }
        },
        onChunk: (data, arrivalMs) => this.onChunk(data, arrivalMs),
      },
      randomUnit,
    );
  }

  // ---- what to play -------------------------------------------------------------------------

  get playbackPath(): PlaybackPath {
    return this.path;
  }

  get workletAvailable(): boolean {
    return workletPlaybackAvailable();
  }

  /**
   * Chooses the low-latency worklet or the `<audio>` stream (background-friendly on phones).
   * Call from the user's gesture (a select's change): switching while playing restarts playback.
   */
  async setPath(path: PlaybackPath): Promise<void> {
    const next = path === 'worklet' && !workletPlaybackAvailable() ? 'stream' : path;
    if (next === this.path) return;
    const wasPlaying = this.playing;
    if (wasPlaying) await this.pause(200);
    this.path = next;
    this.handedOver = false;
    if (wasPlaying) await this.play();
  }

  get isPlaying(): boolean {
    return this.playing;
  }

  get currentListening(): Listening {
    return this.listening;
  }

  /** Switches source; reconnects at once if playing. A personal session starts fresh. */
  setListening(listening: Listening): void {
    this.listening = listening;
    this.resumeToken = listening.kind === 'personal' ? (listening.resumeToken ?? null) : null;
    if (!this.playing) return;
    if (this.path === 'stream') {
      this.followNow(false);
      if (listening.kind === 'station') {
        void this.stream.play(listening.station, FADE_IN_MS).catch(() => {});
        this.followNow(true);
      }
      return;
    }
    // The old source's buffered audio plays out and joins the new one with a splice fade.
    this.hadAudio = false;
    this.connection.restart();
  }

  /**
   * The control token of a protected station (`token=` on the WebSocket URL): used from the next
   * connection, and at once (a reconnect) while the socket is open.
   */
  setControlToken(token: string | null): void {
    if (token === this.controlToken) return;
    this.controlToken = token;
    if (this.playing && this.path === 'worklet' && !this.handedOver) this.connection.restart();
  }

  private socketUrl(): string {
    const listening: Listening =
      this.listening.kind === 'personal'
        ? { ...this.listening, resumeToken: this.resumeToken ?? undefined }
        : this.listening;
    // A new connection (a reconnect, a catch-up) keeps the tier this one had.
    const kbps = this.codec === 'opus' && this.attemptsWithoutWelcome < 2 ? this.abr.preferredKbps : null;
    return webSocketUrl(this.pageUrl, listening, this.codec, this.controlToken ?? undefined, kbps, true);
  }

  // ---- play / pause -------------------------------------------------------------------------

  /** Call from the click/tap handler: the AudioContext must be created inside the gesture. */
  async play(): Promise<void> {
    if (this.playing) return;
    this.playing = true;
    const generation = ++this.generation;
    this.setState('connecting', '');
    if (this.path === 'stream' || (this.listening.kind === 'station' && this.handedOver)) {
      await this.playStream(generation);
      return;
    }
    this.hadAudio = false;
    // Open the socket first when the codec is already known: its handshake then overlaps the
    // AudioContext's creation (~80 ms, synchronous) and the worklet's loading. The first
    // chunks wait in pendingAudio.
    if (this.codecKnown) this.connection.start();
    if (!this.outputPromise) {
      const created = AudioOutput.createInGesture();
      this.context = created.context;
      this.outputPromise = created.output;
    } else {
      // Inside the gesture, synchronously: a later resume() might not be allowed.
      void this.context?.resume();
    }
    this.codec = await this.codecPromise;
    if (generation !== this.generation) return;
    this.connection.start();
    this.startTimers();
    try {
      const output = await this.outputPromise;
      if (generation !== this.generation) return;
      this.output = output;
      output.setVolume(this.volume);
      output.post({ type: 'fade', gain: 0, ms: 0 });
      output.post({ type: 'fade', gain: 1, ms: FADE_IN_MS });
      for (const f of this.pendingAudio.splice(0)) {
        output.pushAudio(f.positionFrames, f.left, f.right, f.discontinuity);
      }
      await output.resume();
    } catch (err) {
      // No worklet after all (a browser quirk): the <audio> element still works for stations.
      this.outputPromise = null;
      this.connection.stop();
      this.path = 'stream';
      this.detail = `Web Audio unavailable (${String(err)}); using the stream`;
      await this.playStream(generation);
    }
  }

  private async playStream(generation: number): Promise<void> {
    if (this.listening.kind !== 'station') {
      this.playing = false;
      this.setState('error', 'Personal sessions need Web Audio; choose a station');
      return;
    }
    this.codec = 'opus';
    this.startTimers();
    try {
      this.stream.setVolume(this.volume);
      await this.stream.play(this.listening.station, FADE_IN_MS);
      if (generation === this.generation) {
        this.setState('playing', 'stream');
        this.followNow(true);
      }
    } catch (err) {
      if (generation !== this.generation) return;
      this.playing = false;
      // Autoplay refused (no gesture yet) is not an error: the page asks for a tap instead.
      if ((err as { name?: string }).name === 'NotAllowedError') this.setState('stopped', '');
      else this.setState('error', `Cannot play the stream: ${String(err)}`);
    }
  }

  /** Fades out and stops (socket closed, audio suspended). */
  async pause(fadeMs = FADE_OUT_MS): Promise<void> {
    if (!this.playing) return;
    this.playing = false;
    const generation = ++this.generation;
    this.stopTimers();
    this.followNow(false);
    this.setState('stopped', '');
    if (this.path === 'stream' || this.handedOver) await this.stream.stop(fadeMs);
    const output = this.output;
    if (output) {
      output.post({ type: 'fade', gain: 0, ms: fadeMs });
      await new Promise((resolve) => setTimeout(resolve, fadeMs + 50));
      if (generation !== this.generation) return;
      this.connection.stop();
      output.post({ type: 'clear' });
      this.pendingAudio.length = 0;
      this.lastPlayout = null;
      this.lagMs = null;
      this.lagWatchdog.reset();
      await output.suspend();
    } else {
      this.connection.stop();
    }
  }

  /** A long fade without stopping (the sleep timer's last seconds). */
  fadeOut(ms: number): void {
    this.output?.post({ type: 'fade', gain: 0, ms });
    if (this.path === 'stream' || this.handedOver) this.stream.fadeTo(0, ms);
  }

  setVolume(volume: number): void {
    this.volume = volume;
    this.output?.setVolume(volume);
    this.stream.setVolume(volume);
  }

  /** False while the browser holds sound back (autoplay policy) or nothing plays. */
  audioRunning(): boolean {
    if (this.path === 'stream' || this.handedOver) return !this.stream.element.paused;
    return this.context?.state === 'running';
  }

  /**
   * What ties station positions to this page's clock (see client/src/score/notes.ts), or null
   * before the first chunk. The lag behind live is the jitter buffer's, 0 until measured.
   */
  get scoreClock(): ScoreClock | null {
    if (this.stationOriginMs === null) return null;
    return {
      stationOriginMs: this.stationOriginMs,
      clockOffsetMs: this.clockOffsetMs,
      lagMs: this.lagMs ?? 0,
      sampleRate: STREAM_SAMPLE_RATE,
    };
  }

  get analyser(): AnalyserNode | null {
    return this.output?.analyser ?? null;
  }

  // ---- background listening on phones -------------------------------------------------------

  /**
   * The page went to the background (or came back) on a phone: hand the station over to the
   * `<audio>` element, which browsers keep playing on a locked screen, and back again.
   */
  async setBackground(hidden: boolean): Promise<void> {
    if (!this.playing || this.path !== 'worklet' || this.listening.kind !== 'station') return;
    if (hidden && !this.handedOver) {
      try {
        this.stream.setVolume(this.volume);
        await this.stream.play(this.listening.station, 1500);
      } catch {
        return; // Not allowed here: the worklet keeps playing as long as the browser lets it.
      }
      this.handedOver = true;
      this.followNow(true);
      this.output?.post({ type: 'fade', gain: 0, ms: 1500 });
      setTimeout(() => {
        if (!this.handedOver) return;
        this.connection.stop();
        // Silent by now: drop the rest so that running dry is not counted as an underrun.
        this.output?.post({ type: 'clear' });
      }, 1600);
    } else if (!hidden && this.handedOver) {
      this.handedOver = false;
      this.followNow(false);
      await this.output?.resume();
      this.output?.post({ type: 'fade', gain: 1, ms: FADE_IN_MS });
      this.connection.start();
      void this.stream.stop(FADE_IN_MS);
    }
  }

  /**
   * Without the WebSocket (the `<audio>` element plays) the `now` messages come from the station's
   * now-playing event stream instead, so the page and the Media Session metadata stay current.
   */
  private followNow(on: boolean): void {
    if (!on || this.listening.kind !== 'station' || typeof EventSource !== 'function') {
      this.nowFeed?.close();
      this.nowFeed = null;
      return;
    }
    if (this.nowFeed) return;
    const url = new URL(`/api/stations/${encodeURIComponent(this.listening.station)}/now`, this.pageUrl);
    const feed = new EventSource(url);
    feed.addEventListener('now', (e) => {
      const msg = parseNowEvent(String((e as MessageEvent).data));
      if (msg && this.nowFeed === feed) this.events.onNow(msg);
    });
    this.nowFeed = feed;
  }

  // ---- control ------------------------------------------------------------------------------

  sendSet(params: ParamsPatch): boolean {
    return this.connection.send({ type: 'set', params });
  }

  sendPreset(name: string): boolean {
    return this.connection.send({ type: 'preset', name });
  }

  /** Asks the server for a personal session's sleep timer (false when not connected). */
  sendSleep(minutes: number): boolean {
    return this.connection.send({ type: 'sleep', minutes });
  }

  get welcomeMessage(): WelcomeMessage | null {
    return this.welcome;
  }

  // ---- bitrate tier -------------------------------------------------------------------------

  /** The listener's choice: a tier in kb/s, or null for Auto (net/abr.ts decides). */
  setTier(kbps: number | null): void {
    const ask = this.abr.setManual(kbps, performance.now());
    if (ask !== null) this.connection.send({ type: 'bitrate', kbps: ask });
    this.events.onTier?.();
  }

  tierInfo(): TierInfo {
    const streaming = this.path === 'stream' || this.handedOver;
    return {
      tiers: streaming ? [] : this.abr.tiers,
      kbps: streaming ? null : this.abr.currentKbps,
      pendingKbps: streaming ? null : this.abr.pendingKbps,
      mode: this.abr.mode,
      manualKbps: this.abr.manualKbps,
    };
  }

  // ---- incoming -----------------------------------------------------------------------------

  private onPong(sentMs: number, serverTime: number | undefined): void {
    const rttMs = Math.max(0, performance.now() - sentMs);
    this.rttMs = rttMs;
    if (typeof serverTime === 'number' && Number.isFinite(serverTime)) {
      this.clockOffsetMs = serverTime - (Date.now() - rttMs / 2);
    }
  }

  private onWelcome(msg: WelcomeMessage): void {
    this.welcome = msg;
    this.welcomes++;
    this.welcomedThisAttempt = true;
    this.attemptsWithoutWelcome = 0;
    this.stationOriginMs = null;
    // Until the old connection's audio has played out (≤ the target, under HOLD_MS), the lag of
    // another station's positions means nothing.
    this.lagWatchdog.reset();
    if (msg.personal && msg.resumeToken) this.resumeToken = msg.resumeToken;
    this.arrivals.reset(performance.now());
    // A server without tiers leaves both out: one stream, nothing to adapt.
    this.abr.onWelcome(msg.tiers ?? [], msg.bitrate ?? null, performance.now());
    this.events.onTier?.();
    this.decoder.reset();
    this.score.clear();
    this.output?.post({ type: 'newStream', chunkMs: msg.chunkMs || 100 });
    this.pendingAudio.length = 0;
    this.events.onWelcome(msg);
    this.ping();
    this.refreshState();
  }

  private onChunk(data: ArrayBuffer, arrivalMs: number): void {
    const parsed = parseChunk(data);
    if (!parsed.ok) return;
    const { header, payload } = parsed;
    this.stationOriginMs = header.serverPlayTimeMs - (header.positionFrames / header.sampleRate) * 1000;
    const jitterMs = this.arrivals.add(arrivalMs, header.positionFrames, header.sampleRate);
    this.jitterMs = jitterMs;
    this.output?.post({ type: 'jitter', jitterMs, maxLatenessMs: this.arrivals.maxLatenessMs });
    this.decoder.decode(header, payload);
    const o = this.observation;
    const p = this.lastPlayout;
    o.arrivalMs = arrivalMs;
    o.playTimeMs = header.serverPlayTimeMs;
    o.sequence = header.sequence;
    o.bytes = data.byteLength;
    o.bufferedMs = p?.bufferedMs ?? 0;
    o.targetMs = p?.targetMs ?? 0;
    o.underruns = p?.underruns ?? 0;
    const ask = this.abr.onChunk(o);
    if (ask !== null) {
      this.connection.send({ type: 'bitrate', kbps: ask });
      this.events.onTier?.();
    }
  }

  private onFrames(f: PositionedFrames): void {
    if (!this.playing) return;
    if (this.output) {
      this.output.pushAudio(f.positionFrames, f.left, f.right, f.discontinuity);
    } else if (this.pendingAudio.length < MAX_PENDING_AUDIO) {
      this.pendingAudio.push(f);
    }
  }

  private onConnectionState(s: ConnectionState): void {
    if (s.kind === 'connecting') this.welcomedThisAttempt = false;
    if (s.kind === 'waiting' && !this.welcomedThisAttempt) this.attemptsWithoutWelcome++;
    if (s.kind === 'waiting' || s.kind === 'failed') this.welcome = null;
    this.refreshState();
  }

  // ---- figures ------------------------------------------------------------------------------

  private startTimers(): void {
    this.stopTimers();
    this.timers.push(setInterval(() => void this.poll(), STATS_POLL_MS));
    this.timers.push(setInterval(() => this.reportStats(), STATS_REPORT_MS));
    this.timers.push(setInterval(() => this.ping(), PING_INTERVAL_MS));
  }

  private stopTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private async poll(): Promise<void> {
    if (this.output && this.path === 'worklet' && !this.handedOver) {
      const stats = await this.output.stats();
      if (stats) {
        this.lastPlayout = stats;
        if (stats.state !== PlayoutState.Buffering) this.hadAudio = true;
        const origin = this.stationOriginMs;
        this.lagMs =
          origin !== null && Number.isFinite(stats.positionFrames)
            ? Date.now() + this.clockOffsetMs - (origin + (stats.positionFrames / STREAM_SAMPLE_RATE) * 1000)
            : null;
        if (this.lagWatchdog.update(performance.now(), this.lagMs, stats.targetMs) && this.playing) {
          // What is buffered plays out; the new connection starts at live and joins with a splice.
          this.connection.restart();
        }
      }
    }
    this.refreshState();
  }

  private ping(): void {
    this.connection.send({ type: 'ping', t: performance.now() });
  }

  private reportStats(): void {
    const s = this.stats();
    this.connection.send({
      type: 'stats',
      bufferedMs: Math.round(s.bufferedMs),
      underruns: s.underruns,
      playedFrames: s.playedFrames,
    });
  }

  private refreshState(): void {
    if (!this.playing) return this.setState('stopped', '');
    if (this.path === 'stream' || this.handedOver) {
      const el = this.stream.element;
      return this.setState(!el.paused && el.readyState >= 3 ? 'playing' : 'buffering', 'stream');
    }
    const c = this.connection.state;
    switch (c.kind) {
      case 'failed':
        return this.setState('error', c.reason);
      case 'waiting':
        return this.setState('reconnecting', `${c.reason}; retrying in ${(c.retryInMs / 1000).toFixed(1)} s`);
      case 'connecting':
        return this.setState(this.hadAudio ? 'reconnecting' : 'connecting', '');
      case 'idle':
        return this.setState('connecting', '');
      case 'open': {
        const st = this.lastPlayout?.state;
        const audible = st === PlayoutState.Playing || st === PlayoutState.Skipping;
        return this.setState(audible && this.welcome ? 'playing' : 'buffering', '');
      }
    }
  }

  private setState(state: PlayerState, detail: string): void {
    if (state === this.stateValue && detail === this.detail) return;
    this.stateValue = state;
    this.detail = detail;
    this.events.onState(state, detail);
  }

  stats(): PlayerStats {
    const p = this.lastPlayout;
    const streaming = this.path === 'stream' || this.handedOver;
    return {
      state: this.stateValue,
      bufferedMs: streaming ? this.stream.bufferedMs() : (p?.bufferedMs ?? 0),
      targetMs: streaming ? 0 : (p?.targetMs ?? 0),
      underruns: streaming ? this.stream.stalls : (p?.underruns ?? 0),
      playedFrames: streaming ? Math.round(this.stream.playedSeconds() * 48_000) : (p?.playedFrames ?? 0),
      rms: streaming ? 0 : (p?.rms ?? 0),
      codec: streaming ? this.stream.kind : this.codec,
      rttMs: this.rttMs,
      path: streaming ? 'stream' : 'worklet',
      splices: p?.splices ?? 0,
      ratio: p?.ratio ?? 1,
      jitterMs: this.jitterMs,
      lagMs: streaming ? null : this.lagMs,
      connections: this.welcomes,
      catchUps: this.lagWatchdog.catchUps,
      tierKbps: streaming ? null : this.abr.currentKbps,
      tierMode: this.abr.mode,
      tierPendingKbps: streaming ? null : this.abr.pendingKbps,
      tierDowns: this.abr.counts.down,
      tierUps: this.abr.counts.up,
      queueDelayMs: this.abr.queueingDelayMs,
      throughputBytesPerS: this.abr.throughputBytesPerS,
      detail: this.detail,
    };
  }
}
