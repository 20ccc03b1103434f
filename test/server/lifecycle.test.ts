// The lifecycle contract: a server that is started, used and closed leaves nothing behind (no handle,
// no timer, no worker thread), and creating and removing stations or personal sessions over and over
// does not make the process grow.
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import http from 'node:http';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startServer, type AuralisServer } from '../../src/server/server.ts';
import { connect, sleep } from './helpers.ts';
import { openSse } from './sse-client.ts';
import { freePort } from './bundle.ts';
import { extra, settle, snapshot, type Snapshot } from './resources.ts';

/** A full GC of this thread, whether or not the test runs with --expose-gc. */
function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Timers (setTimeout/setInterval, ref-ed or not) created while tracking and not yet fired or cleared. */
function trackTimers(): { live: () => number; where: () => string[]; stop: () => void } {
  const live = new Map<number, string>();
  const hook = createHook({
    init(asyncId, type) {
      if (type !== 'Timeout') return;
      const stack = new Error().stack!;
      // Node's own process-wide cache of the HTTP Date header (cleared by a one-shot timer within 1 s).
      if (stack.includes('utcDate')) return;
      live.set(asyncId, stack.split('\n').slice(2, 9).join(' | '));
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  });
  hook.enable();
  return { live: () => live.size, where: () => [...live.values()], stop: () => hook.disable() };
}

/** One HTTP request without keep-alive (no client socket or timer outlives it). */
function request(
  server: AuralisServer,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      `${server.url}${path}`,
      {
        method,
        agent: false,
        // Changes are JSON, also with no body (the server refuses other content types).
        headers: { 'content-type': 'application/json', 'content-length': data ? Buffer.byteLength(data) : 0 },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Opens an HTTP stream, waits for `bytes` of it, and leaves it open (the server ends it). */
function openStream(server: AuralisServer, path: string, bytes: number): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${server.url}${path}`, { agent: false }, (res) => {
      let got = 0;
      res.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= bytes) resolve(req);
      });
      res.on('error', () => {});
    });
    req.on('error', reject);
  });
}

describe('lifecycle contract', () => {
  it('after start, traffic and close(), no handle, timer or worker thread is left', async () => {
    await settle();
    const before = snapshot();
    const timers = trackTimers();
    let server: AuralisServer | null = await startServer({
      host: '127.0.0.1',
      port: 0,
      workers: 2,
      gracePeriodMs: 200,
      // A cleared timer leaves the timer list's libuv handle armed until the time it was due: keep the
      // event stream's heartbeat within the wait below.
      sseHeartbeatMs: 500,
      // An Icecast push to a port nobody listens on: refused, retried with back-off until close().
      icecast: [`default=http://source:pw@127.0.0.1:${await freePort()}/lifecycle.ogg`],
    });
    let during: Snapshot;
    let liveTimersDuring: number;
    try {
      // WebSocket listeners on the default station.
      const opus = await connect(server, 'codec=opus');
      const pcm = await connect(server, 'codec=pcm');
      await opus.waitChunks(3);
      await pcm.waitChunks(3);
      // HTTP listeners (Ogg and WAV), left open for close() to end.
      const ogg = await openStream(server, '/stream/default.ogg', 4096);
      const wav = await openStream(server, '/stream/default.wav', 4096);
      // A now-playing event stream (its heartbeat timer runs), left open for close() to end.
      const sse = await openSse(server, '/api/stations/default/now');
      await sse.next((e) => e.event === 'now', 5000, 'the initial now event');
      // A station created, listened to, changed and removed over HTTP.
      const created = await request(server, 'POST', '/api/stations', { id: 'temp', preset: 'focus' });
      assert.equal(created.status, 201, created.body);
      const onTemp = await connect(server, 'station=temp');
      await onTemp.waitChunks(2);
      assert.equal((await request(server, 'PATCH', '/api/stations/temp', { bpm: 60 })).status, 200);
      assert.equal((await request(server, 'DELETE', '/api/stations/temp')).status, 204);
      assert.equal((await onTemp.closed).code, 4404);
      // One personal session that ends by its grace period, one that is still in its grace period at close().
      const p1 = await connect(server, 'personal=1');
      const w1 = await p1.next('welcome');
      p1.close();
      await p1.closed;
      const p2 = await connect(server, 'personal=1');
      await p2.next('welcome');
      p2.close();
      await p2.closed;
      for (let i = 0; i < 100 && server.registry.get(w1.station as string); i++) await sleep(20);
      assert.equal(server.registry.get(w1.station as string), undefined, 'the first session ended');
      const metrics = await request(server, 'GET', '/metrics');
      assert.equal(metrics.status, 200);
      assert.match(
        metrics.body,
        /auralis_relay_reconnects_total\{station="default",mount="\/lifecycle.ogg"\} [1-9]/,
      );
      assert.equal((await request(server, 'GET', '/api/status')).status, 200);
      // A schedule whose glide is in progress at close() (its step timer and its next-entry timer).
      const schedule = await request(server, 'PUT', '/api/stations/default/schedule', {
        timeZone: 'UTC',
        glideMinutes: 5,
        entries: [{ at: '00:00', preset: 'sleep' }],
      });
      assert.equal(schedule.status, 200, schedule.body);
      assert.match(schedule.body, /"gliding":true/);
      // A personal session with a sleep timer running at close() (its check interval).
      const sleeper = await connect(server, 'personal=1&codec=pcm');
      sleeper.send({ type: 'sleep', minutes: 30 });
      assert.equal((await sleeper.next('sleep')).minutes, 30);
      // HLS: both renditions' segmenters (and their lease timers) still held at close().
      assert.equal((await request(server, 'GET', '/hls/default.m3u8')).status, 200);
      assert.equal((await request(server, 'GET', '/hls/default/mp3.m3u8')).status, 200);
      assert.equal((await request(server, 'GET', '/hls/default/opus.m3u8')).status, 200);

      during = snapshot();
      liveTimersDuring = timers.live();
      const closing = server.close();
      server = null;
      await closing;
      await Promise.all([opus.closed, pcm.closed]);
      await sse.ended;
      ogg.destroy();
      wav.destroy();
    } finally {
      await server?.close();
    }
    // Node's HTTP Date cache keeps the timer list's libuv handle active for up to 1 s.
    await sleep(1100);
    await settle();
    const after = snapshot();
    const liveTimersAfter = timers.live();
    const timersLeft = timers.where();
    timers.stop();
    assert.equal(
      liveTimersAfter,
      0,
      `timers created by the server and still pending: ${timersLeft.join('\n')}`,
    );

    // Preconditions: while running there was more of each.
    assert.ok(during.workers >= before.workers + 2, `worker threads while running: ${during.workers}`);
    assert.ok(Object.keys(extra(before.resources, during.resources)).length > 0, 'resources while running');
    assert.ok((during.uvHandles.get('timer') ?? 0) >= 1, 'libuv timers while running');
    assert.ok(liveTimersDuring > 0, `timers while running: ${liveTimersDuring}`);

    assert.equal(
      after.workers,
      before.workers,
      `worker threads left (before ${before.workers}, running ${during.workers})`,
    );
    assert.deepEqual(extra(before.resources, after.resources), {}, 'active resources beyond those before');
    assert.deepEqual(
      extra(before.uvHandles, after.uvHandles),
      {},
      'active libuv handles beyond those before',
    );
    assert.equal(liveTimersAfter, 0, 'timers created by the server and still pending');
  });

  it('closing while a personal session owner is connected starts no grace timer', async () => {
    await settle();
    const timers = trackTimers();
    const server = await startServer({ host: '127.0.0.1', port: 0, workers: 1, gracePeriodMs: 60_000 });
    let owner: Awaited<ReturnType<typeof connect>> | null = null;
    try {
      owner = await connect(server, 'personal=1');
      await owner.next('welcome');
      await owner.waitChunks(1);
      assert.equal(server.registry.all().filter((s) => s.personal).length, 1);
    } finally {
      await server.close();
    }
    assert.equal((await owner!.closed).code, 1001);
    await sleep(1100);
    await settle();
    const live = timers.live();
    const where = timers.where();
    timers.stop();
    assert.equal(live, 0, `timers left: ${where.join('\n')}`);
  });

  it('a server whose start fails (port in use) leaves no worker thread or timer behind', async () => {
    await settle();
    const before = snapshot();
    const timers = trackTimers();
    const first = await startServer({ host: '127.0.0.1', port: 0, workers: 1 });
    let failedStartWorkers = -1;
    try {
      await assert.rejects(
        startServer({ host: '127.0.0.1', port: first.port, workers: 1 }),
        /already in use/,
      );
      // Only the first server's worker is left running.
      failedStartWorkers = snapshot().workers - before.workers;
    } finally {
      await first.close();
    }
    await sleep(1100);
    await settle();
    const after = snapshot();
    const live = timers.live();
    const where = timers.where();
    timers.stop();
    assert.equal(
      failedStartWorkers,
      1,
      'worker threads right after the failed start (the first server has 1)',
    );
    assert.equal(after.workers, before.workers, 'worker threads left');
    assert.deepEqual(extra(before.resources, after.resources), {});
    assert.equal(live, 0, `timers left: ${where.join('\n')}`);
  });

  for (const kind of ['station', 'personal'] as const) {
    it(`RSS stays bounded over 1,000 ${kind === 'station' ? 'station' : 'personal session'} create/remove cycles`, async (t) => {
      const server = await startServer({ host: '127.0.0.1', port: 0, workers: 1, gracePeriodMs: 0 });
      try {
        const cycle = async (): Promise<void> => {
          const st = await server.registry.create({ personal: kind === 'personal' });
          if (kind === 'station') {
            server.registry.remove(st.id);
            return;
          }
          // The owner leaves: the grace period (0 ms here) ends the session by its timer.
          server.registry.ownerLeft(st);
          while (server.registry.get(st.id)) await sleep(1);
        };
        // Warm-up: heaps, JIT and the ring pool reach their working size.
        for (let i = 0; i < 400; i++) await cycle();
        fullGc();
        await sleep(100);
        const rss0 = process.memoryUsage().rss;
        for (let i = 0; i < 1000; i++) await cycle();
        const rss1 = process.memoryUsage().rss;
        // A full GC of this thread only clears this thread's garbage: the engine worker's heap, which
        // held the rings and encoders of removed stations before they were reused, is not touched.
        fullGc();
        await sleep(100);
        const rss2 = process.memoryUsage().rss;
        const mb = (x: number): string => (x / 2 ** 20).toFixed(1);
        t.diagnostic(
          `${kind}: RSS ${mb(rss0)} → ${mb(rss1)} MB (${mb(rss2)} after a main-thread GC): ` +
            `${((rss1 - rss0) / 1000 / 2 ** 20).toFixed(4)} MB per cycle`,
        );
        assert.equal(server.registry.size, 1, 'only the default station is left');
        assert.ok(rss2 - rss0 < 30 * 2 ** 20, `RSS grew ${mb(rss2 - rss0)} MB over 1,000 cycles`);
      } finally {
        await server.close();
      }
    });
  }
});
