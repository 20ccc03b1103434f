import type { Engine } from '../engine/engine.ts';
import { applyPatch, type ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import { SAMPLE_RATE } from '../music/types.ts';
import type { Station } from './station.ts';
import { monoNowMs } from '../engine/clock.ts';

export type ControlSource = 'api' | 'listener' | 'preset';

export interface ControlResult {
  params: MusicParams;
  /** Station position at which the change is heard. */
  effectiveAt: number;
}

export interface ControlObserver {
  changed(source: ControlSource, latencySeconds: number): void;
}

/**
 * Applies a validated change to a station: preset first, explicit values over it, sent to the engine
 * which stamps it with the position where it becomes audible (next beat or bar), then announced to
 * every listener as a `params` message. Validation happens before this point, so nothing is ever
 * half-applied.
 */
export class Controller {
  private readonly engine: Engine;
  private readonly observer: ControlObserver;

  constructor(engine: Engine, observer: ControlObserver) {
    this.engine = engine;
    this.observer = observer;
  }

  async change(st: Station, patch: ParamsPatch, source: ControlSource): Promise<ControlResult> {
    const requestedMs = monoNowMs();
    const next = applyPatch(st.params, patch);
    st.params = next;
    const effectiveAt = await this.engine.change(st.id, next);
    const audibleMs = st.engine.startMonoMs + (effectiveAt * 1000) / SAMPLE_RATE;
    this.observer.changed(source, Math.max(0, (audibleMs - requestedMs) / 1000));
    const text = JSON.stringify({ type: 'params', params: publicParams(next), effectiveAt, source });
    for (const peer of st.peers) peer.send(text);
    return { params: publicParams(next), effectiveAt };
  }
}

/** The parameters as the protocol shows them. */
export function publicParams(p: MusicParams): MusicParams {
  return { key: p.key, mode: p.mode, bpm: p.bpm, intensity: p.intensity, preset: p.preset };
}
