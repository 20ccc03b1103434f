import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { LogSink, prettyLine } from '../../src/server/log.ts';
import { captureLog, connect, json, sleep, withServer } from './helpers.ts';

const msgs = (lines: Record<string, unknown>[]): string[] => lines.map((l) => String(l.msg));

describe('operator log', () => {
  it('at info: stations, changes with their source and a listener summary; no per-request lines', async () => {
    const log = captureLog();
    await withServer(
      { logLevel: 'info', logSummaryMs: 1000 },
      async (server) => {
        // Requests happen (precondition) but leave no line at info.
        for (let i = 0; i < 5; i++) assert.equal((await json(server, 'GET', '/api/status')).status, 200);
        assert.equal(
          (await json(server, 'POST', '/api/stations', { id: 'study', preset: 'focus' })).status,
          201,
        );
        assert.equal((await json(server, 'PATCH', '/api/stations/study', { bpm: 60 })).status, 200);
        const c = await connect(server, 'station=study');
        await c.next('welcome');
        c.send({ type: 'set', params: { intensity: 0.3 } });
        await c.next('params');
        // A summary period passes with one listener.
        const deadline = Date.now() + 10_000;
        while (
          !msgs(log.lines).some((m) => m.startsWith('listeners: 1 listener (ws 1)')) &&
          Date.now() < deadline
        )
          await sleep(100);
        c.close();
        await c.closed;
        assert.equal((await json(server, 'DELETE', '/api/stations/study')).status, 204);
        await sleep(50);
      },
      { logStream: log.stream },
    );
    const m = msgs(log.lines);
    assert.ok(m.includes('station study created: focus, A dorian, 66 BPM, intensity 0.5'), m.join('\n'));
    assert.ok(
      m.includes('station study changed by the API: focus, A dorian, 60 BPM, intensity 0.5'),
      m.join('\n'),
    );
    assert.ok(
      m.includes('station study changed by a listener: focus, A dorian, 60 BPM, intensity 0.3'),
      m.join('\n'),
    );
    assert.ok(m.includes('station study removed'), m.join('\n'));
    const summary = log.lines.find((l) => String(l.msg).startsWith('listeners: 1 listener (ws 1)'));
    assert.ok(summary, m.join('\n'));
    assert.match(String(summary.msg), /\+1 joined, -0 left/);
    assert.equal(summary.level, 30);
    assert.ok(
      !m.includes('incoming request') && !m.includes('request completed'),
      'no per-request lines at info',
    );
    assert.deepEqual(log.errors(), []);
  });

  it('at debug: every request has its lines', async () => {
    const log = captureLog();
    await withServer(
      { logLevel: 'debug', logSummaryMs: 0 },
      async (server) => {
        assert.equal((await json(server, 'GET', '/api/status')).status, 200);
        await sleep(50);
      },
      { logStream: log.stream },
    );
    const incoming = log.lines.filter((l) => l.msg === 'incoming request');
    assert.ok(incoming.some((l) => (l.req as { url: string }).url === '/api/status'));
    assert.ok(log.lines.some((l) => l.msg === 'request completed' && l.level === 20));
  });

  it('writes readable lines for a terminal, and passes plain lines through', async () => {
    const t = new Date(2026, 10, 30, 14, 3, 7, 512).getTime();
    const line = `${JSON.stringify({ level: 30, time: t, pid: 1, hostname: 'h', station: 'study', seed: 42, params: { bpm: 60 }, msg: 'station study created' })}\n`;
    assert.equal(
      prettyLine(line),
      '14:03:07.512 INFO  station study created (station=study seed=42 params={"bpm":60})\n',
    );
    const warn = `${JSON.stringify({ level: 40, time: t, err: { message: 'boom', stack: 'x' }, msg: 'worker' })}\n`;
    assert.equal(prettyLine(warn), '14:03:07.512 WARN  worker (err="boom")\n');
    assert.equal(prettyLine('auralis: serving on http://x\n'), 'auralis: serving on http://x\n');
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const sink = new LogSink(out, { maxBytes: 4096, pretty: true });
    sink.write(line);
    assert.equal(await sink.flush(1000), true);
    assert.equal(
      text,
      '14:03:07.512 INFO  station study created (station=study seed=42 params={"bpm":60})\n',
    );
    sink.close();
  });
});
