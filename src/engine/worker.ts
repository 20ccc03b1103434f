/**
 * Engine worker entry: hosts stations and renders each ahead of real time into its shared ring.
 * The main thread never runs DSP (ARCHITECTURE.md); this thread never touches sockets.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { soundFontFailure, soundFontLoader } from '../dsp/soundfont.ts';
import { monoNowMs } from './clock.ts';
import { findPreset } from '../music/presets.ts';
import type { EngineWorkerData, FromWorker, SoundFontReady, ToWorker } from './messages.ts';
import { OpusEncoderPool } from './encoder-pool.ts';
import { warmUp } from './warm-up.ts';
import { ChunkEncodeError, WorkerStation } from './worker-station.ts';

if (!parentPort) throw new Error('engine worker must run in a worker thread');
const port = parentPort;

const stations = new Map<string, WorkerStation>();
let leadMs = 150;
let renderAheadMs = 400;
/**
 * Longest pause between two render passes. The loop sleeps until the next chunk falls inside the
 * render-ahead window (about one wake per chunk), never longer than this.
 */
const MAX_PAUSE_MS = 50;
const STATS_INTERVAL_MS = 1000;
/** How often an idle station's score is brought up to the chunk due now. */
const IDLE_TICK_MS = 1000;
/** Time allowed for a new station's first render pass before its first chunk is due. */
const FIRST_CHUNK_MARGIN_MS = 20;
/**
 * Chunks overdue by more than this many chunk lengths are not rendered: the pacer no longer sends
 * them (it jumps to the newest after as many, see MAX_CATCH_UP_CHUNKS in the pacer), so the station
 * jumps to the chunk due now. Happens only after this thread or the process was stopped.
 */
const MAX_LATE_CHUNKS = 10;
/** How often a station waiting for the main thread to release a ring slot looks again (ms). */
const RING_WAIT_RETRY_MS = 10;
let lastStatsMs = monoNowMs();
/** Encoders of removed stations and of tiers switched off, for reuse (see OpusEncoderPool). */
const encoders = new OpusEncoderPool(8);

function send(msg: FromWorker): void {
  port.postMessage(msg);
}

function renderPass(): void {
  const nowMs = monoNowMs();
  for (const st of stations.values()) {
    if (!st.live) {
      // Idle (nobody listens): no synthesis, no encoding; once a second the score is composed up
      // to the chunk due now, so what sounds is known (the `now` event) and a wake-up starts there.
      if (nowMs - st.lastIdleTickMs >= IDLE_TICK_MS && st.idleTick(nowMs, leadMs) !== null)
        send({ type: 'now', id: st.id, ...st.nowInfo() });
      continue;
    }
    // The next chunk's slot still held by the main thread (a socket may still send its bytes,
    // typically after the main thread was blocked): wait, render nothing (ring.ts, HOLD).
    if (!st.canWriteNext(nowMs)) continue;
    const fromSeq = st.nextSequence;
    const late = st.skipLate(nowMs, leadMs, MAX_LATE_CHUNKS * st.chunkMs);
    if (late > 0) {
      send({
        type: 'dropped',
        id: st.id,
        reason: 'late',
        fromSeq,
        count: late,
        message: `${late} chunks were overdue by more than ${MAX_LATE_CHUNKS} chunks; jumped to the chunk due now`,
      });
    }
    // Render until the newest chunk is due renderAheadMs from now; bounded so one pass cannot spin.
    let guard = 64;
    while (guard-- > 0 && st.nextDueMs(leadMs) < nowMs + renderAheadMs) {
      if (!st.canWriteNext(nowMs)) break;
      try {
        const chord = st.renderNext();
        if (st.recoveredError !== null) {
          send({
            type: 'encoder-error',
            id: st.id,
            seq: st.nextSequence - 1,
            dropped: false,
            message: st.recoveredError,
          });
          st.recoveredError = null;
        }
        if (chord !== null) send({ type: 'now', id: st.id, ...st.nowInfo() });
        const notes = st.takeNotes();
        if (notes !== null)
          port.postMessage({ type: 'notes', id: st.id, seq: st.nextSequence - 1, frame: notes }, [
            notes.buffer as ArrayBuffer,
          ]);
      } catch (err) {
        if (!(err instanceof ChunkEncodeError)) throw err;
        send({ type: 'encoder-error', id: st.id, seq: err.seq, dropped: true, message: err.message });
        send({
          type: 'dropped',
          id: st.id,
          reason: 'encode',
          fromSeq: err.seq,
          count: 1,
          message: err.message,
        });
      }
    }
  }
  if (nowMs - lastStatsMs >= STATS_INTERVAL_MS) {
    lastStatsMs = nowMs;
    send({
      type: 'stats',
      stations: [...stations.values()].map((s) => s.takeStats(nowMs, leadMs)),
      heapUsedBytes: getHeapStatistics().used_heap_size,
    });
  }
}

/**
 * Milliseconds until the next render pass has work: a live station's next chunk entering the
 * render-ahead window, an idle station's once-a-second score update, or the stats message. Waking
 * only then (instead of polling) keeps an engine with one station at about 10 wakes a second.
 */
function pauseMs(nowMs: number): number {
  let next = lastStatsMs + STATS_INTERVAL_MS;
  for (const st of stations.values()) {
    if (st.live && st.waitingForRing) next = Math.min(next, nowMs + RING_WAIT_RETRY_MS);
    else
      next = Math.min(
        next,
        st.live ? st.nextDueMs(leadMs) - renderAheadMs : st.lastIdleTickMs + IDLE_TICK_MS,
      );
  }
  return Math.min(MAX_PAUSE_MS, Math.max(1, Math.ceil(next - nowMs)));
}

