import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import type { AuralisServer } from '../../src/server/server.ts';
import { metricValue } from './bundle.ts';
import { connect, json, pcmToFloat, sleep, withServer } from './helpers.ts';
import { openSse } from './sse-client.ts';

const IDLE_AFTER_MS = 1000;
/** The documented bound for a listener's first audio (PROTOCOL.md), idle station or not. */
const FIRST_AUDIO_BOUND_MS = 300;

async function metrics(server: AuralisServer): Promise<string> {
  return (await fetch(`${server.url}/metrics`)).text();
}

/** Chunks rendered for the station so far, as the engine worker reported them (once a second). */
async function rendered(server: AuralisServer, id = 'default'): Promise<number> {
  const text = await metrics(server);
  return text.includes(`auralis_synthesis_seconds_count{station="${id}"}`)
    ? metricValue(text, `auralis_synthesis_seconds_count{station="${id}"}`)
    : 0;
}

async function state(server: AuralisServer, id = 'default'): Promise<string> {
  return (await json(server, 'GET', `/api/stations/${id}`)).body!.state as string;
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Asserts that the station renders nothing over 1.2 s (a worker stats report included). */
async function assertIdle(server: AuralisServer): Promise<void> {
  assert.equal(await state(server), 'idle');
  const st = server.registry.get('default')!;
  // The worker's stats (once a second) may still report chunks rendered before it went idle.
  await sleep(1100);
  const before = await rendered(server);
  const published = st.engine.ring.published();
  await sleep(1200);
  assert.equal(await rendered(server), before, 'no chunk rendered while idle');
  assert.equal(st.engine.ring.published(), published, 'nothing published while idle');
  const text = await metrics(server);
  assert.equal(metricValue(text, 'auralis_idle_stations'), 1);
  assert.ok(
    !text.includes('auralis_ring_buffered_seconds{station="default"}'),
    'no buffered series while idle',
  );
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200, 'an idle station is not degraded');
}

/** A listener wakes the station: first audio within the bound, on the grid, audible. */
async function listen(
  server: AuralisServer,
): Promise<{ close(): void; welcomeParams: Record<string, unknown> }> {
  const c = await connect(server, 'codec=pcm');
  const welcome = await c.next('welcome');
  const [first] = await c.waitChunks(1, 2000);
  const firstAudioMs = first!.arrivedMs - c.openedMs;
  assert.ok(firstAudioMs < FIRST_AUDIO_BOUND_MS, `first audio after ${firstAudioMs} ms`);
  const chunks = await c.waitChunks(15, 5000);
  const firstSeq = chunks[0]!.header.sequence;
  const welcomeSeq = (welcome.position as number) / 4800;
  assert.ok(
    firstSeq - welcomeSeq >= 0 && firstSeq - welcomeSeq <= 1,
    `first ${firstSeq}, welcome ${welcomeSeq}`,
  );
  for (const [i, ch] of chunks.entries()) {
    assert.equal(ch.header.sequence, firstSeq + i, 'consecutive');
    assert.equal(ch.header.positionFrames, ch.header.sequence * 4800, 'position on the grid');
  }
  // Audible from the first chunk on (the warm-up settled the notes still sounding).
  let sum = 0;
  let n = 0;
  for (const ch of chunks.slice(0, 10)) {
    const { l, r } = pcmToFloat(ch.payload);
    for (let i = 0; i < l.length; i++) sum += l[i]! * l[i]! + r[i]! * r[i]!;
    n += 2 * l.length;
  }
  const rms = Math.sqrt(sum / n);
  assert.ok(rms > 0.003, `audible after the wake-up (rms ${rms})`);
  assert.equal(await state(server), 'live');
  return { close: () => c.close(), welcomeParams: welcome.params as Record<string, unknown> };
}

