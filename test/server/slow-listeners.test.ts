// Slow, stalled and paused listeners over real TCP sockets (docs/ARCHITECTURE.md "Bounded
// everything"): ring bytes are never sent after their slot is reused, lag behind live is bounded,
// and stalled clients are disconnected with bounded server memory.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { closeListenerSocket, type Listener } from '../../src/server/broadcast/listener.ts';
import { fakeListener } from './fake-listener.ts';
import { loadConfig, ConfigError } from '../../src/server/config.ts';
import type { AuralisServer } from '../../src/server/server.ts';
import { connect, sleep, withServer } from './helpers.ts';
import { openOgg, openWav, openWs, tcpMemBytes } from './raw-listeners.ts';

/** A short ring and short timeouts so buffers fill and bounds trip within seconds. */
const SMALL = {
  // The station renders whoever listens (never idle): these tests pause, drop and pin listeners of
  // a station that keeps publishing.
  idleAfterMs: 0,
  ringSeconds: 2,
  stallTimeoutMs: 1500,
  // 2 s ring − 400 ms render-ahead − 150 ms lead − 500 ms guard = 950 ms of the slowest stream.
  opusBitrate: 256_000,
  opusTiers: '256',
  mp3Bitrate: 320_000,
  listenerQueueBytes: 24 * 1024,
  httpBurstMs: 500,
};

async function metric(server: AuralisServer, line: RegExp): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let sum = 0;
  for (const l of text.split('\n')) {
    const m = line.exec(l);
    if (m) sum += Number(m[1]);
  }
  return sum;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
  return Date.now() - t0;
}

/** Published chunks of the default station (the ring's write count). */
function published(server: AuralisServer): number {
  return server.registry.get('default')!.engine.ring.published();
}

describe('paused readers never receive ring bytes after their slot was reused', () => {
  for (const variant of [
    { name: 'WebSocket PCM', kind: 'ws' as const, overrides: {} },
    { name: 'WebSocket PCM, user-space queues only', kind: 'ws' as const, overrides: { queueSampleMs: 0 } },
    { name: 'Ogg', kind: 'ogg' as const, overrides: {} },
  ]) {
    it(`${variant.name}: pause longer than the ring, then read at full speed: valid data or a clean close`, async () => {
      await withServer({ ...SMALL, ...variant.overrides }, async (server) => {
        const slots = server.registry.get('default')!.engine.ring.layout.slots;
        const l = variant.kind === 'ws' ? await openWs(server.port, 'pcm') : await openOgg(server.port);
        await sleep(500);
        l.pause();
        const pausedAt = published(server);
        const receivedAtPause = l.received;
        // Paused for far longer than the ring (2 s) while the server keeps publishing.
        await sleep(variant.kind === 'ws' ? 9_000 : 11_000);
        const publishedDuringPause = published(server) - pausedAt;
        assert.ok(
          publishedDuringPause > 3 * slots,
          `the server published ${publishedDuringPause} chunks (ring ${slots}) during the pause`,
        );
        l.resume();
        await waitFor('the stream to drain or close', () => l.closedAtMs > 0, 20_000).catch(() => 0);
        await sleep(1000);
        const checker = 'frames' in l ? l.frames : l.ogg;
        assert.deepEqual(checker.problems.slice(0, 5), [], 'no corrupted frame or page');
        assert.equal(checker.corrupt, 0);
        if ('frames' in l) {
          assert.ok(l.frames.chunks.length > 5, `${l.frames.chunks.length} chunks checked`);
        } else {
          assert.ok(l.ogg.audioPages > 5, `${l.ogg.audioPages} audio pages checked`);
        }
        assert.ok(l.received > receivedAtPause, 'data arrived after the pause');
        l.close();
      });
    });
  }
});

/**
 * A listener whose socket holds some bytes in user space that never reach the kernel (the write
 * callbacks never run), under the queue limit: the views it holds must not outlive their slots.
 */
function pinnedListener(): Listener & { kicked: string | null; writes: number } {
  const socket = {
    destroyed: false,
    writable: true,
    writableLength: 4096,
    write() {
      l.writes++;
      return true;
    },
    end() {
      throw new Error('end() would flush stale ring views later');
    },
    destroy() {
      socket.destroyed = true;
    },
    resetAndDestroy() {
      socket.destroyed = true;
    },
  };
  const l = fakeListener(socket, {
    transport: 'ogg' as const,
    kicked: null as string | null,
    writes: 0,
    kick(reason: string) {
      l.kicked = reason;
      l.closed = true;
      socket.destroyed = true;
    },
  });
  return l;
}

