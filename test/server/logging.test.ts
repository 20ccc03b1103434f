/**
 * The log destination (src/server/log.ts): bounded, never blocking, surviving a failed stream; and
 * no secret (control token, resume token, Authorization) in any log line of the real server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import WebSocket from 'ws';
import { LogSink, REDACTED, redactUrl, scrubLine } from '../../src/server/log.ts';
import { buildBundle, metricValue, readUrl, spawnBundle, type BundleProcess } from './bundle.ts';
import { sleep } from './helpers.ts';

/** A stream whose writes complete only when the test says so (a reader that stalls, then resumes). */
class HeldStream extends Writable {
  readonly held: { chunk: string; cb: (err?: Error | null) => void }[] = [];
  readonly received: string[] = [];
  constructor() {
    super({ decodeStrings: false, highWaterMark: 1 });
  }
  override _write(chunk: string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.held.push({ chunk, cb });
  }
  release(): void {
    for (const { chunk, cb } of this.held.splice(0)) {
      this.received.push(chunk);
      cb();
    }
  }
}

function line(i: number, pad = 100): string {
  return `{"n":${i},"msg":"${'x'.repeat(pad)}"}\n`;
}

describe('LogSink', () => {
  it('never queues more than its byte bound for a stalled reader, and counts what it drops', () => {
    const out = new HeldStream();
    const sink = new LogSink(out, { maxBytes: 4096 });
    let accepted = 0;
    for (let i = 0; i < 1000; i++) if (sink.write(line(i))) accepted++;
    const s = sink.stats();
    assert.ok(s.queuedBytes <= 4096, `${s.queuedBytes} bytes queued`);
    assert.ok(accepted > 0 && accepted < 1000, `${accepted} accepted`);
    assert.equal(s.dropped, 1000 - accepted);
    assert.equal(out.held.length, 1, 'one batch in flight at a time');
    sink.close();
  });

  it('writes every line in order once a slow reader catches up', async () => {
    const out = new HeldStream();
    const sink = new LogSink(out, { maxBytes: 1 << 20 });
    for (let i = 0; i < 50; i++) sink.write(line(i, 10));
    for (let k = 0; k < 10 && out.held.length > 0; k++) {
      out.release();
      await sleep(1);
    }
    assert.equal(await sink.flush(1000), true);
    const text = out.received.join('');
    assert.deepEqual(
      text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { n: number }).n),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.deepEqual(sink.stats(), { written: 50, dropped: 0, queuedBytes: 0, broken: false });
  });

  it('flush() gives up at its timeout while the reader is stalled', async () => {
    const out = new HeldStream();
    const sink = new LogSink(out, { maxBytes: 4096 });
    sink.write(line(1));
    const t0 = performance.now();
    assert.equal(await sink.flush(100), false);
    assert.ok(performance.now() - t0 < 2000);
    sink.write(line(2)); // queued behind the one in flight
    sink.close();
    assert.equal(sink.stats().dropped, 1, 'closing drops (and counts) what is still queued');
    assert.equal(sink.write(line(3)), false, 'a closed sink takes no more lines');
    assert.equal(sink.stats().dropped, 2);
  });

  it('drops lines that waited longer than maxAgeMs instead of writing them late', async () => {
    const out = new HeldStream();
    const sink = new LogSink(out, { maxBytes: 1 << 20, maxAgeMs: 50 });
    sink.write(line(0)); // in flight
    sink.write(line(1)); // queued behind it
    sink.write(line(2));
    await sleep(120);
    out.release(); // line 0 is acknowledged; 1 and 2 are now too old
    await sleep(10);
    sink.write(line(3));
    out.release();
    assert.equal(await sink.flush(1000), true);
    assert.deepEqual(
      out.received.map((c) => c.trim()),
      [line(0).trim(), line(3).trim()],
    );
    assert.equal(sink.stats().dropped, 2);
  });

  it('survives EPIPE: no throw, no crash, later lines dropped and counted', async () => {
    const out = new Writable({
      write(_chunk, _enc, cb) {
        cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const sink = new LogSink(out, { maxBytes: 4096 });
    assert.equal(sink.write(line(0)), true);
    await sleep(10);
    assert.equal(sink.stats().broken, true, 'the error was seen');
    assert.equal(sink.write(line(1)), false);
    assert.equal(sink.write(line(2)), false);
    assert.equal(sink.stats().dropped, 3);
    assert.equal(await sink.flush(100), false);
  });

  it('survives a stream that throws synchronously', () => {
    const out = {
      write(): boolean {
        throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
      },
      on: () => out,
      off: () => out,
    };
    const sink = new LogSink(out as unknown as Writable, { maxBytes: 4096 });
    assert.doesNotThrow(() => sink.write(line(0)));
    assert.equal(sink.stats().dropped, 1);
    assert.equal(sink.write(line(1)), false);
  });
});

describe('redaction', () => {
  it('replaces the values of secret query parameters and keeps their names and the rest', () => {
    assert.equal(
      redactUrl('/ws?station=default&token=s3cret&resume=abc-DEF_1&codec=pcm'),
      `/ws?station=default&token=${REDACTED}&resume=${REDACTED}&codec=pcm`,
    );
    assert.equal(redactUrl('/ws?TOKEN=a%20b#frag'), `/ws?TOKEN=${REDACTED}#frag`);
    assert.equal(redactUrl('/ws?%74oken=x'), `/ws?%74oken=${REDACTED}`, 'an encoded name is still a token');
    assert.equal(redactUrl('/ws?key=D&mode=dorian'), '/ws?key=D&mode=dorian', 'music params are not secrets');
    assert.equal(redactUrl('/api/status'), '/api/status');
  });

  it('scrubs finished lines: query values, Bearer credentials, and the configured secret anywhere', () => {
    const l = scrubLine(
      '{"path":"/x?a=1&token=ab\\"cd&b=2","h":"Bearer s3cret/XYZ","m":"wrong: s3cret/XYZ s3cret%2FXYZ"}',
      ['s3cret/XYZ'],
    );
    assert.doesNotMatch(l, /s3cret|ab\\"cd/);
    assert.match(l, /token=\[redacted\]&b=2/);
    assert.match(l, /Bearer \[redacted\]/);
    assert.equal(
      scrubLine('{"url":"/stream/p-0123456789abcdef0123456789abcd.ogg","s":"s-0123456789"}'),
      '{"url":"/stream/p-0123[redacted].ogg","s":"s-0123456789"}',
    );
  });

  it('scrubs a fragment of the secret, as in a parser error that quotes truncated input', () => {
    const secret = 'Zq7-long-control-token-88';
    const msg = `{"msg":"Unexpected token 'Z', ...\\"\\"preset\\": Zq7-long-con\\"... is not valid JSON; tail -token-88"}`;
    const l = scrubLine(msg, [secret]);
    assert.ok(!l.includes('Zq7-long-con') && !l.includes('-token-88'), l);
    assert.match(l, /preset\\": \[redacted\]\\"\.\.\. is not valid JSON; tail \[redacted\]/);
    assert.equal(
      scrubLine('{"msg":"nothing secret: Zq7-lon"}', [secret]),
      '{"msg":"nothing secret: Zq7-lon"}',
    );
  });
});

describe('secrets in the log of the built server (dist/main.js)', () => {
  const TOKEN = 's3cret-Tok3n-value';
  let p: BundleProcess;
  let url: string;
  let log = '';

  before(async () => {
    buildBundle();
    p = spawnBundle(['--port', '0', '--workers', '1', '--log-level', 'debug', '--control-token', TOKEN]);
    p.child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    url = (await readUrl(p)).url;
  });
  after(async () => {
    await p.stop();
  });

  it('logs the request lines with [redacted] in place of token=, resume= and Authorization values', async (t) => {
    const wsBase = `${url.replace('http', 'ws')}`;
    const open = (u: string): Promise<{ ws: WebSocket; welcome: Record<string, unknown> }> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(u);
        ws.on('error', reject);
        ws.on('message', (d, bin) => {
          if (bin) return;
          const m = JSON.parse(d.toString()) as Record<string, unknown>;
          if (m.type === 'welcome') resolve({ ws, welcome: m });
        });
      });
    // A personal session: its resume token is a secret too.
    const owner = await open(`${wsBase}/ws?personal=1&token=${TOKEN}`);
    const resumeToken = owner.welcome.resumeToken as string;
    assert.equal(typeof resumeToken, 'string');
    // Its id is a capability (whoever knows it may listen).
    const personalId = owner.welcome.station as string;
    assert.match(personalId, /^p-[0-9a-f]{30}$/);
    const byId = await fetch(`${url}/api/stations/${personalId}`);
    await byId.arrayBuffer();
    const ownerGone = new Promise((r) => owner.ws.once('close', r));
    owner.ws.close();
    await ownerGone;
    await sleep(100);
    const back = await open(`${wsBase}/ws?personal=1&resume=${resumeToken}&token=${TOKEN}`);
    back.ws.close();
    // A wrong token echoed back must not be logged either.
    const wrong = await open(`${wsBase}/ws?token=wrong-guess-77`);
    wrong.ws.close();
    const patch = await fetch(`${url}/api/stations/default`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ intensity: 0.4 }),
    });
    assert.equal(patch.status, 200, await patch.text());
    // A body that is not JSON: the error message (logged) quotes the body, token included.
    const bad = await fetch(`${url}/api/stations/default`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: `{"preset": ${TOKEN}}`,
    });
    assert.equal(bad.status, 400);
    await bad.arrayBuffer();
    const status = await fetch(`${url}/api/status?token=${TOKEN}`);
    await status.arrayBuffer();
    // A WebSocket upgrade on a route without a WebSocket handler is logged with its path.
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`${wsBase}/api/status?token=${TOKEN}`);
      ws.on('error', () => resolve());
      ws.on('close', () => resolve());
    });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    await sleep(300); // let the log lines arrive

    const lines = log.split('\n').filter((l) => l.startsWith('{'));
    const urls = lines
      .map((l) => (JSON.parse(l) as { req?: { url?: string } }).req?.url)
      .filter((u): u is string => typeof u === 'string');
    t.diagnostic(`${lines.length} log lines; request URLs: ${JSON.stringify(urls.slice(0, 8))}`);
    // Preconditions: the request lines were logged, with the parameter names kept.
    assert.ok(urls.includes(`/ws?personal=1&token=${REDACTED}`), 'the token URL was logged');
    assert.ok(
      urls.includes(`/ws?personal=1&resume=${REDACTED}&token=${REDACTED}`),
      'the resume URL was logged',
    );
    assert.ok(urls.includes(`/ws?token=${REDACTED}`), 'the wrong-token URL was logged');
    assert.ok(urls.includes(`/api/status?token=${REDACTED}`));
    assert.ok(
      urls.includes(`/api/stations/${personalId.slice(0, 6)}${REDACTED}`),
      'the personal id URL was logged',
    );
    assert.ok(
      lines.some((l) => l.includes('"method":"PATCH"') && l.includes('/api/stations/default')),
      'the PATCH was logged',
    );
    assert.ok(
      lines.some((l) => l.includes('"statusCode":400') && l.includes('"level":30')),
      'the bad body was logged',
    );
    // Not even a fragment of the token (a JSON parse error quotes a truncated snippet of the body).
    for (let i = 0; i + 8 <= TOKEN.length; i++) {
      const fragment = TOKEN.slice(i, i + 8);
      assert.ok(!log.includes(fragment), `${fragment} (part of the token) is in the log`);
    }
    for (const secret of [TOKEN, resumeToken, personalId, personalId.slice(6), 'wrong-guess-77']) {
      assert.ok(!log.includes(secret), `${secret} is in the log`);
      assert.ok(!p.stderr().includes(secret), `${secret} is on stderr`);
      assert.ok(!metrics.includes(secret), `${secret} is in /metrics`);
    }
    assert.equal(metricValue(metrics, 'auralis_log_lines_dropped_total'), 0, 'nothing was dropped');
  });
});
