import { openJson, sealJson } from '../codec/signed-token.ts';
import { MODES, PITCH_CLASSES, SAMPLE_RATE, type MusicParams } from '../music/types.ts';
import { PARAM_RANGES } from '../music/params.ts';
import { PRESETS } from '../music/presets.ts';
import type { RenderHistory } from './station-renderer.ts';

/**
 * Moments: an instant of a station, shared as a signed, self-contained token and reproduced
 * sample for sample by replaying the station's render history (docs/ARCHITECTURE.md, "Moments").
 *
 * A token is `<payload>.<signature>` (src/codec/signed-token.ts: sealJson): the payload is the moment's JSON in base64url, the
 * signature HMAC-SHA256 of the payload text with the server's moment secret (`--moment-secret`),
 * in base64url. Everything needed to render is in the payload; the signature only proves that a
 * server with that secret made it.
 */

export const MOMENT_TOKEN_VERSION = 1;
/** Longest token accepted (bytes): a full history (MAX_HISTORY_CHANGES changes) fits well under it. */
export const MAX_MOMENT_TOKEN_BYTES = 12 * 1024;

/** A moment: where a station was, and how to rebuild its audio from there. */
export interface Moment {
  /** The shared station's id, or null (a personal session's id is a capability and never put here). */
  station: string | null;
  /** Station position (frames, the chunk header's clock) of the moment. */
  position: number;
  /** Frames per chunk of the station: the replay renders chunks of this size, as the engine did. */
  chunkFrames: number;
  /** Station position minus renderer position (a worker restart or a jump over late chunks moves it). */
  baseFrames: number;
  /** Unix ms at which `position` played (the chunk header's play time). */
  at: number;
  history: RenderHistory;
}

/** A malformed, tampered or unverifiable token; `message` says what, never the secret. */
export class MomentTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MomentTokenError';
  }
}

/**
 * Key, mode, bpm, intensity, preset, and a sixth element `1` while the sleep timer's ending is on
 * (MusicParams.ending: a server-set parameter, but part of what was heard). Tokens made before
 * the sixth element existed have five and read as no ending.
 */
type WireParams =
  [string, string, number, number, string | null] | [string, string, number, number, string | null, 1];

function paramsToWire(p: MusicParams): WireParams {
  return p.ending === true
    ? [p.key, p.mode, p.bpm, p.intensity, p.preset, 1]
    : [p.key, p.mode, p.bpm, p.intensity, p.preset];
}

function paramsFromWire(v: unknown, where: string): MusicParams {
  if (!Array.isArray(v) || (v.length !== 5 && v.length !== 6))
    throw new MomentTokenError(`${where}: parameters malformed`);
  const [key, mode, bpm, intensity, preset, ending] = v as unknown[];
  if (v.length === 6 && ending !== 1) throw new MomentTokenError(`${where}: bad ending`);
  if (typeof key !== 'string' || !(PITCH_CLASSES as readonly string[]).includes(key))
    throw new MomentTokenError(`${where}: bad key`);
  if (typeof mode !== 'string' || !(MODES as readonly string[]).includes(mode))
    throw new MomentTokenError(`${where}: bad mode`);
  if (typeof bpm !== 'number' || !(bpm >= PARAM_RANGES.bpm.min && bpm <= PARAM_RANGES.bpm.max))
    throw new MomentTokenError(`${where}: bad bpm`);
  if (
    typeof intensity !== 'number' ||
    !(intensity >= PARAM_RANGES.intensity.min && intensity <= PARAM_RANGES.intensity.max)
  )
    throw new MomentTokenError(`${where}: bad intensity`);
  if (preset !== null && (typeof preset !== 'string' || !PRESETS.some((p) => p.name === preset)))
    throw new MomentTokenError(`${where}: bad preset`);
  return {
    key: key as MusicParams['key'],
    mode: mode as MusicParams['mode'],
    bpm,
    intensity,
    preset: preset as string | null,
    ...(ending === 1 ? { ending: true } : {}),
  };
}

/**
 * The moment as a new listener should continue it (a personal session at a moment): the same
 * piece, without the sleep timer's ending of whoever took it (each change keeps its position, so
 * the score before the ending is unchanged). A render (`auralis render --moment`) uses the moment
 * itself, ending included: that is what was heard.
 */
export function withoutEnding(m: Moment): Moment {
  const strip = (p: MusicParams): MusicParams => {
    if (p.ending === undefined) return p;
    const { ending: _ending, ...rest } = p;
    return rest;
  };
  const h = m.history;
  return {
    ...m,
    history: {
      ...h,
      params: strip(h.params),
      changes: h.changes.map((c) => ({ at: c.at, params: strip(c.params) })),
    },
  };
}

