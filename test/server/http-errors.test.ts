import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuralisServer } from '../../src/server/server.ts';
import { captureLog, withServer } from './helpers.ts';

interface Answer {
  status: number;
  body: Record<string, unknown> | null;
  text: string;
}

/** A request sent byte for byte as given (fetch would normalize `%2e%2e` segments away). */
function raw(
  server: AuralisServer,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, method, path, headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let parsed: Record<string, unknown> | null = null;
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            parsed = null;
          }
          resolve({ status: res.statusCode!, body: parsed, text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function errorOf(a: Answer): Record<string, unknown> {
  return ((a.body?.error ?? {}) as Record<string, unknown>) ?? {};
}

describe('HTTP errors: client faults get their own 4xx code and never an error-level log', () => {
  let staticDir: string;
  before(() => {
    staticDir = mkdtempSync(join(tmpdir(), 'auralis-static-'));
    writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>player</title>');
    writeFileSync(join(staticDir, 'app.js'), 'console.log(1);\n');
  });
  after(() => rmSync(staticDir, { recursive: true, force: true }));

  it('maps traversal, bad URLs, bad ranges, wrong content types and bad JSON to 4xx codes', async () => {
    const log = captureLog();
    await withServer(
      { staticDir, logLevel: 'info' },
      async (server) => {
        // The static player is served (the precondition of the traversal cases).
        const index = await raw(server, 'GET', '/');
        assert.equal(index.status, 200);
        assert.match(index.text, /player/);

        for (const path of [
          '/%2e%2e/%2e%2e/etc/passwd',
          '/%2E%2E/package.json',
          '/.%2e/.%2e/etc/passwd',
          '/%2e%2e%5c%2e%2e%5cetc%5cpasswd',
        ]) {
          const r = await raw(server, 'GET', path);
          assert.ok(r.status === 403 || r.status === 404, `${path}: status ${r.status}`);
          assert.equal(errorOf(r).code, r.status === 403 ? 'FORBIDDEN' : 'NOT_FOUND', path);
          assert.doesNotMatch(r.text, /root:|"name"/, `${path} leaks nothing`);
        }
        const traversal = await raw(server, 'GET', '/%2e%2e/%2e%2e/etc/passwd');
        assert.equal(traversal.status, 403, 'the static plugin refuses the traversal itself');

        const nul = await raw(server, 'GET', '/index.html%00');
        assert.equal(nul.status, 400);
        assert.equal(errorOf(nul).code, 'BAD_REQUEST');
        assert.doesNotMatch(errorOf(nul).message as string, /JSON/, 'not labelled as a JSON fault');

        const badUrl = await raw(server, 'GET', '/api/stations/%E0%A4%A');
        assert.equal(badUrl.status, 400);
        assert.equal(errorOf(badUrl).code, 'BAD_REQUEST');
        assert.equal(errorOf(badUrl).field, 'url');

        const range = await raw(server, 'GET', '/app.js', { range: 'bytes=5000-6000' });
        assert.equal(range.status, 416);
        assert.equal(errorOf(range).code, 'RANGE_NOT_SATISFIABLE');

        const badJson = await raw(
          server,
          'PATCH',
          '/api/stations/default',
          { 'content-type': 'application/json' },
          '{"bpm": 6',
        );
        assert.equal(badJson.status, 400);
        assert.equal(errorOf(badJson).code, 'BAD_REQUEST');
        assert.match(errorOf(badJson).message as string, /not valid JSON/);

        const form = await raw(
          server,
          'PATCH',
          '/api/stations/default',
          { 'content-type': 'application/x-www-form-urlencoded' },
          'bpm=60',
        );
        assert.equal(form.status, 415);
        assert.equal(errorOf(form).code, 'UNSUPPORTED_MEDIA_TYPE');
        assert.equal(errorOf(form).field, 'content-type');

        const notObject = await raw(
          server,
          'PATCH',
          '/api/stations/default',
          { 'content-type': 'application/json' },
          '[1,2]',
        );
        assert.equal(notObject.status, 400);
        assert.equal(errorOf(notObject).code, 'BAD_REQUEST');
        assert.doesNotMatch(errorOf(notObject).message as string, /not valid JSON/);

        const unknownRoute = await raw(server, 'PUT', '/api/nothing', { 'content-type': 'application/json' });
        assert.equal(unknownRoute.status, 404);
        assert.equal(errorOf(unknownRoute).code, 'NOT_FOUND');
      },
      { logStream: log.stream },
    );
    // The client faults were logged (below error level), and nothing at error level.
    const infos = log.lines.filter((l) => l.level === 30 && typeof l.code === 'string');
    for (const code of ['FORBIDDEN', 'BAD_REQUEST', 'RANGE_NOT_SATISFIABLE', 'UNSUPPORTED_MEDIA_TYPE']) {
      assert.ok(
        infos.some((l) => l.code === code),
        `${code} logged at info`,
      );
    }
    assert.deepEqual(log.errors(), [], 'no error-level log line');
  });

  it('still answers a true server fault with 500 INTERNAL and logs it at error level', async () => {
    const log = captureLog();
    await withServer(
      { logLevel: 'info' },
      async (server) => {
        // An engine that fails is a server fault, not the client's.
        const engine = server.engine as unknown as { change: () => Promise<number> };
        engine.change = () => Promise.reject(new Error('engine exploded'));
        const r = await raw(
          server,
          'PATCH',
          '/api/stations/default',
          { 'content-type': 'application/json' },
          '{"bpm":60}',
        );
        assert.equal(r.status, 500);
        assert.equal(errorOf(r).code, 'INTERNAL');
        assert.doesNotMatch(r.text, /exploded/, 'no internals in the answer');
      },
      { logStream: log.stream },
    );
    assert.equal(log.errors().length, 1, 'one error-level line');
    assert.match(JSON.stringify(log.errors()[0]), /engine exploded/);
  });
});

describe('cross-site requests: no state change a page on another site could send', () => {
  it('refuses form-style and typeless POST/PATCH/DELETE with 415 and creates nothing', async () => {
    await withServer({}, async (server) => {
      const cases: [string, string, Record<string, string>, string | undefined][] = [
        ['POST', '/api/stations', { 'content-type': 'application/x-www-form-urlencoded' }, 'id=evil1'],
        ['POST', '/api/stations', { 'content-type': 'text/plain' }, '{"id":"evil2"}'],
        ['POST', '/api/stations', { 'content-type': 'multipart/form-data; boundary=x' }, '--x--'],
        ['POST', '/api/stations', {}, undefined],
        ['POST', '/api/stations', {}, ''],
        ['PATCH', '/api/stations/default', { 'content-type': 'text/plain' }, '{"bpm":41}'],
        ['DELETE', '/api/stations/default', {}, undefined],
      ];
      for (const [method, path, headers, body] of cases) {
        const r = await raw(server, method, path, headers, body);
        const what = `${method} ${path} ${JSON.stringify(headers)}`;
        assert.equal(r.status, 415, what);
        assert.equal(errorOf(r).code, 'UNSUPPORTED_MEDIA_TYPE', what);
        assert.equal(errorOf(r).field, 'content-type', what);
      }
      const stations = await raw(server, 'GET', '/api/stations');
      assert.deepEqual(
        (stations.body as unknown as { id: string }[]).map((s) => s.id),
        ['default'],
        'no station was created',
      );
      const st = await raw(server, 'GET', '/api/stations/default');
      assert.equal((st.body!.params as Record<string, unknown>).bpm, 70, 'nothing changed');

      // The same requests as application/json work, an empty body included.
      const created = await raw(server, 'POST', '/api/stations', { 'content-type': 'application/json' });
      assert.equal(created.status, 201);
      const id = created.body!.id as string;
      const charset = await raw(
        server,
        'PATCH',
        `/api/stations/${id}`,
        { 'content-type': 'application/json; charset=utf-8' },
        '{"bpm":41}',
      );
      assert.equal(charset.status, 200);
      const deleted = await raw(server, 'DELETE', `/api/stations/${id}`, {
        'content-type': 'application/json',
      });
      assert.equal(deleted.status, 204);
    });
  });

  it('refuses a change from a foreign Origin with 403, allows same-origin and allowed origins', async () => {
    await withServer({ allowedOrigins: 'https://radio.example' }, async (server) => {
      const jsonType = { 'content-type': 'application/json' };
      for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${server.port + 1}`]) {
        const r = await raw(server, 'PATCH', '/api/stations/default', { ...jsonType, origin }, '{"bpm":41}');
        assert.equal(r.status, 403, origin);
        assert.equal(errorOf(r).code, 'FORBIDDEN', origin);
        assert.equal(errorOf(r).field, 'origin', origin);
        const c = await raw(server, 'POST', '/api/stations', { ...jsonType, origin }, '{"id":"evil"}');
        assert.equal(c.status, 403, origin);
      }
      const latin1 = await raw(
        server,
        'PATCH',
        '/api/stations/default',
        { ...jsonType, origin: 'https://caf\xe9.example' },
        '{}',
      );
      assert.equal(latin1.status, 403);
      const st = await raw(server, 'GET', '/api/stations/default');
      assert.equal((st.body!.params as Record<string, unknown>).bpm, 70, 'nothing changed');
      assert.equal((await raw(server, 'GET', '/api/stations/evil')).status, 404, 'nothing created');
      // Reading is never refused for its origin.
      assert.equal((await raw(server, 'GET', '/api/status', { origin: 'https://evil.example' })).status, 200);

      const same = await raw(
        server,
        'PATCH',
        '/api/stations/default',
        { ...jsonType, origin: server.url },
        '{"bpm":50}',
      );
      assert.equal(same.status, 200, 'same origin');
      const allowed = await raw(
        server,
        'PATCH',
        '/api/stations/default',
        { ...jsonType, origin: 'https://radio.example' },
        '{"bpm":52}',
      );
      assert.equal(allowed.status, 200, 'allowed origin');
      const none = await raw(server, 'PATCH', '/api/stations/default', jsonType, '{"bpm":54}');
      assert.equal(none.status, 200, 'no Origin (curl, scripts)');
    });
  });
});
