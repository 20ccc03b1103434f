import { CODEC_OPUS, CODEC_PCM_S16LE, writeFrameHeader } from '../../codec/frame-header.ts';
import { OpusChunkEncoder } from '../../codec/opus-encoder.ts';
import { encodePcm16 } from '../../codec/pcm16.ts';
import type { InlineEngine } from '../../engine/inline-engine.ts';
import { CHANNELS, SAMPLE_RATE } from '../../music/types.ts';
import type { Station } from '../station.ts';
import type { Listener } from './listener.ts';
import { announceDueNow, TRANSPORT_NAMES, type PacerObserver } from './pacer.ts';
import { monoNowMs } from '../../engine/clock.ts';

interface WsLike {
  ws: { send(data: Buffer): void; readyState: number };
}

/**
 * The `baseline` profile's broadcaster (see docs/performance/), kept only to measure the optimized path
 * against: when a chunk is due it is synthesized right here on the event loop, then encoded once
 * per listener (each listener has its own Opus encoder) into freshly allocated buffers and sent
 * through the WebSocket library. WebSocket only: HTTP streams need the optimized profile.
 */
export class BaselinePacer {
  private readonly stations = new Set<Station>();
  private readonly engine: InlineEngine;
  private readonly leadMs: number;
  private readonly observer: PacerObserver;
  private readonly encoders = new WeakMap<Listener, OpusChunkEncoder>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly sends = new Int32Array(TRANSPORT_NAMES.length);

  constructor(opts: { engine: InlineEngine; leadMs: number; observer: PacerObserver }) {
    this.engine = opts.engine;
    this.leadMs = opts.leadMs;
    this.observer = opts.observer;
  }

  add(st: Station): void {
    this.stations.add(st);
  }
  remove(st: Station): void {
    this.stations.delete(st);
  }
  start(): void {
    this.running = true;
    this.schedule();
  }
  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** No burst: the baseline keeps no rendered audio; a new listener starts at the next chunk. */
  burst(st: Station, l: Listener): void {
    l.nextSeq = st.nextSeq;
  }

  private schedule(): void {
    if (!this.running) return;
    let next = Infinity;
    for (const st of this.stations) next = Math.min(next, st.dueMs(st.nextSeq, this.leadMs));
    const wait = next === Infinity ? 50 : Math.max(0, Math.min(50, next - monoNowMs()));
    this.timer = setTimeout(this.tick, wait);
  }

  private readonly tick = (): void => {
    for (const st of this.stations) {
      while (st.dueMs(st.nextSeq, this.leadMs) <= monoNowMs()) {
        this.publish(st, st.nextSeq);
        st.nextSeq++;
      }
    }
    this.schedule();
  };

  private publish(st: Station, seq: number): void {
    const audio = this.engine.renderChunk(st.id, seq);
    if (!audio) return;
    const frames = st.engine.chunkFrames;
    const header = {
      version: 1,
      codec: CODEC_OPUS,
      channels: CHANNELS,
      flags: 0,
      sampleRate: SAMPLE_RATE,
      sequence: seq,
      frames,
      positionFrames: seq * frames,
      playTimeMs: st.engine.startMonoMs + st.engine.wallOffsetMs + seq * st.chunkMs,
    };
    this.sends.fill(0);
    for (const l of st.listeners) {
      if (l.closed || l.transport !== 'ws') continue;
      const ws = (l as unknown as WsLike).ws;
      if (ws.readyState !== 1) continue;
      let out: Buffer;
      if (l.codec === 'opus') {
        let enc = this.encoders.get(l);
        if (!enc) {
          enc = new OpusChunkEncoder();
          this.encoders.set(l, enc);
        }
        const payload = Buffer.alloc(OpusChunkEncoder.maxBytes(frames));
        const n = enc.encode(audio.left, audio.right, frames, payload, 0);
        out = Buffer.alloc(32 + n);
        header.codec = CODEC_OPUS;
        writeFrameHeader(out, 0, header);
        payload.copy(out, 32, 0, n);
      } else {
        out = Buffer.alloc(32 + frames * 4);
        header.codec = CODEC_PCM_S16LE;
        writeFrameHeader(out, 0, header);
        encodePcm16(audio.left, audio.right, frames, out, 32);
      }
      ws.send(out);
      l.nextSeq = seq + 1;
      this.sends[0]!++;
    }
    this.observer.chunkPublished(st, seq, (monoNowMs() - st.dueMs(seq, this.leadMs)) / 1000, this.sends);
    const position = (seq + 1) * frames;
    announceDueNow(st, position, this.observer);
  }
}
