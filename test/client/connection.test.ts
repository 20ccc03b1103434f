import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import {
  Connection,
  LIVENESS_TIMEOUT_MS,
  QUICK_RETRY_MAX_MS,
  type ConnectionState,
} from '../../client/src/net/connection.ts';
import type { ServerMessage } from '../../client/src/protocol/messages.ts';

/** A stand-in for the browser's WebSocket: the test drives its events. */
class FakeSocket {
  static readonly OPEN = 1;
  static all: FakeSocket[] = [];
  readyState = 0;
  binaryType = 'blob';
  sent: string[] = [];
  closedWith: number | null = null;
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(text: string) {
    this.sent.push(text);
  }
  close(code: number) {
    this.closedWith = code;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  serverClose(code: number, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

describe('Connection (reconnecting WebSocket)', () => {
  const g = globalThis as unknown as { WebSocket?: unknown };
  let saved: unknown;
  beforeEach(() => {
    saved = g.WebSocket;
    g.WebSocket = FakeSocket;
    FakeSocket.all = [];
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => {
    mock.timers.reset();
    g.WebSocket = saved;
  });

  const make = (urls: () => string = () => 'ws://x/ws') => {
    const states: ConnectionState[] = [];
    const messages: ServerMessage[] = [];
    let chunks = 0;
    const c = new Connection(
      {
        url: urls,
        onState: (s) => states.push(s),
        onMessage: (m) => messages.push(m),
        onChunk: () => chunks++,
      },
      () => 0.5,
    );
    return { c, states, messages, chunks: () => chunks };
  };

  it('reconnects after the server goes away, with a growing delay, asking for a fresh URL each time', () => {
    let n = 0;
    const { c, states } = make(() => `ws://x/ws?try=${++n}`);
    c.start();
    FakeSocket.all[0].open();
    FakeSocket.all[0].serverClose(1001, 'server shutting down');
    const waiting = states.at(-1);
    assert.equal(waiting?.kind, 'waiting');
    const firstDelay = (waiting as { retryInMs: number }).retryInMs;
    mock.timers.tick(firstDelay);
    assert.equal(FakeSocket.all.length, 2);
    assert.equal(FakeSocket.all[1].url, 'ws://x/ws?try=2');
    FakeSocket.all[1].serverClose(1006);
    const secondDelay = (states.at(-1) as { retryInMs: number }).retryInMs;
    assert.ok(secondDelay > firstDelay, `${secondDelay} after ${firstDelay}`);
    c.stop();
  });

  it('retries at once when the network cut a streaming connection (1006), with the backoff otherwise', () => {
    const { c, states } = make();
    c.start();
    FakeSocket.all[0].open();
    FakeSocket.all[0].onmessage?.({ data: new ArrayBuffer(40) });
    FakeSocket.all[0].serverClose(1006);
    const quick = (states.at(-1) as { retryInMs: number }).retryInMs;
    assert.ok(quick <= QUICK_RETRY_MAX_MS, `retry in ${quick} ms after a reset`);
    mock.timers.tick(quick);
    assert.equal(FakeSocket.all.length, 2);
    // This attempt never streamed (the server is gone): the backoff applies, and grows.
    FakeSocket.all[1].serverClose(1006);
    const next = (states.at(-1) as { retryInMs: number }).retryInMs;
    assert.ok(next > QUICK_RETRY_MAX_MS, `retry in ${next} ms after a failed attempt`);
    mock.timers.tick(next);
    // A streaming connection closed by a server shutdown (1001) waits the backoff.
    FakeSocket.all[2].open();
    FakeSocket.all[2].onmessage?.({ data: new ArrayBuffer(40) });
    FakeSocket.all[2].serverClose(1001, 'server shutting down');
    const afterShutdown = (states.at(-1) as { retryInMs: number }).retryInMs;
    assert.ok(afterShutdown > QUICK_RETRY_MAX_MS, `retry in ${afterShutdown} ms after 1001`);
    c.stop();
  });

  it('gives up on an unknown station (4404) instead of retrying', () => {
    const { c, states } = make();
    c.start();
    FakeSocket.all[0].serverClose(4404);
    assert.equal(states.at(-1)?.kind, 'failed');
    mock.timers.tick(60_000);
    assert.equal(FakeSocket.all.length, 1);
  });

  it('treats a silent socket as dead and reconnects', () => {
    const { c, states } = make();
    c.start();
    FakeSocket.all[0].open();
    FakeSocket.all[0].onmessage?.({ data: new ArrayBuffer(40) });
    mock.timers.tick(LIVENESS_TIMEOUT_MS + 1);
    assert.equal(FakeSocket.all[0].closedWith, 4000);
    assert.equal(states.at(-1)?.kind, 'waiting');
    c.stop();
  });

  it('passes text messages parsed and binary chunks through; sends only while open', () => {
    const { c, messages, chunks } = make();
    c.start();
    assert.equal(c.send({ type: 'ping', t: 1 }), false);
    FakeSocket.all[0].open();
    assert.equal(FakeSocket.all[0].binaryType, 'arraybuffer');
    FakeSocket.all[0].onmessage?.({ data: '{"type":"pong","t":1}' });
    FakeSocket.all[0].onmessage?.({ data: 'garbage' });
    FakeSocket.all[0].onmessage?.({ data: new ArrayBuffer(40) });
    assert.deepEqual(messages, [{ type: 'pong', t: 1 }]);
    assert.equal(chunks(), 1);
    assert.equal(c.send({ type: 'ping', t: 2 }), true);
    assert.equal(c.send({ type: 'preset', name: 'x'.repeat(5000) }), false, 'over 4 KiB is not sent');
    assert.deepEqual(FakeSocket.all[0].sent, ['{"type":"ping","t":2}']);
    c.stop();
    assert.equal(FakeSocket.all[0].closedWith, 1000);
    mock.timers.tick(60_000);
    assert.equal(FakeSocket.all.length, 1, 'no reconnect after stop()');
  });
});
