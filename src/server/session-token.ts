import type { ParamsChange } from '../engine/messages.ts';
import { validatePatch } from '../music/params.ts';
import { findPreset } from '../music/presets.ts';
import type { MusicParams } from '../music/types.ts';
import { randomSecret, signToken, verifyToken, type TokenProblem } from '../codec/signed-token.ts';

/**
 * Personal sessions' resume tokens (docs/PROTOCOL.md, "Resume tokens"): signed and self-contained,
 * so that any process holding the session secret (every edge and origin of a cluster) can take a
 * session back, or recreate it as the same piece on the same clock when no process runs it any more.
 */

/** The token kind (signed-token.ts): never accepted as another kind of token. */
export const SESSION_TOKEN_KIND = 'session';
/**
 * Parameter changes a token carries (the last ones; older ones are left out, and a session recreated
 * from it then plays a score that differs from before the first change kept). Bounds the token's
 * length: about 130 characters per change.
 */
export const MAX_TOKEN_HISTORY = 16;
const PERSONAL_ID = /^p-[0-9a-f]{30}$/;

/** What a session token holds (short field names: it travels in a URL). */
export interface SessionState {
  /** The session's id (`p-…`). */
  id: string;
  seed: number;
  /** The parameters it started with. */
  params: MusicParams;
  /** Its changes since, at the positions (frames) where they took effect: the same score. */
  history: ParamsChange[];
  /** Unix ms at which its position 0 plays: its clock (positions are frames on it). */
  startWallMs: number;
  /** Its position (frames on its clock) when the token was issued. */
  position: number;
}

interface Payload {
  id: unknown;
  s: unknown;
  p: unknown;
  h: unknown;
  t0: unknown;
  pos: unknown;
}

export type SessionVerify = { ok: true; state: SessionState } | { ok: false; problem: TokenProblem };

/** Signs and verifies session tokens with one secret; owned by the station registry. */
export class SessionTokens {
  private readonly secret: Buffer | string;
  private readonly ttlMs: number;
  /** Whether the secret was configured (false: random, this process only). */
  readonly shared: boolean;

  constructor(secret: string, ttlMs: number) {
    this.shared = secret !== '';
    this.secret = this.shared ? secret : randomSecret();
    this.ttlMs = ttlMs;
  }

  issue(state: SessionState, nowWallMs: number = Date.now()): string {
    const history = state.history.slice(-MAX_TOKEN_HISTORY).map((c) => ({ at: c.effectiveAt, p: c.params }));
    return signToken(
      SESSION_TOKEN_KIND,
      {
        id: state.id,
        s: state.seed,
        p: state.params,
        h: history,
        t0: Math.round(state.startWallMs),
        pos: Math.round(state.position),
      },
      nowWallMs + this.ttlMs,
      this.secret,
    );
  }

  verify(token: string, nowWallMs: number = Date.now()): SessionVerify {
    const r = verifyToken<Payload>(token, SESSION_TOKEN_KIND, this.secret, nowWallMs);
    if (!r.ok) return r;
    const p = r.payload;
    // Signed by a holder of the secret, so well formed unless the secret is shared with another
    // program: checked all the same, since the engine must never get a malformed station.
    if (typeof p.id !== 'string' || !PERSONAL_ID.test(p.id)) return { ok: false, problem: 'malformed' };
    if (!Number.isInteger(p.s) || (p.s as number) < 0 || (p.s as number) > 0xffff_ffff)
      return { ok: false, problem: 'malformed' };
    if (typeof p.t0 !== 'number' || !Number.isFinite(p.t0)) return { ok: false, problem: 'malformed' };
    if (typeof p.pos !== 'number' || !Number.isFinite(p.pos)) return { ok: false, problem: 'malformed' };
    const params = musicParams(p.p);
    if (!params || !Array.isArray(p.h) || p.h.length > MAX_TOKEN_HISTORY)
      return { ok: false, problem: 'malformed' };
    const history: ParamsChange[] = [];
    for (const c of p.h as unknown[]) {
      const at = (c as { at?: unknown } | null)?.at;
      const cp = musicParams((c as { p?: unknown } | null)?.p);
      if (typeof at !== 'number' || !Number.isInteger(at) || at < 0 || !cp)
        return { ok: false, problem: 'malformed' };
      history.push({ effectiveAt: at, params: cp });
    }
    return {
      ok: true,
      state: { id: p.id, seed: p.s as number, params, history, startWallMs: p.t0, position: p.pos },
    };
  }
}

/** A complete MusicParams as a token carries it, or null. */
function musicParams(x: unknown): MusicParams | null {
  if (typeof x !== 'object' || x === null) return null;
  const { key, mode, bpm, intensity, preset } = x as Record<string, unknown>;
  if (preset !== null && (typeof preset !== 'string' || !findPreset(preset))) return null;
  const v = validatePatch({ key, mode, bpm, intensity });
  if (!v.ok) return null;
  const q = v.patch;
  if (q.key === undefined || q.mode === undefined || q.bpm === undefined || q.intensity === undefined)
    return null;
  return { key: q.key, mode: q.mode, bpm: q.bpm, intensity: q.intensity, preset: preset as string | null };
}

/** Words for a refused token, naming the field (never the token itself). */
export function tokenProblemMessage(problem: TokenProblem): string {
  switch (problem) {
    case 'expired':
      return 'resume token has expired: start a new personal session';
    case 'signature':
      return 'resume token is not signed by this server (altered, or another session secret)';
    case 'kind':
      return 'resume token is not a session token';
    default:
      return 'resume token is malformed';
  }
}
