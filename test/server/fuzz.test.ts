/**
 * Property-based fuzzing of every HTTP route and every WebSocket message type. Properties: the server
 * never answers 500 or INTERNAL, every error is a documented code with its documented status, a
 * WebSocket stays open after a bad message (binary and oversized messages close it as PROTOCOL.md
 * says), the station keeps publishing audio, nothing pollutes Object.prototype, and memory stays
 * bounded. Each property prints how many cases it ran.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import WebSocket from 'ws';
import { ERRORS, type ErrorCode } from '../../src/server/errors.ts';
import { startServer, type AuralisServer } from '../../src/server/server.ts';
import { connect, sleep, type Client } from './helpers.ts';

/**
 * Cases per property: a few hundred, so the whole file stays well under a minute on a busy machine.
 * `FUZZ_SCALE=10` multiplies them for a deeper run by hand.
 */
const SCALE = Math.max(1, Number(process.env.FUZZ_SCALE ?? 1) || 1);
const HTTP_RUNS = 300 * SCALE;
const WS_MESSAGE_RUNS = 300 * SCALE;
const WS_QUERY_RUNS = 40 * SCALE;
const WS_CLOSE_RUNS = 20 * SCALE;

const MAX_BODY_BYTES = 16 * 1024;
const DOCUMENTED_STATUSES = new Set<number>(Object.values(ERRORS).map((e) => e.status));

let server: AuralisServer;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

before(async () => {
  server = await startServer({
    host: '127.0.0.1',
    port: 0,
    workers: 1,
    // The fuzzer is one fast client: rate limits would only answer RATE_LIMITED (tested elsewhere).
    apiRatePerSecond: 100_000,
    controlRatePerSecond: 1000,
    controlRatePerIp: 100_000,
    // Random valid bodies create stations and sessions: keep the synthesis load small.
    maxStations: 3,
    maxPersonalSessions: 1,
    gracePeriodMs: 0,
    maxBodyBytes: MAX_BODY_BYTES,
  });
});
after(async () => {
  agent.destroy();
  await server?.close();
});