/** Per server socket (local port `port`): tx_queue bytes, read straight from /proc/net/tcp. */
async function serverTxQueues(port: number): Promise<number[]> {
  const out: number[] = [];
  for (const path of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(path, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '01') continue; // established only
      if (parseInt(f[1]!.split(':')[1]!, 16) !== port) continue;
      out.push(parseInt(f[4]!.split(':')[0]!, 16));
    }
  }
  return out;
}

/** The default 8 s ring; a 1 s lag bound, sampled every 200 ms, and a 1.5 s stall timeout. */
const LAG = { stallTimeoutMs: 1500, maxListenerLagMs: 1000, queueSampleMs: 200 };

describe('a paused WAV reader gets only PCM the station published, in order', () => {
  it('pauses until the kernel buffers fill, then reads: every 100 ms block is a published chunk, in order', async () => {
    await withServer(SMALL, async (server) => {
      const st = server.registry.get('default')!;
      // The reference: a WebSocket PCM listener that reads everything, chunk by chunk.
      const ref = await connect(server, 'codec=pcm');
      await ref.waitChunks(2);
      const parts: Buffer[] = [];
      const wav = await openWav(server.port, 'default', (b) => parts.push(Buffer.from(b)));
      await sleep(300);
      wav.pause();
      const listener = [...st.listeners].find((l) => l.transport === 'wav')!;
      let behind = false;
      const t0 = Date.now();
      // Long enough for loopback buffers to fill at 192 kB/s (about 4 MiB in the kernel, ~21 s here).
      while (Date.now() - t0 < 26_000) {
        await sleep(250);
        if (listener.skipped > 0 || listener.socket.writableLength > 0 || !st.listeners.has(listener))
          behind = true;
      }
      assert.ok(behind, 'precondition: the server fell behind for this reader (skipped or dropped it)');
      assert.ok(
        published(server) - 1 > listener.nextSeq + st.engine.ring.layout.slots,
        'paused longer than the ring',
      );
      wav.resume();
      await sleep(4000);
      ref.close();
      const all = Buffer.concat(parts);
      const bytesPerChunk = st.engine.chunkFrames * 4;
      const bySeq = new Map<number, Buffer>();
      const byStart = new Map<string, number>();
      for (const c of ref.chunks) {
        bySeq.set(c.header.sequence, c.payload);
        byStart.set(c.payload.subarray(0, 32).toString('hex'), c.header.sequence);
      }
      // Align on the first block that starts like a published chunk (the WAV header came before).
      const first = all.indexOf(ref.chunks[1]!.payload.subarray(0, 64));
      assert.ok(first >= 0, 'the reference chunks appear in the WAV stream');
      let ok = 0;
      let last = -1;
      const problems: string[] = [];
      for (let at = first % bytesPerChunk; at + bytesPerChunk <= all.length; at += bytesPerChunk) {
        const block = all.subarray(at, at + bytesPerChunk);
        const seq = byStart.get(block.subarray(0, 32).toString('hex'));
        if (seq === undefined || !bySeq.get(seq)!.equals(block)) {
          problems.push(`block at byte ${at} is not a published chunk`);
          continue;
        }
        if (seq <= last) problems.push(`chunk ${seq} after ${last}`);
        last = seq;
        ok++;
      }
      assert.deepEqual(problems.slice(0, 5), [], `${ok} blocks were published chunks`);
      assert.ok(ok >= 5, `${ok} blocks checked`);
      wav.close();
    });
  });
});

