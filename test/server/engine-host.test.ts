import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setWallJumpMs } from '../../src/engine/clock.ts';
import { EngineHost } from '../../src/engine/engine-host.ts';
import { DEFAULT_PARAMS } from '../../src/music/params.ts';
import { connect, json, sleep, withServer } from './helpers.ts';

const OPTIONS = {
  workers: 1,
  chunkFrames: 4800,
  ringSlots: 80,
  leadMs: 150,
  renderAheadMs: 400,
  opusBitrate: 96_000,
  opusComplexity: 5,
};

/** Resolves with how the promise settled, or 'pending' if it did not within `ms`. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<'resolved' | 'rejected' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((r) => (timer = setTimeout(() => r('pending'), ms)));
  try {
    return await Promise.race([
      p.then(
        () => 'resolved' as const,
        () => 'rejected' as const,
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('engine host', () => {
  it('close() rejects the requests still waiting for a worker, promptly', async () => {
    const host = new EngineHost(OPTIONS);
    await host.start();
    let closed = false;
    try {
      const st = await host.addStation('a', 1, DEFAULT_PARAMS);
      assert.equal(st.id, 'a');
      // Both are waiting for the worker's answer when close() is called.
      const adding = host.addStation('b', 2, DEFAULT_PARAMS);
      const changing = host.change('a', { bpm: 60 });
      adding.catch(() => {});
      changing.catch(() => {});
      await host.close();
      closed = true;
      // Well under the 5 s reply timeout: the rejection comes from close(), not from a timer.
      assert.equal(await settledWithin(adding, 1000), 'rejected');
      assert.equal(await settledWithin(changing, 1000), 'rejected');
      await assert.rejects(adding, /closed/);
      // After close(), new requests are refused at once too.
      await assert.rejects(host.addStation('c', 3, DEFAULT_PARAMS), /closed/);
    } finally {
      if (!closed) await host.close();
    }
  });

  it('a PATCH sent just after its worker crashed is applied once the worker is back', async () => {
    await withServer({}, async (server) => {
      const c = await connect(server, 'codec=pcm');
      await c.next('welcome');
      await c.waitChunks(3);
      const before = server.engine.restarts;
      server.engine.crashWorker('default');
      await sleep(5);
      const t0 = Date.now();
      const r = await json(server, 'PATCH', '/api/stations/default', { bpm: 61, mode: 'dorian' });
      const elapsedMs = Date.now() - t0;
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const body = r.body as { params: Record<string, unknown>; effectiveAt: number };
      assert.equal(body.params.bpm, 61);
      assert.equal(body.params.mode, 'dorian');
      // The reply waited for the restart (the crash did happen), not for a 5 s timeout.
      assert.ok(elapsedMs < 4500, `answered after ${elapsedMs} ms`);
      assert.equal(server.engine.restarts, before + 1, 'the worker was restarted');
      // What is stored is what the worker plays.
      const engineParams = server.engine.station('default')!.params;
      assert.equal(engineParams.bpm, 61);
      assert.equal(engineParams.mode, 'dorian');
      const st = await json(server, 'GET', '/api/stations/default');
      assert.equal((st.body!.params as Record<string, unknown>).bpm, 61);
      const p = await c.next('params');
      assert.equal(p.effectiveAt, body.effectiveAt);
      c.close();
    });
  });

  it("reuses a removed station's ring once its worker confirmed, and the new station starts clean", async () => {
    await withServer({}, async (server) => {
      const a = await server.registry.create({ id: 'a' });
      const ringA = a.engine.ring;
      const ca = await connect(server, 'station=a&codec=pcm');
      await ca.waitChunks(3);
      ca.close();
      await ca.closed;
      for (let i = 0; i < 100 && a.listeners.size > 0; i++) await sleep(10);
      assert.equal(a.listeners.size, 0, 'the listener left');
      assert.ok(ringA.published() > 3);
      server.registry.remove('a');
      const host = server.engine as EngineHost;
      for (let i = 0; i < 200 && host.ringPoolStats().free === 0; i++) await sleep(10);
      assert.equal(host.ringPoolStats().free, 1, 'the ring is back in the pool');
      const b = await server.registry.create({ id: 'b' });
      assert.equal(b.engine.ring.sab, ringA.sab, 'the same memory serves the new station');
      const cb = await connect(server, 'station=b&codec=pcm');
      const welcome = await cb.next('welcome');
      const chunks = await cb.waitChunks(6);
      // Its own sequence from its own start: nothing of station a's chunks.
      assert.ok(chunks[0]!.header.sequence <= 2, `first sequence ${chunks[0]!.header.sequence}`);
      for (let i = 1; i < chunks.length; i++)
        assert.equal(chunks[i]!.header.sequence, chunks[i - 1]!.header.sequence + 1);
      assert.ok(chunks[0]!.header.positionFrames <= (welcome.position as number) + 2 * 4800);
      cb.close();
    });
  });

  // The second case: an NTP step or `date -s` two hours forward after the removal (the ring's hold
  // is on the monotonic clock, so it does not end early).
  for (const jumpMs of [0, 2 * 3600_000]) {
    it(`does not reuse the ring of a station removed while listeners were attached (one ring length)${jumpMs ? ', even after a step of the wall clock' : ''}`, async () => {
      await withServer({}, async (server) => {
        const a = await server.registry.create({ id: 'a' });
        const ringA = a.engine.ring;
        const ca = await connect(server, 'station=a&codec=opus');
        await ca.waitChunks(2);
        server.registry.remove('a');
        assert.equal((await ca.closed).code, 4404);
        const host = server.engine as EngineHost;
        for (let i = 0; i < 200 && host.ringPoolStats().retiring > 0; i++) await sleep(10);
        assert.equal(host.ringPoolStats().retiring, 0, 'the worker confirmed the removal');
        assert.equal(host.ringPoolStats().free, 1, 'the ring waits in the pool');
        try {
          setWallJumpMs(jumpMs);
          const b = await server.registry.create({ id: 'b' });
          assert.notEqual(b.engine.ring.sab, ringA.sab, 'a ring listeners may still read is not rewritten');
        } finally {
          setWallJumpMs(0);
        }
      });
    });
  }

  it('a change a hung worker does not take within 5 s is refused (NOT_READY), never applied later', async () => {
    await withServer({}, async (server) => {
      const host = server.engine as EngineHost;
      const before = { ...host.station('default')!.params };
      const restarts = host.restarts;
      host.hangWorker('default', 8000);
      const t0 = Date.now();
      const r = await json(server, 'PATCH', '/api/stations/default', { bpm: before.bpm === 99 ? 98 : 99 });
      const elapsedMs = Date.now() - t0;
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal((r.body!.error as Record<string, unknown>).code, 'NOT_READY');
      assert.match((r.body!.error as Record<string, unknown>).message as string, /nothing was applied/);
      assert.ok(elapsedMs >= 4000 && elapsedMs < 8000, `answered after ${elapsedMs} ms`);
      // The hung worker was replaced; the station plays, and reports, what it had.
      for (let i = 0; i < 100 && host.restarts === restarts; i++) await sleep(50);
      assert.equal(host.restarts, restarts + 1, 'the hung worker was restarted');
      const c = await connect(server, 'codec=pcm');
      await c.waitChunks(3);
      const st = await json(server, 'GET', '/api/stations/default');
      assert.equal((st.body!.params as Record<string, unknown>).bpm, before.bpm);
      assert.equal(host.station('default')!.params.bpm, before.bpm);
      c.close();
    });
  });

  it('a station start a busy worker does not answer in 5 s is refused (NOT_READY) and leaves nothing rendering', async () => {
    await withServer({}, async (server) => {
      const host = server.engine as EngineHost;
      host.hangWorker('default', 6500);
      const t0 = Date.now();
      const r = await json(server, 'POST', '/api/stations', { id: 'late' });
      const elapsedMs = Date.now() - t0;
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal((r.body!.error as Record<string, unknown>).code, 'NOT_READY');
      assert.ok(elapsedMs >= 4000, `answered after ${elapsedMs} ms`);
      assert.equal(server.registry.get('late'), undefined);
      // Once the worker is back it reports what it renders: the default station, not the refused one.
      const reported = await new Promise<string[]>((resolve) => {
        host.on('stats', function onStats(stats: { id: string }[]) {
          if (!stats.some((s) => s.id === 'default')) return;
          host.off('stats', onStats);
          resolve(stats.map((s) => s.id));
        });
      });
      // A second report, after the worker handled everything queued while it was busy.
      const later = await new Promise<string[]>((resolve) => {
        host.once('stats', (stats: { id: string }[]) => resolve(stats.map((s) => s.id)));
      });
      assert.ok(reported.includes('default'));
      assert.deepEqual(later, ['default'], 'the refused station is not rendered');
    });
  });
});
