import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Signed, self-contained tokens: `<payload>.<signature>`, both base64url; the payload is JSON with
 * the token's kind (`k`, so that one kind is never accepted as another) and its expiry (`exp`,
 * Unix ms); the signature is HMAC-SHA256 of the payload's base64url text under a server secret.
 * Any node holding the secret verifies a token without any shared state. Neither the secret nor a
 * token is ever logged (src/server/log.ts redacts `resume` and `resumeToken`).
 */

/** Why a token was refused (stable words for messages and tests). */
export type TokenProblem = 'malformed' | 'signature' | 'expired' | 'kind';

export type VerifyResult<T> = { ok: true; payload: T } | { ok: false; problem: TokenProblem };

/** The longest token verify() reads (characters): anything longer is refused as malformed unread. */
export const MAX_TOKEN_CHARS = 16_384;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A secret for one process when none is configured (tokens then verify on this process only). */
export function randomSecret(): Buffer {
  return randomBytes(32);
}

function mac(secret: Buffer | string, text: string): Buffer {
  return createHmac('sha256', secret).update(text).digest();
}

/** `json` (any JSON value) as a signed token: base64url JSON, a dot, base64url HMAC-SHA256 of the first part. */
export function sealJson(json: unknown, secret: Buffer | string): string {
  const body = Buffer.from(JSON.stringify(json)).toString('base64url');
  return `${body}.${mac(secret, body).toString('base64url')}`;
}

/**
 * Opens a token made by sealJson: its shape, then (unless `secret` is null: format only, for a
 * reader without the secret) its signature in constant time, then its JSON, returned unvalidated.
 */
export function openJson(
  token: string,
  secret: Buffer | string | null,
  maxChars = MAX_TOKEN_CHARS,
): { ok: true; json: unknown } | { ok: false; problem: 'malformed' | 'signature' } {
  if (token.length > maxChars) return { ok: false, problem: 'malformed' };
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.')) return { ok: false, problem: 'malformed' };
  const body = token.slice(0, dot);
  const sig = token.slice(dot + 1);
  if (!BASE64URL.test(body) || !BASE64URL.test(sig)) return { ok: false, problem: 'malformed' };
  if (secret !== null) {
    const given = Buffer.from(sig, 'base64url');
    const expected = mac(secret, body);
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { ok: false, problem: 'signature' };
  }
  try {
    return { ok: true, json: JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) };
  } catch {
    return { ok: false, problem: 'malformed' };
  }
}

/** Signs `payload` (a JSON object) as a token of kind `kind` that expires at `expiresAtMs` (Unix ms). */
export function signToken(
  kind: string,
  payload: Record<string, unknown>,
  expiresAtMs: number,
  secret: Buffer | string,
): string {
  return sealJson({ k: kind, exp: Math.round(expiresAtMs), ...payload }, secret);
}

/**
 * Verifies a token of kind `kind`: its signature (constant time), its kind and its expiry against
 * `nowMs` (Unix ms). The payload is returned as parsed; its fields are for the caller to validate.
 */
export function verifyToken<T extends object>(
  token: string,
  kind: string,
  secret: Buffer | string,
  nowMs: number,
): VerifyResult<T> {
  const opened = openJson(token, secret);
  if (!opened.ok) return opened;
  const parsed = opened.json;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { ok: false, problem: 'malformed' };
  const p = parsed as { k?: unknown; exp?: unknown };
  if (p.k !== kind) return { ok: false, problem: 'kind' };
  if (typeof p.exp !== 'number' || !Number.isFinite(p.exp)) return { ok: false, problem: 'malformed' };
  if (p.exp <= nowMs) return { ok: false, problem: 'expired' };
  return { ok: true, payload: parsed as T };
}