/** The signed token of a moment. */
export function encodeMoment(m: Moment, secret: string | Buffer): string {
  const h = m.history;
  const body = {
    v: MOMENT_TOKEN_VERSION,
    id: m.station,
    p: m.position,
    c: m.chunkFrames,
    b: m.baseFrames,
    t: m.at,
    s: h.seed,
    o: paramsToWire(h.params),
    ch: h.changes.map((c) => [c.at, paramsToWire(c.params)]),
    w: h.wake ? [h.wake.afterChanges, h.wake.composerAt, h.wake.frame, h.wake.warmupFrames] : null,
  };
  return sealJson(body, secret);
}

function int(v: unknown, where: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new MomentTokenError(`${where} must be an integer ${min} … ${max}`);
  return v;
}

/**
 * Reads a token. With a secret, the signature must match (else MomentTokenError); without one
 * (`null`) only the format and the values are checked. Every field is validated, so a replay
 * never starts from a malformed history.
 */
export function decodeMoment(token: string, secret: string | Buffer | null): Moment {
  if (typeof token !== 'string' || token.length === 0) throw new MomentTokenError('the token is empty');
  if (token.length > MAX_MOMENT_TOKEN_BYTES)
    throw new MomentTokenError(`the token is longer than ${MAX_MOMENT_TOKEN_BYTES} characters`);
  const opened = openJson(token, secret, MAX_MOMENT_TOKEN_BYTES);
  if (!opened.ok)
    throw new MomentTokenError(
      opened.problem === 'signature'
        ? 'the token signature does not match (made by another server, or altered)'
        : 'the token is not <payload>.<signature> in base64url with a JSON payload',
    );
  const parsed = opened.json;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new MomentTokenError('the token payload is not a JSON object');
  const body = parsed as Record<string, unknown>;
  if (body.v !== MOMENT_TOKEN_VERSION)
    throw new MomentTokenError(`the token version must be ${MOMENT_TOKEN_VERSION}`);
  const station = body.id;
  if (station !== null && (typeof station !== 'string' || !/^[a-z0-9-]{1,32}$/.test(station)))
    throw new MomentTokenError('the token station is malformed');
  const chunkFrames = int(body.c, 'chunk frames', 1, SAMPLE_RATE);
  const position = int(body.p, 'position', 0);
  const baseFrames = int(body.b, 'base frames', 0);
  if (position % chunkFrames !== 0 || baseFrames % chunkFrames !== 0 || baseFrames > position)
    throw new MomentTokenError('the token position is not on the chunk grid');
  if (typeof body.t !== 'number' || !Number.isFinite(body.t)) throw new MomentTokenError('bad play time');
  const seed = int(body.s, 'seed', 0, 0xffff_ffff);
  const params = paramsFromWire(body.o, 'starting parameters');
  if (!Array.isArray(body.ch)) throw new MomentTokenError('the changes are malformed');
  const changes: RenderHistory['changes'] = [];
  let last = 0;
  for (const [i, c] of (body.ch as unknown[]).entries()) {
    if (!Array.isArray(c) || c.length !== 2) throw new MomentTokenError(`change ${i} is malformed`);
    const at = int(c[0], `change ${i} position`, last);
    last = at;
    changes.push({ at, params: paramsFromWire(c[1], `change ${i}`) });
  }
  let wake: RenderHistory['wake'] = null;
  if (body.w !== null) {
    if (!Array.isArray(body.w) || body.w.length !== 4) throw new MomentTokenError('the wake-up is malformed');
    const w = body.w as unknown[];
    wake = {
      afterChanges: int(w[0], 'wake-up change count', 0, changes.length),
      composerAt: int(w[1], 'wake-up composer position', 0),
      frame: int(w[2], 'wake-up position', 0),
      warmupFrames: int(w[3], 'wake-up warm-up', 0, 60 * SAMPLE_RATE),
    };
    if (wake.frame % chunkFrames !== 0 || wake.warmupFrames % chunkFrames !== 0)
      throw new MomentTokenError('the wake-up is not on the chunk grid');
  }
  const local = position - baseFrames;
  const synthFrom = wake ? Math.max(0, wake.frame - wake.warmupFrames) : 0;
  if (local < synthFrom) throw new MomentTokenError('the token position is before its wake-up');
  return {
    station: station as string | null,
    position,
    chunkFrames,
    baseFrames,
    at: body.t,
    history: { seed, params, changes, wake, complete: true },
  };
}
