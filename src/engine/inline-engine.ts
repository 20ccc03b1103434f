import { EventEmitter } from 'node:events';
import { OggOpusMuxer } from '../codec/ogg.ts';
import { applyPatch, type ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import { SAMPLE_RATE } from '../music/types.ts';
import type { Engine } from './engine.ts';
import { EngineError, type ChangeResult, type EngineOptions, type EngineStation } from './engine-host.ts';
import type { StationStats } from './messages.ts';
import { ChunkRing } from './ring.ts';
import { StationRenderer } from './station-renderer.ts';
import { soundFontLoader } from '../dsp/soundfont.ts';
import { monoNowMs, wallOffsetMs } from './clock.ts';

/** The Opus encoder's lookahead at 48 kHz (pre-skip): the same value the worker reports. */
const PRE_SKIP_FRAMES = 312;
const STATS_INTERVAL_MS = 1000;

interface InlineStation {
  engine: EngineStation;
  renderer: StationRenderer;
  synthSeconds: number[];
  lastChord: string;
}

/**
 * The `baseline` profile's engine (see docs/performance/): no worker, no render-ahead. The broadcaster asks
 * for each chunk on the main event loop when it is due, and every chunk gets freshly allocated
 * buffers. It exists to be measured against the optimized engine; it is not the default.
 */
export class InlineEngine extends EventEmitter implements Engine {
  readonly restarts = 0;
  private readonly options: EngineOptions;
  private readonly stations = new Map<string, InlineStation>();
  private statsTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(options: EngineOptions) {
    super();
    this.options = options;
  }

  async start(): Promise<void> {
    this.statsTimer = setInterval(() => {
      const stats: StationStats[] = [];
      for (const s of this.stations.values()) {
        stats.push({
          id: s.engine.id,
          synthSeconds: s.synthSeconds.splice(0),
          encodeOpusSeconds: [],
          encodePcmSeconds: [],
          encodeMp3Seconds: [],
          mp3: false,
          opusTiers: 1,
          live: true,
          wakeSeconds: -1,
          bufferedMs: 0,
          ringWaits: 0,
          ringWaitSeconds: 0,
        });
      }
      this.emit('stats', stats, 0);
    }, STATS_INTERVAL_MS);
    this.statsTimer.unref();
  }

  async addStation(id: string, seed: number, params: MusicParams): Promise<EngineStation> {
    if (this.closed) throw new EngineError('closed', 'the engine is closed');
    const { chunkFrames, leadMs } = this.options;
    const muxer = new OggOpusMuxer({
      serial: 1,
      preSkipFrames: PRE_SKIP_FRAMES,
      sampleRate: SAMPLE_RATE,
      channels: 2,
      vendor: 'auralis',
      title: id,
    });
    const engine: EngineStation = {
      id,
      seed,
      // A two-slot ring only tracks the published count (readiness); the baseline sends no ring bytes.
      ring: ChunkRing.create(2, chunkFrames),
      startMonoMs: monoNowMs() + leadMs + 20,
      wallOffsetMs: wallOffsetMs(),
      chunkFrames,
      chunkMs: (chunkFrames * 1000) / SAMPLE_RATE,
      oggHeader: muxer.headerPages(),
      preSkipFrames: PRE_SKIP_FRAMES,
      opusBackend: 'per-listener',
      params: { ...params },
      workerIndex: 0,
      bufferedMs: 0,
      wish: { mp3: false, tiers: 0 },
      mp3Encoding: false,
      opusTiersEncoding: 1,
    };
    this.stations.set(id, {
      engine,
      renderer: new StationRenderer({ seed, params, soundfont: soundFontLoader(this.options.soundfont) }),
      synthSeconds: [],
      lastChord: '',
    });
    return engine;
  }

  /** The baseline profile refuses HTTP streams (MP3 included): there is never MP3 to encode. */
  setMp3(_id: string, _on: boolean): void {}

  /** The baseline profile encodes one Opus stream per listener, at the default bitrate only. */
  setOpusTiers(_id: string, _mask: number): void {}
  /** Renders only the chunks it sends (on the main loop, when due): there is nothing to stop. */
  setLive(_id: string, _live: boolean): void {}

  removeStation(id: string): void {
    this.stations.delete(id);
  }

  async change(id: string, patch: ParamsPatch): Promise<ChangeResult> {
    const s = this.stations.get(id);
    if (!s) throw new EngineError('unknown-station', `unknown station ${id}`);
    const params = applyPatch(s.engine.params, patch);
    const effectiveAt = s.renderer.change(params);
    s.engine.params = params;
    return { effectiveAt, params };
  }

  station(id: string): EngineStation | undefined {
    return this.stations.get(id)?.engine;
  }

  /**
   * Renders chunk `seq` now, on the calling (main) thread, into new arrays — the naive way.
   * Returns null for an unknown station.
   */
  renderChunk(id: string, seq: number): { left: Float32Array; right: Float32Array } | null {
    const s = this.stations.get(id);
    if (!s) return null;
    const frames = s.engine.chunkFrames;
    const left = new Float32Array(frames);
    const right = new Float32Array(frames);
    const t0 = performance.now();
    s.renderer.render(left, right, frames);
    if (s.synthSeconds.length < 256) s.synthSeconds.push((performance.now() - t0) / 1000);
    s.engine.ring.resetPublished(seq + 1);
    const now = s.renderer.now();
    if (now.chord !== s.lastChord) {
      s.lastChord = now.chord;
      this.emit('now', { id, position: seq * frames, ...now, next: s.renderer.nextChange() });
    }
    return { left, right };
  }

  crashWorker(): void {
    // No worker in the baseline profile.
  }

  injectFault(): boolean {
    return false;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
    this.stations.clear();
  }
}