function loop(): void {
  renderPass();
  setTimeout(loop, pauseMs(monoNowMs()));
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'add': {
      if (
        isSampled(msg.params.preset) ||
        msg.history?.some((c) => isSampled(c.params.preset)) ||
        (msg.moment !== undefined &&
          (isSampled(msg.moment.history.params.preset) ||
            msg.moment.history.changes.some((c) => isSampled(c.params.preset))))
      )
        parseSoundFontOnce();
      try {
        const spare = encoders.takeSpare(msg.opusBitrate, msg.opusComplexity);
        let st: WorkerStation;
        try {
          st = new WorkerStation(msg, spare, encoders);
        } catch (err) {
          if (spare) encoders.give(spare);
          throw err;
        }
        // A new station's clock starts now that it is built: its first chunk is due just after
        // this render pass, never before it could have been rendered.
        // (A session started at a moment begins at chunk startSeq: its clock is set back that far.)
        if (st.startMonoMs === 0)
          st.startMonoMs = monoNowMs() + leadMs + FIRST_CHUNK_MARGIN_MS - msg.startSeq * st.chunkMs;
        const replaced = stations.get(msg.id);
        if (replaced) encoders.give(replaced.takeEncoder());
        stations.set(msg.id, st);
        send({
          type: 'added',
          id: msg.id,
          preSkipFrames: st.preSkipFrames,
          opusBackend: st.opusBackend,
          oggHeader: st.oggHeader(),
          startMonoMs: st.startMonoMs,
        });
        renderPass();
      } catch (err) {
        send({ type: 'failed', id: msg.id, message: (err as Error).message });
      }
      break;
    }
    case 'remove': {
      // Reuses or frees the encoder now (a WASM backend's heap is never collected by GC), and tells
      // the host that nothing here writes into the station's ring any more, so that it may reuse it.
      const st = stations.get(msg.id);
      stations.delete(msg.id);
      if (st) encoders.give(st.takeEncoder());
      send({ type: 'removed', id: msg.id });
      break;
    }
    case 'change': {
      const st = stations.get(msg.id);
      if (!st) {
        send({
          type: 'change-failed',
          id: msg.id,
          requestId: msg.requestId,
          message: `no station ${msg.id} on this worker`,
        });
        break;
      }
      if (isSampled(msg.patch.preset)) parseSoundFontOnce();
      const { effectiveAt, params } = st.change(msg.patch, monoNowMs(), leadMs);
      send({ type: 'changed', id: msg.id, requestId: msg.requestId, effectiveAt, params });
      break;
    }
    case 'score': {
      const st = stations.get(msg.id);
      const midi = st ? st.scoreMidi(msg.from, msg.to, msg.title) : null;
      port.postMessage(
        { type: 'score', id: msg.id, requestId: msg.requestId, midi },
        midi ? [midi.buffer as ArrayBuffer] : [],
      );
      break;
    }
    case 'history': {
      const st = stations.get(msg.id);
      send({
        type: 'history',
        id: msg.id,
        requestId: msg.requestId,
        reply: st ? st.history(msg.position) : null,
      });
      break;
    }
    case 'encode': {
      // A station the worker does not have (removed meanwhile) needs nothing.
      try {
        const st = stations.get(msg.id);
        if (st) {
          const wasLive = st.live;
          st.setWish(msg.wish, monoNowMs(), leadMs);
          // Woken up: its first chunk is due now, so it is rendered at once, not at the next tick.
          if (!wasLive && st.live) renderPass();
        }
      } catch (err) {
        send({
          type: 'encoder-error',
          id: msg.id,
          seq: -1,
          dropped: false,
          message: `starting an encoder: ${errorText(err)}`,
        });
      }
      break;
    }
    case 'timing':
      leadMs = msg.leadMs;
      renderAheadMs = msg.renderAheadMs;
      break;
    case 'hang': {
      const until = Date.now() + msg.ms;
      while (Date.now() < until);
      break;
    }
    case 'crash':
      setImmediate(() => {
        throw new Error('engine worker crash requested (test hook)');
      });
      break;
    case 'fault': {
      const f = msg.fault;
      const st = stations.get(f.id);
      if (st && f.kind === 'exit-mid-chunk') st.exitMidChunk = true;
      else if (st && f.kind === 'encoder-throw') {
        st.failEncodes = f.chunks;
        st.failPersistent = f.persistent;
      }
      break;
    }
  }
});

const soundFontPath = (workerData as EngineWorkerData | null)?.soundfont ?? null;
let soundFontParsed = false;

function isSampled(preset: string | null | undefined): boolean {
  return typeof preset === 'string' && findPreset(preset)?.sampled !== undefined;
}

/**
 * Parses the SoundFont (TimGM6mb: ~50–80 ms; a large General MIDI bank far more, and its memory)
 * the first time this worker is given a station or a change that plays a sampled preset: here,
 * between renders, not in the render of the first sampled chunk, and never in a worker (or a
 * server) whose stations all play the built-in instruments. A file that fails to parse is kept
 * as the reason (soundFontFailure) and its stations play the built-in instruments.
 */
function parseSoundFontOnce(): void {
  if (soundFontParsed) return;
  soundFontParsed = true;
  const load = soundFontLoader(soundFontPath);
  if (load === null || soundFontPath === null) return;
  const t0 = monoNowMs();
  const soundfont: SoundFontReady =
    load() !== null
      ? { parsedMs: monoNowMs() - t0 }
      : { failure: soundFontFailure(soundFontPath) ?? `${soundFontPath} could not be parsed` };
  send({ type: 'soundfont', soundfont });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

warmUp();
send({ type: 'ready' });
loop();
