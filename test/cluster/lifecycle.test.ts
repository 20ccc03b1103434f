// The lifecycle contract for the origin and edge roles: an origin and an edge started in this
// process over a real Redis, used (listeners, a change, a station created and removed) and closed,
// leave no handle, request or worker thread behind (their Redis connections, timers and read loop
// included, and a schedule gliding on the origin).
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { test } from 'node:test';
import { startServer } from '../../src/server/server.ts';
import { connect, json } from '../server/helpers.ts';
import { extra, settle, snapshot } from '../server/resources.ts';
import { freePort, startRedis, waitFor, type Proc } from './processes.ts';

test('an origin and an edge close everything they opened', async () => {
  const port = await freePort();
  const redis: Proc = await startRedis(port, 'lifecycle-secret');
  try {
    await settle();
    const before = snapshot();
    // Timers created from here on and still pending at the end (the test's own fetch() and Node's
    // HTTP Date-header cache are not the servers').
    const live = new Map<number, string>();
    const hook = createHook({
      init(id, type) {
        if (type !== 'Timeout') return;
        const stack = new Error().stack!;
        if (!stack.includes('undici') && !stack.includes('utcDate'))
          live.set(id, stack.split('\n').slice(2, 9).join(' | '));
      },
      destroy(id) {
        live.delete(id);
      },
    }).enable();
    const redisUrl = `redis://:lifecycle-secret@127.0.0.1:${port}`;
    const origin = await startServer({ port: 0, workers: 1, role: 'origin', redisUrl });
    const edge = await startServer({ port: 0, workers: 1, role: 'edge', redisUrl });
    let during: ReturnType<typeof snapshot>;
    try {
      const c = await connect(edge, 'codec=opus');
      await c.waitChunks(5, 10_000);
      assert.equal((await json(edge, 'PATCH', '/api/stations/default', { bpm: 60 })).status, 200);
      // A schedule the origin runs, its glide under way when it closes. Two minutes in 60 steps: the
      // first step is due 2 s after the origin reads the schedule (a 10-minute glide's first step
      // came 10 s later, the whole wait below, and a loaded CI machine missed it).
      const put = await json(edge, 'PUT', '/api/stations/default/schedule', {
        timeZone: 'UTC',
        glideMinutes: 2,
        entries: [{ at: '00:00', preset: 'sleep' }],
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body!.gliding, true);
      await waitFor(
        'the origin started the glide',
        () => c.texts.some((m) => m.type === 'params' && m.source === 'schedule'),
        20_000,
      );
      assert.equal((await json(edge, 'POST', '/api/stations', { id: 'temp', preset: 'focus' })).status, 201);
      const t = await connect(edge, 'station=temp');
      await t.waitChunks(2, 10_000);
      assert.equal((await json(edge, 'DELETE', '/api/stations/temp')).status, 204);
      assert.equal((await t.closed).code, 4404);
      const metrics = await (await fetch(`${edge.url}/metrics`)).text();
      assert.match(metrics, /^auralis_redis_up 1$/m);
      assert.match(metrics, /^auralis_redis_chunks_total\{direction="received"\} [1-9]/m);
      during = snapshot();
    } finally {
      await edge.close();
      await origin.close();
    }
    await settle();
    hook.disable();
    const after = snapshot();
    assert.ok(Object.keys(extra(before.resources, during.resources)).length > 0, 'resources while running');
    assert.deepEqual(extra(before.resources, after.resources), {}, 'active resources beyond those before');
    assert.deepEqual([...live.values()], [], 'timers left pending');
    assert.equal(after.workers, before.workers, 'worker threads');
  } finally {
    await redis.kill();
  }
});
