import type { FastifyBaseLogger } from 'fastify';
import type { Transport } from './broadcast/listener.ts';
import { TRANSPORT_INDEX, TRANSPORT_NAMES } from './broadcast/pacer.ts';
import type { ControlSource } from './control.ts';
import type { Station } from './station.ts';
import type { MusicParams } from '../music/types.ts';

const SOURCE_WORDS: Record<ControlSource, string> = {
  api: 'the API',
  preset: 'a listener (preset)',
  listener: 'a listener',
  schedule: 'its schedule',
};

/**
 * The events an operator reads at info level, as one line each: stations created and removed,
 * control changes with their source, and once a period a summary of the listeners (how many per
 * transport, joined and left, chunks skipped for slow listeners, listeners dropped). Per-request
 * lines are at debug. Counting here is a few integer increments; nothing runs per chunk besides
 * them, and the summary timer (owned, stopped by close()) runs only every `summaryMs`.
 */
export class OperatorLog {
  private readonly log: FastifyBaseLogger;
  private readonly timer: NodeJS.Timeout | null;
  private readonly listeners = new Int32Array(TRANSPORT_NAMES.length);
  private readonly joined = new Int32Array(TRANSPORT_NAMES.length);
  private readonly left = new Int32Array(TRANSPORT_NAMES.length);
  private skipped = 0;
  private stalled = 0;
  private expired = 0;

  constructor(log: FastifyBaseLogger, summaryMs: number) {
    this.log = log;
    this.timer = summaryMs > 0 ? setInterval(() => this.summary(), summaryMs) : null;
    this.timer?.unref();
  }

  stationCreated(st: Station, restored = false): void {
    this.log.info(
      { station: st.id, personal: st.personal, seed: st.seed, params: plain(st.params) },
      `${st.personal ? 'personal session' : 'station'} ${st.id} ${restored ? 'restored' : 'created'}: ${describe(st.params)}`,
    );
  }

  stationRemoved(st: Station): void {
    this.log.info(
      { station: st.id, personal: st.personal },
      `${st.personal ? 'personal session' : 'station'} ${st.id} removed`,
    );
  }

  changed(st: Station, source: ControlSource, effectiveAt: number): void {
    this.log.info(
      { station: st.id, source, params: plain(st.params), effectiveAt },
      `station ${st.id} changed by ${SOURCE_WORDS[source]}: ${describe(st.params)}`,
    );
  }

  joinedListener(t: Transport): void {
    this.listeners[TRANSPORT_INDEX[t]]!++;
    this.joined[TRANSPORT_INDEX[t]]!++;
  }

  leftListener(t: Transport): void {
    this.listeners[TRANSPORT_INDEX[t]]!--;
    this.left[TRANSPORT_INDEX[t]]!++;
  }

  skippedChunk(): void {
    this.skipped++;
  }

  droppedListener(reason: 'stalled' | 'expired'): void {
    if (reason === 'stalled') this.stalled++;
    else this.expired++;
  }

  /** One line about the last period; nothing while nobody listens and nothing happened. */
  summary(): void {
    const total = this.listeners.reduce((a, b) => a + b, 0);
    const joined = this.joined.reduce((a, b) => a + b, 0);
    const left = this.left.reduce((a, b) => a + b, 0);
    const eventful = joined + left + this.skipped + this.stalled + this.expired > 0;
    if (total === 0 && !eventful) {
      return;
    }
    const per: Record<string, number> = {};
    TRANSPORT_NAMES.forEach((t, i) => {
      if (this.listeners[i]! > 0) per[t] = this.listeners[i]!;
    });
    const parts = [`${total} listener${total === 1 ? '' : 's'}`];
    if (Object.keys(per).length > 0) {
      parts[0] += ` (${Object.entries(per)
        .map(([t, n]) => `${t} ${n}`)
        .join(', ')})`;
    }
    parts.push(`+${joined} joined, -${left} left`);
    if (this.skipped > 0) parts.push(`${this.skipped} chunks skipped for slow listeners`);
    if (this.stalled + this.expired > 0) {
      parts.push(
        `${this.stalled + this.expired} slow listeners disconnected (${this.stalled} stalled, ${this.expired} expired)`,
      );
    }
    this.log.info(
      {
        listeners: total,
        perTransport: per,
        joined,
        left,
        skippedChunks: this.skipped,
        dropped: { stalled: this.stalled, expired: this.expired },
      },
      `listeners: ${parts.join('; ')}`,
    );
    this.joined.fill(0);
    this.left.fill(0);
    this.skipped = 0;
    this.stalled = 0;
    this.expired = 0;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

function plain(p: MusicParams): MusicParams {
  return { key: p.key, mode: p.mode, bpm: p.bpm, intensity: p.intensity, preset: p.preset };
}

function describe(p: MusicParams): string {
  return `${p.preset ?? 'custom'}, ${p.key} ${p.mode}, ${p.bpm} BPM, intensity ${p.intensity}`;
}