describe('lazy stations', () => {
  it('idle with no listener, woken by a WebSocket listener within the first-audio bound, idle again after the grace; changes while idle apply', async () => {
    await withServer({ idleAfterMs: IDLE_AFTER_MS }, async (server) => {
      await sleep(300);
      // A now-playing event stream does not wake it; what sounds is known without synthesis.
      const sse = await openSse(server, '/api/stations/default/now');
      try {
        const first = await sse.next((e) => e.event === 'now', 5000, 'the initial now event');
        assert.ok(first.data.includes('"chord"'), first.data);
        await assertIdle(server);
        const now = (await json(server, 'GET', '/api/stations/default/now')).body!;
        assert.equal(typeof now.chord, 'string', 'an idle station names the chord sounding on its clock');
      } finally {
        sse.destroy();
      }

      const a = await listen(server);
      const before = await rendered(server);
      await sleep(1200);
      assert.ok((await rendered(server)) > before + 5, 'a live station renders (the metric counts)');
      a.close();
      // Within the grace it stays live (a reconnecting player finds it warm), then goes idle.
      await sleep(IDLE_AFTER_MS / 2);
      assert.equal(await state(server), 'live');
      await until(
        'the station to go idle',
        IDLE_AFTER_MS + 3000,
        async () => (await state(server)) === 'idle',
      );
      await assertIdle(server);

      // A change made while idle is applied by the worker and heard once someone listens.
      const r = await json(server, 'PATCH', '/api/stations/default', { bpm: 63, mode: 'lydian' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const body = r.body as { params: Record<string, unknown>; effectiveAt: number };
      assert.equal(body.params.bpm, 63);
      assert.ok(body.effectiveAt >= server.registry.get('default')!.positionFrames - 4800, 'not in the past');
      assert.equal(await state(server), 'idle', 'a change does not wake the station');
      const b = await listen(server);
      assert.equal(b.welcomeParams.bpm, 63);
      assert.equal(b.welcomeParams.mode, 'lydian');
      b.close();
    });
  });

  it('an HTTP Ogg listener wakes it; a worker restart keeps an idle station idle and it wakes after it', async () => {
    await withServer({ idleAfterMs: IDLE_AFTER_MS }, async (server) => {
      await sleep(300);
      assert.equal(await state(server), 'idle');
      const got: Buffer[] = [];
      const t0 = Date.now();
      let firstAudioMs = -1;
      const req = request(`${server.url}/stream/default.ogg`);
      const done = new Promise<void>((resolve) => {
        req.on('response', (res) => {
          res.on('data', (d: Buffer) => {
            got.push(d);
            // The header pages come at once; an audio page has granule > 0.
            const all = Buffer.concat(got);
            let at = all.indexOf('OggS');
            while (at >= 0 && firstAudioMs < 0) {
              if (at + 14 <= all.length && all.readBigInt64LE(at + 6) > 0n) firstAudioMs = Date.now() - t0;
              at = all.indexOf('OggS', at + 4);
            }
            if (firstAudioMs >= 0) resolve();
          });
        });
        req.on('error', () => resolve());
      });
      req.end();
      await done;
      assert.ok(firstAudioMs >= 0 && firstAudioMs < 1000, `first Ogg audio page after ${firstAudioMs} ms`);
      assert.equal(await state(server), 'live');
      req.destroy();
      await until(
        'the station to go idle',
        IDLE_AFTER_MS + 3000,
        async () => (await state(server)) === 'idle',
      );

      // The worker dies while the station is idle: the restarted worker keeps it idle.
      const restarts = server.engine.restarts;
      server.engine.crashWorker('default');
      await until('the worker restart', 10_000, async () => server.engine.restarts === restarts + 1);
      await sleep(300);
      await assertIdle(server);
      const c = await listen(server);
      c.close();
    });
  });

  it('idleAfterMs 0: every station renders all the time (the old behaviour)', async () => {
    await withServer({ idleAfterMs: 0 }, async (server) => {
      await sleep(300);
      assert.equal(await state(server), 'live');
      assert.ok(server.registry.get('default')!.engine.ring.published() > 0, 'rendered without a listener');
      assert.equal(metricValue(await metrics(server), 'auralis_idle_stations'), 0);
    });
  });
});