describe('slow and stalled listeners are detected within stated bounds', () => {
  it('a WebSocket reader at 30 % of its stream rate stays within a bounded lag, hearing flagged gaps', async () => {
    // The stall timeout is longer than the reader's drain bursts (on loopback its kernel opens the
    // window 64 KiB at a time, every ~1–2 s at this rate): it drains, so it must not count as stalled.
    await withServer({ ...LAG, stallTimeoutMs: 4000 }, async (server) => {
      const st = server.registry.get('default')!;
      const l = await openWs(server.port, 'pcm');
      await waitFor('the first chunk', () => l.frames.chunks.length > 0, 5000);
      await sleep(300);
      l.throttle(0.3 * 192_000);
      const lagAt: { t: number; lagMs: number }[] = [];
      let maxServerQueued = 0;
      const t0 = Date.now();
      while (Date.now() - t0 < 18_000 && st.listeners.size > 0) {
        await sleep(250);
        for (const q of await serverTxQueues(server.port)) maxServerQueued = Math.max(maxServerQueued, q);
        if (l.frames.lastSeq >= 0)
          lagAt.push({ t: Date.now() - t0, lagMs: (st.nextSeq - l.frames.lastSeq) * st.chunkMs });
      }
      const skipped = await metric(server, /^auralis_chunks_skipped_total\{transport="ws"\} (\d+)/);
      const dropped = await metric(server, /^auralis_listeners_dropped_total\{.*transport="ws".*\} (\d+)/);
      const flagged = l.frames.chunks.filter((c) => (c.flags & 1) === 1).length;
      const mean = (from: number, to: number): number => {
        const xs = lagAt.filter((x) => x.t >= from && x.t < to).map((x) => x.lagMs);
        return xs.reduce((a, b) => a + b, 0) / xs.length;
      };
      const desc =
        `lag behind live as the client sees it (ms, every second): ` +
        `${lagAt
          .filter((_, i) => i % 4 === 3)
          .map((x) => x.lagMs)
          .join(' ')}; server-side queue max ` +
        `${maxServerQueued} bytes; skipped ${skipped}, flagged ${flagged}, dropped ${dropped}`;
      console.log(desc);
      assert.equal(l.frames.corrupt, 0, l.frames.problems.slice(0, 3).join('; '));
      if (dropped === 0) {
        // Precondition: it really read slower than the stream (it was skipped, and heard flagged gaps).
        assert.ok(skipped > 0 && flagged > 0, desc);
        // Server side: maxListenerLagMs (1 s = 192 kB of PCM) + a chunk + one sample interval's writes.
        assert.ok(maxServerQueued < 1.6 * 192_000, desc);
        // The lag stopped growing: unbounded, it would grow by 0.7 s every second (4 s between these
        // windows). What the client's own buffers hold adds a few seconds that the server cannot see.
        assert.ok(mean(12_000, 18_000) - mean(6_000, 12_000) < 1500, desc);
        assert.ok(Math.max(...lagAt.map((x) => x.lagMs)) < 12_000, desc);
      } else {
        // Or it was disconnected (a reset, counted), never left to drift.
        assert.equal(st.listeners.size, 0, desc);
      }
      l.close();
    });
  });

  it('never-reading WAV listeners are disconnected within the bound, with bounded server-side queues', async () => {
    await withServer(LAG, async (server) => {
      const N = 60;
      const memBefore = await tcpMemBytes();
      const ls = await Promise.all(Array.from({ length: N }, () => openWav(server.port)));
      for (const l of ls) l.pause();
      const t0 = Date.now();
      let maxPerSocket = 0;
      let maxTotal = 0;
      let maxMem = 0;
      let sawQueued = false;
      const st = server.registry.get('default')!;
      await waitFor('every listener to join', () => st.listeners.size === N, 10_000);
      const leftAt: number[] = [];
      while (st.listeners.size > 0 && Date.now() - t0 < 30_000) {
        const tx = await serverTxQueues(server.port);
        let total = 0;
        for (const st of server.registry.all())
          for (const l of st.listeners) total += l.socket.writableLength;
        for (const q of tx) {
          total += q;
          maxPerSocket = Math.max(maxPerSocket, q);
          if (q > 64 * 1024) sawQueued = true;
        }
        maxTotal = Math.max(maxTotal, total);
        maxMem = Math.max(maxMem, await tcpMemBytes());
        while (leftAt.length < N - st.listeners.size) leftAt.push(Date.now() - t0);
        await sleep(100);
      }
      while (leftAt.length < N - st.listeners.size) leftAt.push(Date.now() - t0);
      const worst = st.listeners.size === 0 ? Math.max(...leftAt) : Infinity;
      // The reset reached the clients: once they read again, their sockets report it.
      for (const l of ls) l.resume();
      await waitFor(
        'the clients to see their connections reset',
        () => ls.every((l) => l.closedAtMs > 0),
        10_000,
      );
      const memAfter = await tcpMemBytes();
      const dropped = await metric(server, /^auralis_listeners_dropped_total\{.*transport="wav".*\} (\d+)/);
      const desc =
        `${N} listeners: last disconnected after ${worst} ms; server queues max ${maxPerSocket} bytes per ` +
        `socket, ${maxTotal} in all; sockstat TCP mem ${memBefore} → max ${maxMem} → ${memAfter} bytes`;
      console.log(desc);
      // Precondition: the kernel really queued data for them (they were not closed at once).
      assert.ok(sawQueued, `server-side queues filled; ${desc}`);
      // Stated bound: the client's receive window (≈ 128 KiB ≈ 0.7 s of WAV) + maxListenerLagMs (1 s)
      // + stallTimeoutMs (1.5 s) + a sample (0.2 s), ≈ 3.4 s; 20 s leaves room for a loaded machine.
      assert.ok(worst < 20_000, desc);
      assert.equal(dropped, N, `every one counted as dropped; ${desc}`);
      // Per socket: maxListenerLagMs of WAV (192 kB) + one sample's writes (38 kB) + a chunk (19 kB),
      // generously doubled; the kernel would otherwise take up to 4 MiB each.
      assert.ok(maxPerSocket < 500_000, desc);
      for (const l of ls) l.close();
    });
  });
});

