import type { Engine } from '../engine/engine.ts';
import { EngineError, type ChangeResult } from '../engine/engine-host.ts';
import type { ParamsPatch } from '../music/params.ts';
import type { MusicParams } from '../music/types.ts';
import { SAMPLE_RATE } from '../music/types.ts';
import { ApiError } from './errors.ts';
import { effectivePreset } from './now-playing.ts';
import { MAX_TOKEN_HISTORY } from './session-token.ts';
import type { Station } from './station.ts';
import { monoNowMs } from '../engine/clock.ts';

export type ControlSource = 'api' | 'listener' | 'preset' | 'schedule';

/** The parameters as the protocol shows them: `modified` says the preset's own values were changed. */
export interface PublicParams extends MusicParams {
  /** True when a preset is set but its mode, tempo or intensity no longer are its own (the key is free). */
  modified: boolean;
}

export interface ControlResult {
  params: PublicParams;
  /** Station position at which the change is heard. */
  effectiveAt: number;
  /** Unix ms at which the change is heard (the chunk headers' clock). */
  effectiveAtMs: number;
}

export interface ControlObserver {
  changed(source: ControlSource, latencySeconds: number): void;
  /** The station's parameters changed (after they were stored on it). */
  applied?(st: Station, source: ControlSource, effectiveAt: number): void;
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
    let applied: ChangeResult;
    try {
      // The engine applies the patch to what the station plays (changes in flight stack in order)
      // and answers with the result; only then is it stored, so the two never differ.
      applied = await this.engine.change(st.id, patch, source);
    } catch (err) {
      throw toApiError(err, st.id);
    }
    const audibleMs = st.engine.startMonoMs + (applied.effectiveAt * 1000) / SAMPLE_RATE;
    this.observer.changed(source, Math.max(0, (audibleMs - requestedMs) / 1000));
    return this.announce(st, applied, source);
  }

  /**
   * Stores the parameters a station plays from `effectiveAt` on and announces them to its
   * WebSocket peers as a `params` message: after a change made here, or one made through another
   * process of a cluster (src/cluster/: the engine's 'params' event).
   */
  announce(st: Station, applied: ChangeResult, source: ControlSource): ControlResult {
    const { effectiveAt, params: next } = applied;
    st.params = next;
    this.observer.applied?.(st, source, effectiveAt);
    const audibleMs = st.engine.startMonoMs + (effectiveAt * 1000) / SAMPLE_RATE;
    const params = publicParams(next);
    const effectiveAtMs = Math.round(audibleMs + st.engine.wallOffsetMs);
    const text = JSON.stringify({ type: 'params', params, effectiveAt, effectiveAtMs, source });
    if (st.personal && st.issueResumeToken) {
      // The score now depends on this change: the owner gets a token that carries it.
      recordSessionChange(st.history, { effectiveAt, params: next });
      let owned: string | null = null;
      for (const peer of st.peers) {
        if (!peer.personalOwner) peer.send(text);
        else {
          owned ??= JSON.stringify({
            type: 'params',
            params,
            effectiveAt,
            effectiveAtMs,
            source,
            resumeToken: st.issueResumeToken(),
          });
          peer.send(owned);
        }
      }
    } else for (const peer of st.peers) peer.send(text);
    return { params, effectiveAt, effectiveAtMs };
  }
}

/** Appends a personal session's change, keeping the last MAX_TOKEN_HISTORY (what its token carries). */
function recordSessionChange(history: ChangeResult[], change: ChangeResult): void {
  history.push({ effectiveAt: change.effectiveAt, params: change.params });
  if (history.length > MAX_TOKEN_HISTORY) history.splice(0, history.length - MAX_TOKEN_HISTORY);
}

/** The parameters as the protocol shows them. */
export function publicParams(p: MusicParams): PublicParams {
  return {
    key: p.key,
    mode: p.mode,
    bpm: p.bpm,
    intensity: p.intensity,
    preset: p.preset,
    modified: p.preset !== null && effectivePreset(p) === null,
  };
}

/** An engine refusal as the API reports it (nothing was applied in any of these cases). */
function toApiError(err: unknown, stationId: string): Error {
  if (!(err instanceof EngineError)) return err as Error;
  switch (err.code) {
    case 'unknown-station':
      return new ApiError('UNKNOWN_STATION', `no station ${JSON.stringify(stationId)}`, 'id');
    case 'closed':
      return new ApiError('NOT_READY', 'the server is shutting down; the change was not applied');
    default:
      return new ApiError(
        'NOT_READY',
        `station ${stationId}'s engine worker is restarting and did not take the change in time; nothing was applied, retry`,
      );
  }
}
