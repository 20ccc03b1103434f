// Personal sessions' resume tokens are signed and self-contained (src/server/session-token.ts):
// any server holding the session secret takes a session back from one, and recreates it as the
// same piece on the same clock when it does not run it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signToken, verifyToken } from '../../src/codec/signed-token.ts';
import { SessionTokens, MAX_TOKEN_HISTORY } from '../../src/server/session-token.ts';
import { DEFAULT_PARAMS } from '../../src/music/params.ts';
import { startServer } from '../../src/server/server.ts';
import { ConfigError, configSecrets, loadConfig } from '../../src/server/config.ts';
import { connect, sleep, withServer, type Client } from './helpers.ts';

const SECRET = 'a-shared-session-secret-0123456789';

describe('signed tokens', () => {
  it('verify what they signed, and refuse altered, foreign, expired and malformed tokens', () => {
    const now = 1_800_000_000_000;
    const t = signToken('session', { id: 'x', n: 1 }, now + 1000, SECRET);
    const ok = verifyToken<{ id: string; n: number }>(t, 'session', SECRET, now);
    assert.ok(ok.ok && ok.payload.id === 'x' && ok.payload.n === 1);
    const [body, sig] = t.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ k: 'session', exp: now + 1000, id: 'y', n: 1 })).toString(
      'base64url',
    );
    assert.deepEqual(verifyToken(`${forged}.${sig}`, 'session', SECRET, now), {
      ok: false,
      problem: 'signature',
    });
    assert.deepEqual(verifyToken(t, 'session', 'another-secret-0123456789', now), {
      ok: false,
      problem: 'signature',
    });
    assert.deepEqual(verifyToken(t, 'moment', SECRET, now), { ok: false, problem: 'kind' });
    assert.deepEqual(verifyToken(t, 'session', SECRET, now + 1000), { ok: false, problem: 'expired' });
    for (const bad of [
      '',
      'abc',
      `${body}.${sig}.x`,
      `${body}.`,
      `.${sig}`,
      `${body}.a+b`,
      'x'.repeat(20_000),
    ])
      assert.deepEqual(
        verifyToken(bad, 'session', SECRET, now),
        { ok: false, problem: 'malformed' },
        bad.slice(0, 20),
      );
  });

  it('carry a session: its clock, its piece, at most MAX_TOKEN_HISTORY changes', () => {
    const tokens = new SessionTokens(SECRET, 60_000);
    const history = Array.from({ length: MAX_TOKEN_HISTORY + 5 }, (_, i) => ({
      effectiveAt: 48_000 * (i + 1),
      params: { ...DEFAULT_PARAMS, bpm: 60 + i },
    }));
    const id = `p-${'ab'.repeat(15)}`;
    const t = tokens.issue({
      id,
      seed: 42,
      params: DEFAULT_PARAMS,
      history,
      startWallMs: 1.7e12,
      position: 96_000,
    });
    const v = tokens.verify(t);
    assert.ok(v.ok);
    assert.equal(v.state.id, id);
    assert.equal(v.state.seed, 42);
    assert.equal(v.state.startWallMs, 1.7e12);
    assert.deepEqual(v.state.params, DEFAULT_PARAMS);
    assert.deepEqual(v.state.history, history.slice(-MAX_TOKEN_HISTORY), 'the last changes, in order');
    assert.ok(t.length < 4096, `a token with a full history is ${t.length} characters`);
    // Another process with a random secret (none configured) refuses it.
    assert.deepEqual(new SessionTokens('', 60_000).verify(t), { ok: false, problem: 'signature' });
  });
});

/** The `now` messages a client got, by position. */
function nows(
  c: Client,
): { position: number; chord: unknown; key: unknown; mode: unknown; section: unknown }[] {
  return c.texts
    .filter((m) => m.type === 'now')
    .map((m) => ({
      position: m.position as number,
      chord: m.chord,
      key: m.key,
      mode: m.mode,
      section: m.section,
    }));
}