describe('queued ring views are bounded by age', () => {
  it('a socket that holds ring views (under the byte limit) is reset before their slot is rewritten', async () => {
    await withServer({ ...SMALL, queueSampleMs: 0 }, async (server) => {
      const st = server.registry.get('default')!;
      const ring = st.engine.ring;
      const l = pinnedListener();
      l.nextSeq = st.nextSeq;
      st.listeners.add(l);
      const firstSeq = st.nextSeq;
      // Watch the ring: the slot of the first chunk queued is rewritten at firstSeq + slots.
      let rewrittenWhileHeld = false;
      const watch = setInterval(() => {
        if (!l.socket.destroyed && ring.published() > firstSeq + ring.layout.slots) rewrittenWhileHeld = true;
      }, 5);
      try {
        await waitFor('the listener to be dropped', () => l.kicked !== null, 10_000);
      } finally {
        clearInterval(watch);
      }
      assert.ok(l.writes >= 2, `it was written to (${l.writes} chunks) before it was dropped`);
      assert.equal(l.kicked, 'expired');
      assert.equal(
        rewrittenWhileHeld,
        false,
        'its oldest slot was not rewritten while it still held the view',
      );
      const dropped = await metric(server, /^auralis_listeners_dropped_total\{.*reason="expired".*\} (\d+)/);
      assert.equal(dropped, 1);
    });
  });
});

describe('kicking a listener never leaves ring views to be flushed later', () => {
  function fakeSocket(queued: number): Socket & { calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      destroyed: false,
      writableLength: queued,
      end: () => calls.push('end'),
      destroy: () => calls.push('destroy'),
      resetAndDestroy: () => calls.push('reset'),
    } as unknown as Socket & { calls: string[] };
  }

  it('ends gracefully only when nothing is queued; destroys otherwise; resets stalled ones', () => {
    const cases: [number, boolean, string][] = [
      [0, false, 'graceful'], // shutdown / station removed, empty queue: close frame or end()
      [1, false, 'destroy'], // shutdown / station removed with ring views queued
      [0, true, 'reset'], // stalled / expired: RST, the kernel drops its queue too
      [4096, true, 'reset'],
    ];
    for (const [queued, reset, want] of cases) {
      const socket = fakeSocket(queued);
      closeListenerSocket(socket, reset, () => socket.calls.push('graceful'));
      assert.deepEqual(socket.calls, [want], `queued ${queued}, reset ${reset}`);
    }
  });
});

describe('config: queued ring bytes must drain before their slot is reused', () => {
  it('refuses a listenerQueueBytes that holds more of a stream than the ring allows, naming the setting', () => {
    // 8 s ring − 400 ms render-ahead − 150 ms lead − 500 ms guard = 6.95 s; 256 KiB of Opus at
    // 96 kb/s (about 12.4 kB/s on a WebSocket) is 21 s.
    assert.throws(
      () => loadConfig({ listenerQueueBytes: 256 * 1024 }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.setting === 'listenerQueueBytes' &&
        /listenerQueueBytes \(262144 bytes\) holds \d+ ms of the ws-opus stream/.test(e.message),
    );
    // A shorter ring refuses the default queue; a faster stream makes it fit again.
    assert.throws(
      () => loadConfig({ ringSeconds: 2, stallTimeoutMs: 1500 }),
      (e: unknown) => e instanceof ConfigError && e.setting === 'listenerQueueBytes',
    );
    assert.equal(loadConfig({}).listenerQueueBytes, 64 * 1024);
    assert.equal(
      loadConfig({
        ringSeconds: 2,
        stallTimeoutMs: 1500,
        opusBitrate: 256_000,
        opusTiers: '256',
        mp3Bitrate: 320_000,
        listenerQueueBytes: 24 * 1024,
      }).ringSeconds,
      2,
    );
  });
});