function checkError(status: number, text: string, what: string): void {
  assert.notEqual(status, 500, `${what}: 500 ${text.slice(0, 200)}`);
  if (status < 400) return;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`${what}: ${status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
  }
  const e = (body as { error?: { code?: unknown; message?: unknown } }).error;
  assert.ok(
    e && typeof e.code === 'string',
    `${what}: ${status} without an error code: ${text.slice(0, 200)}`,
  );
  assert.ok(e.code in ERRORS, `${what}: undocumented code ${e.code}`);
  assert.notEqual(e.code, 'INTERNAL', `${what}: INTERNAL ${text.slice(0, 200)}`);
  assert.equal(ERRORS[e.code as ErrorCode].status, status, `${what}: ${e.code} with status ${status}`);
  assert.ok(typeof e.message === 'string' && e.message.length > 0, `${what}: no message`);
}

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | null;
}

function send(r: FuzzRequest): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, method: r.method, path: r.path, headers: r.headers, agent },
      (res) => {
        const type = String(res.headers['content-type'] ?? '');
        if (res.statusCode === 200 && /^audio\//.test(type)) {
          // An endless stream: its head is all we need.
          res.destroy();
          resolve({ status: 200, text: '' });
          return;
        }
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode!, text: Buffer.concat(parts).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(r.body ?? undefined);
  });
}

// ---- Arbitraries ----

const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];
const PARAM_KEYS = ['key', 'mode', 'bpm', 'intensity', 'seed', 'preset', 'params', 'id', 'name', 'type', 't'];

const hugeNumber = fc.constantFrom(
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER + 2,
  -0,
  2 ** 32,
  2 ** 53,
  1e-320,
  1.2345678901234568e29,
);
/** A value of any type, biased toward the types and ranges the protocol checks. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  hugeNumber,
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    'A',
    'C#',
    'dorian',
    'locrian',
    'focus',
    'sleep',
    70,
    0.5,
    40,
    120,
    0,
    1,
    -1,
    true,
    null,
    [],
    {},
  ),
);
/** Objects with the protocol's keys, prototype-pollution keys and random ones. */
const anyObject: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(
  fc.oneof(fc.constantFrom(...PARAM_KEYS, ...POLLUTION_KEYS), fc.string({ maxLength: 12 })),
  fc.oneof(
    anyValue,
    fc.dictionary(fc.constantFrom(...PARAM_KEYS, ...POLLUTION_KEYS), anyValue, { maxKeys: 4 }),
  ),
  { maxKeys: 6 },
);
/** JSON text with `__proto__` as an own key (JSON.stringify never writes one). */
const protoJson = fc
  .tuple(fc.constantFrom('__proto__', 'constructor'), anyObject)
  .map(([k, o]) => `{"${k}":${JSON.stringify(o)},"params":{"${k}":{"polluted":true}}}`);

const bodyArb: fc.Arbitrary<Buffer | null> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 3, arbitrary: anyObject.map((o) => Buffer.from(JSON.stringify(o))) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  { weight: 1, arbitrary: protoJson.map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }).map((s) => Buffer.from(s)) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: MAX_BODY_BYTES - 2, max: MAX_BODY_BYTES * 3 })
      .map((n) => Buffer.from(`{"pad":"${'x'.repeat(n)}"}`)),
  },
);

const segment = fc.oneof(
  fc.constantFrom(
    'default',
    'nowhere',
    'default.ogg',
    'default.wav',
    'default.mp3',
    'x.ogg',
    '..',
    '%2e%2e',
    '%2F',
    '%00',
    '%',
    '%zz',
    '__proto__',
    'constructor',
    'index.html',
    'assets',
    'a'.repeat(200),
    '',
  ),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
  fc.stringMatching(/^[a-z0-9-]{1,40}$/),
);
const pathArb = fc.oneof(
  fc.constantFrom(
    '/',
    '/healthz',
    '/readyz',
    '/metrics',
    '/api/status',
    '/api/presets',
    '/api/stations',
    '/ws',
    '/index.html',
    '/api',
    '/stream',
    '//api//stations',
  ),
  fc
    .tuple(fc.constantFrom('/api/stations/', '/stream/', '/api/', '/assets/', '/'), segment)
    .map(([a, b]) => a + b),
  fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => '/' + s.join('/')),
);
const queryArb = fc.option(
  fc
    .dictionary(
      fc.constantFrom(...PARAM_KEYS, ...POLLUTION_KEYS, 'codec', 'station'),
      fc.string({ maxLength: 20 }),
      {
        maxKeys: 4,
      },
    )
    .map((q) => '?' + new URLSearchParams(q).toString()),
  { nil: '' },
);
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,60}$/).map((s) => s.trim());
const headersArb = fc.record(
  {
    'content-type': fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json;;;',
      'APPLICATION/JSON',
      '',
    ),
    authorization: fc.oneof(fc.constant('Bearer x'), headerValue),
    origin: fc.constantFrom('https://evil.example', 'null', 'http://127.0.0.1'),
    accept: fc.constantFrom('*/*', 'application/json', 'text/html', 'audio/ogg'),
    'x-fuzz': headerValue,
  },
  { requiredKeys: [] },
);

const requestArb: fc.Arbitrary<FuzzRequest> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'HEAD', 'OPTIONS'),
    path: pathArb,
    query: queryArb,
    headers: headersArb,
    body: bodyArb,
  })
  .map(({ method, path, query, headers, body }) => {
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) h[k] = v;
    return { method, path: path + query, headers: h, body: method === 'HEAD' ? null : body };
  });

const wsMessageArb: fc.Arbitrary<string> = fc.oneof(
  anyObject.map((params) => JSON.stringify({ type: 'set', params })),
  anyValue.map((params) => JSON.stringify({ type: 'set', params })),
  fc
    .dictionary(fc.constantFrom('key', 'mode', 'bpm', 'intensity', 'preset', 'seed'), anyValue, {
      maxKeys: 4,
    })
    .map((params) => JSON.stringify({ type: 'set', params })),
  anyValue.map((name) => JSON.stringify({ type: 'preset', name })),
  anyValue.map((t) => JSON.stringify({ type: 'ping', t })),
  fc
    .record({ bufferedMs: anyValue, underruns: anyValue, playedFrames: anyValue }, { requiredKeys: [] })
    .map((s) => JSON.stringify({ type: 'stats', ...s })),
  fc
    .record({ bufferedMs: hugeNumber, underruns: hugeNumber, playedFrames: hugeNumber })
    .map((s) => JSON.stringify({ type: 'stats', ...s })),
  fc.tuple(anyValue, anyObject).map(([type, o]) => JSON.stringify({ ...o, type })),
  protoJson.map((s) => s.replace('{', '{"type":"set",')),
  fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
);

// ---- Properties ----

function memory(): { rss: number; heap: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

describe('fuzzing', { timeout: 120_000 * SCALE }, () => {
  it('every HTTP route: never 500 or INTERNAL, every error a documented code with its status', async (t) => {
    const mem0 = memory();
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        cases++;
        const res = await send(r);
        if (r.method === 'HEAD') {
          // No body: the status alone must be one the protocol documents.
          assert.notEqual(res.status, 500, `HEAD ${r.path}`);
          if (res.status >= 400)
            assert.ok(DOCUMENTED_STATUSES.has(res.status), `HEAD ${r.path}: ${res.status}`);
        } else checkError(res.status, res.text, `${r.method} ${r.path}`);
      }),
      { numRuns: HTTP_RUNS, includeErrorInReport: true },
    );
    // The server still serves, no prototype was polluted, the default station still plays.
    assert.equal((await send({ method: 'GET', path: '/healthz', headers: {}, body: null })).status, 200);
    assert.deepEqual(Object.keys(Object.prototype), []);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const st = await send({ method: 'GET', path: '/api/stations/default', headers: {}, body: null });
    const params = (JSON.parse(st.text) as { params: Record<string, unknown> }).params;
    assert.deepEqual(Object.keys(params).sort(), ['bpm', 'intensity', 'key', 'mode', 'modified', 'preset']);
    const mem1 = memory();
    t.diagnostic(`HTTP requests fuzzed: ${cases} (numRuns ${HTTP_RUNS})`);
    t.diagnostic(
      `memory: rss ${(mem0.rss / 2 ** 20).toFixed(0)} -> ${(mem1.rss / 2 ** 20).toFixed(0)} MB, ` +
        `heap ${(mem0.heap / 2 ** 20).toFixed(0)} -> ${(mem1.heap / 2 ** 20).toFixed(0)} MB`,
    );
    // Bounded: two extra stations (maxStations 3) cost a few MB each; the margin is generous.
    assert.ok(mem1.heap - mem0.heap < 96 * 2 ** 20, 'heap growth under 96 MB');
    assert.ok(mem1.rss - mem0.rss < 256 * 2 ** 20, 'RSS growth under 256 MB');
  });

  it('every WebSocket message type: documented errors only, the socket stays open, the music goes on', async (t) => {
    const c = await connect(server, 'codec=pcm');
    await c.next('welcome');
    const mem0 = memory();
    let cases = 0;
    let errors = 0;
    let pingId = 0;
    /** When each recent case was sent (two messages each). */
    const sentAt: number[] = [];
    await fc.assert(
      fc.asyncProperty(wsMessageArb, async (text) => {
        cases++;
        // Two messages a case: at most 40 cases in any second stays under the per-socket flood
        // limit (100 messages a second), however the server's window falls.
        for (;;) {
          const now = Date.now();
          while (sentAt.length > 0 && now - sentAt[0]! >= 1100) sentAt.shift();
          if (sentAt.length < 40) break;
          await sleep(1100 - (now - sentAt[0]!));
        }
        sentAt.push(Date.now());
        c.texts.length = 0;
        c.ws.send(text);
        // A ping behind it marks the end of its answers (messages are handled in order).
        const id = `fuzz-${++pingId}`;
        c.ws.send(JSON.stringify({ type: 'ping', t: id }));
        await waitFor(c, (m) => m.type === 'pong' && m.t === id, text);
        for (const m of c.texts) {
          if (m.type !== 'error') continue;
          errors++;
          assert.ok(
            typeof m.code === 'string' && m.code in ERRORS,
            `undocumented code ${String(m.code)} for ${text}`,
          );
          assert.notEqual(m.code, 'INTERNAL', `INTERNAL for ${text}: ${String(m.message)}`);
          assert.notEqual(m.code, 'RATE_LIMITED', `rate limited at ${text}`);
          assert.ok(typeof m.message === 'string' && m.message.length > 0);
        }
        assert.equal(c.ws.readyState, WebSocket.OPEN, `closed after ${text}`);
      }),
      { numRuns: WS_MESSAGE_RUNS, includeErrorInReport: true },
    );
    const before = c.chunks.length;
    await c.waitChunks(before + 3);
    assert.equal(c.ws.readyState, WebSocket.OPEN);
    assert.deepEqual(Object.keys(Object.prototype), []);
    const mem1 = memory();
    t.diagnostic(`WebSocket messages fuzzed: ${cases} (numRuns ${WS_MESSAGE_RUNS}), error replies ${errors}`);
    t.diagnostic(
      `memory: rss ${(mem0.rss / 2 ** 20).toFixed(0)} -> ${(mem1.rss / 2 ** 20).toFixed(0)} MB, ` +
        `heap ${(mem0.heap / 2 ** 20).toFixed(0)} -> ${(mem1.heap / 2 ** 20).toFixed(0)} MB`,
    );
    assert.ok(mem1.heap - mem0.heap < 96 * 2 ** 20, 'heap growth under 96 MB');
    c.close();
  });

  it('WebSocket upgrade queries: a welcome or a documented error and close code', async (t) => {
    const queryArbWs = fc
      .dictionary(
        fc.constantFrom(
          'station',
          'personal',
          'codec',
          'key',
          'mode',
          'bpm',
          'intensity',
          'seed',
          'preset',
          'resume',
          'token',
          '__proto__',
        ),
        fc.oneof(
          fc.constantFrom(
            'default',
            'nowhere',
            '1',
            'true',
            'opus',
            'pcm',
            'flac',
            'A',
            'H',
            'dorian',
            '500',
            '-1',
            'NaN',
            'focus',
            '',
          ),
          fc.string({ unit: 'grapheme', maxLength: 30 }),
        ),
        { maxKeys: 4 },
      )
      .map((q) => new URLSearchParams(q).toString());
    let cases = 0;
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(queryArbWs, async (query) => {
        cases++;
        const c = await connect(server, query);
        const first = await waitFor(c, (m) => m.type === 'welcome' || m.type === 'error', query);
        if (first.type === 'welcome') {
          outcomes.set('welcome', (outcomes.get('welcome') ?? 0) + 1);
          c.close();
          await c.closed;
          return;
        }
        assert.ok(typeof first.code === 'string' && first.code in ERRORS, `${query}: ${String(first.code)}`);
        assert.notEqual(first.code, 'INTERNAL', `${query}: ${String(first.message)}`);
        const { code } = await c.closed;
        assert.ok([1008, 1013, 4404].includes(code), `${query}: close ${code}`);
        outcomes.set(String(first.code), (outcomes.get(String(first.code)) ?? 0) + 1);
      }),
      { numRuns: WS_QUERY_RUNS, includeErrorInReport: true },
    );
    t.diagnostic(
      `WebSocket upgrade queries fuzzed: ${cases} (numRuns ${WS_QUERY_RUNS}); ${JSON.stringify(Object.fromEntries(outcomes))}`,
    );
  });

  it('binary and oversized WebSocket messages close with 1003 and 1009; other listeners keep their audio', async (t) => {
    const watcher = await connect(server, 'codec=pcm');
    await watcher.next('welcome');
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc
            .uint8Array({ minLength: 0, maxLength: 6000 })
            .map((a) => ({ data: Buffer.from(a) as Buffer | string, close: 1003 })),
          fc
            .integer({ min: 4097, max: 20_000 })
            .map((n) => ({ data: 'x'.repeat(n) as Buffer | string, close: 1009 })),
        ),
        async ({ data, close }) => {
          cases++;
          const c = await connect(server);
          await c.next('welcome');
          c.ws.send(data, { binary: typeof data !== 'string' });
          // A binary message over 4 KiB is both; either close is the protocol's.
          const expected = typeof data !== 'string' && data.length > 4096 ? [1003, 1009] : [close];
          const { code } = await c.closed;
          assert.ok(expected.includes(code), `closed with ${code}, expected ${expected.join('/')}`);
        },
      ),
      { numRuns: WS_CLOSE_RUNS, includeErrorInReport: true },
    );
    const before = watcher.chunks.length;
    await watcher.waitChunks(before + 3);
    assert.equal(watcher.ws.readyState, WebSocket.OPEN);
    t.diagnostic(`binary/oversized WebSocket messages fuzzed: ${cases} (numRuns ${WS_CLOSE_RUNS})`);
    watcher.close();
  });
});

describe('fuzzing with a control token', { timeout: 120_000 * SCALE }, () => {
  it('a change without the right token is always refused (401/403) and changes nothing', async (t) => {
    const TOKEN = 's3cret-token';
    const guarded = await startServer({
      host: '127.0.0.1',
      port: 0,
      workers: 1,
      controlToken: TOKEN,
      apiRatePerSecond: 100_000,
      controlRatePerIp: 100_000,
      maxStations: 2,
    });
    const guardedAgent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    try {
      const get = (path: string): Promise<{ status: number; text: string }> =>
        new Promise((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: guarded.port, path, agent: guardedAgent }, (res) => {
              let text = '';
              res.on('data', (d: Buffer) => (text += d.toString()));
              res.on('end', () => resolve({ status: res.statusCode!, text }));
            })
            .on('error', reject);
        });
      const before = await get('/api/stations/default');
      let cases = 0;
      const auth = fc.oneof(
        fc.constant(undefined),
        fc.constantFrom(
          'Bearer',
          'Bearer ',
          `Bearer ${TOKEN}x`,
          `Bearer ${TOKEN.slice(1)}`,
          TOKEN,
          `Basic ${TOKEN}`,
        ),
        headerValue,
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('POST', 'PATCH', 'DELETE'),
          fc.constantFrom('/api/stations', '/api/stations/default', '/api/stations/x'),
          auth,
          anyObject,
          async (method, path, authorization, body) => {
            cases++;
            const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
              const req = http.request(
                {
                  host: '127.0.0.1',
                  port: guarded.port,
                  method,
                  path,
                  agent: guardedAgent,
                  headers: {
                    'content-type': 'application/json',
                    ...(authorization === undefined ? {} : { authorization }),
                  },
                },
                (r) => {
                  let text = '';
                  r.on('data', (d: Buffer) => (text += d.toString()));
                  r.on('end', () => resolve({ status: r.statusCode!, text }));
                },
              );
              req.on('error', reject);
              req.end(JSON.stringify(body));
            });
            checkError(res.status, res.text, `${method} ${path} ${String(authorization)}`);
            // Never accepted; refused for the token unless the body was refused first (400/413/415).
            assert.ok(res.status >= 400, `${method} ${path} accepted without the token: ${res.status}`);
          },
        ),
        { numRuns: 100 * SCALE, includeErrorInReport: true },
      );
      const after = await get('/api/stations/default');
      assert.deepEqual(JSON.parse(after.text).params, JSON.parse(before.text).params, 'nothing changed');
      const list = JSON.parse((await get('/api/stations')).text) as unknown[];
      assert.equal(list.length, 1, 'no station was created');
      t.diagnostic(`unauthorized changes fuzzed: ${cases} (numRuns ${100 * SCALE})`);
    } finally {
      guardedAgent.destroy();
      await guarded.close();
    }
  });
});

describe('cases the fuzzer found', () => {
  it('answers a path outside the static folder, an undecodable URL and a plain GET /ws with documented errors', async () => {
    const cases: [string, number, ErrorCode][] = [
      // The static files refuse these with 403, which the error handler once turned into 500 INTERNAL.
      ['/../default', 403, 'FORBIDDEN'],
      ['/%2e%2e/default', 403, 'FORBIDDEN'],
      // fastify once answered these with its own body (no documented code).
      ['/%zz', 400, 'BAD_REQUEST'],
      ['/api/stations/%zz', 400, 'BAD_REQUEST'],
      // The WebSocket route answered a plain GET with an empty 404.
      ['/ws', 400, 'BAD_REQUEST'],
    ];
    for (const [path, status, code] of cases) {
      const r = await send({ method: 'GET', path, headers: {}, body: null });
      assert.equal(r.status, status, `${path}: ${r.text}`);
      checkError(r.status, r.text, path);
      assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, code, path);
    }
  });
});

/** Resolves with the first text message matching `pred` (already received or future). */
async function waitFor(
  c: Client,
  pred: (m: Record<string, unknown>) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<Record<string, unknown>> {
  const t0 = Date.now();
  for (;;) {
    const m = c.texts.find(pred);
    if (m) return m;
    if (c.ws.readyState === WebSocket.CLOSED) {
      const { code, reason } = await c.closed;
      assert.fail(`${what}: closed with ${code} ${reason} before the answer`);
    }
    if (Date.now() - t0 > timeoutMs) assert.fail(`${what}: no answer in ${timeoutMs} ms`);
    await sleep(2);
  }
}