describe('the session secret', () => {
  it('is a secret of at least 16 characters, never shown', () => {
    assert.throws(
      () => loadConfig({ sessionSecret: 'short-secret' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /sessionSecret .*at least 16/.test(e.message) &&
        !e.message.includes('short-secret'),
    );
    assert.ok(configSecrets(loadConfig({ sessionSecret: SECRET })).includes(SECRET), 'redacted from logs');
  });
});

describe('resume tokens across servers', () => {
  it('recreate a personal session on another server: same id, seed, parameters, clock and score', async () => {
    const base = { host: '127.0.0.1', port: 0, workers: 1, sessionSecret: SECRET, gracePeriodMs: 60_000 };
    const a = await startServer(base);
    const b = await startServer(base);
    try {
      const owner = await connect(a, 'personal=1&preset=bright&seed=77&codec=pcm');
      const w = await owner.next('welcome');
      const id = w.station as string;
      await owner.waitChunks(3);
      owner.send({ type: 'set', params: { key: 'D', mode: 'dorian', bpm: 70 } });
      const changed = await owner.next('params');
      assert.equal(typeof changed.resumeToken, 'string', 'the owner gets a token that carries the change');
      // A listener stays on the original (server a) to compare with.
      const witness = await connect(a, `station=${id}&codec=pcm`);
      const ww = await witness.next('welcome');
      assert.equal(ww.resumeToken, undefined, 'only the owner gets tokens');
      owner.close();
      await owner.closed;

      // Server b never ran it: the token recreates it.
      const back = await connect(b, `personal=1&resume=${changed.resumeToken as string}&codec=pcm`);
      const w2 = await back.next('welcome');
      assert.equal(w2.station, id, 'the same session id');
      assert.equal(w2.seed, 77);
      assert.deepEqual(
        {
          key: (w2.params as Record<string, unknown>).key,
          mode: (w2.params as Record<string, unknown>).mode,
          bpm: (w2.params as Record<string, unknown>).bpm,
        },
        { key: 'D', mode: 'dorian', bpm: 70 },
        'the parameters playing now',
      );
      assert.equal(typeof w2.resumeToken, 'string', 'a fresh token');
      const got = await back.waitChunks(5, 15_000);
      const seen = await witness.waitChunks(5, 15_000);
      // The same clock: a sequence number plays the same position at the same time on both.
      const ref = seen[seen.length - 1]!.header;
      const mine = got[got.length - 1]!.header;
      const offset = mine.sequence - ref.sequence;
      assert.equal(mine.positionFrames - ref.positionFrames, offset * ref.frames, 'positions on one clock');
      assert.ok(
        Math.abs(mine.playTimeMs - (ref.playTimeMs + (offset * ref.frames * 1000) / 48_000)) <= 2,
        'play times on one clock',
      );
      // The same piece: what sounds changes at the same positions, to the same chords.
      await sleep(9000);
      const fromA = nows(witness);
      const fromB = nows(back);
      assert.ok(fromB.length >= 2, `the recreated session reported ${fromB.length} changes of what sounds`);
      for (const e of fromB.slice(1)) {
        const other = fromA.filter((x) => x.position <= e.position).pop();
        assert.ok(other, `server a reported what sounds before ${e.position}`);
        assert.deepEqual(other, e, `position ${e.position}`);
      }
      back.close();
      witness.close();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('refuse a token signed with another secret, altered or expired: INVALID_PARAM, field resume', async () => {
    await withServer({ sessionSecret: SECRET, sessionTokenTtlMs: 1000 }, async (server) => {
      const owner = await connect(server, 'personal=1&codec=pcm');
      const token = (await owner.next('welcome')).resumeToken as string;
      owner.close();
      await owner.closed;
      const foreign = new SessionTokens('another-secret-0123456789', 60_000).issue({
        id: `p-${'cd'.repeat(15)}`,
        seed: 1,
        params: DEFAULT_PARAMS,
        history: [],
        startWallMs: Date.now(),
        position: 0,
      });
      const altered = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
      await sleep(1100);
      for (const [bad, words] of [
        [foreign, /not signed by this server/],
        [altered, /not signed by this server|malformed/],
        [token, /expired/],
      ] as const) {
        const c = await connect(server, `personal=1&resume=${bad}`);
        const err = await c.next('error');
        assert.equal(err.code, 'INVALID_PARAM');
        assert.equal(err.field, 'resume');
        assert.match(err.message as string, words);
        assert.ok(!(err.message as string).includes(bad), 'the token is not echoed');
        assert.equal((await c.closed).code, 1008);
      }
      // The server goes on: a new session starts.
      const fresh = await connect(server, 'personal=1&codec=pcm');
      await fresh.next('welcome');
      await fresh.waitChunks(1);
      fresh.close();
    });
  });
});
