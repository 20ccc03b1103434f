import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListenerFlow, type Listener } from '../../src/server/broadcast/listener.ts';
import { fakeListener } from './fake-listener.ts';
import {
  CALM_CHUNKS,
  CALM_FACTOR,
  parseProcNetTcp,
  parseProcNetTcpSlice,
  QueueSampler,
} from '../../src/server/broadcast/queue-sampler.ts';

const HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
function line(sl: number, tx: number, inode: number): string {
  const hex = tx.toString(16).toUpperCase().padStart(8, '0');
  return `  ${sl}: 0100007F:1F40 0100007F:D2F0 01 ${hex}:00000000 01:00000014 00000000     0        0 ${inode} 1 0000000000000000 20 4 30 10 -1\n`;
}

function wavListener(inode: number): Listener {
  const flow = new ListenerFlow();
  flow.inode = inode;
  return fakeListener({ writableLength: 0 }, { transport: 'wav', flow, kick() {} });
}

describe('/proc/net/tcp parsing', () => {
  it('finds each socket line with its tx_queue (hex) and inode, in slices cut anywhere', () => {
    const text = HEADER + line(0, 0, 1001) + line(1, 0x2f000, 1002) + line(2, 4194304, 1003) + line(3, 7, 0);
    const buf = Buffer.from(text);
    const whole = new Map<number, number>();
    assert.equal(
      parseProcNetTcp(buf, (inode, tx) => whole.set(inode, tx)),
      4,
    );
    assert.deepEqual(
      [...whole],
      [
        [1001, 0],
        [1002, 0x2f000],
        [1003, 4194304],
      ],
    );
    for (const step of [1, 7, 50, 151, 1000]) {
      const sliced = new Map<number, number>();
      let at = 0;
      let lines = 0;
      while (at < buf.length) {
        const r = parseProcNetTcpSlice(buf, at, at + step, (inode, tx) => sliced.set(inode, tx));
        lines += r.lines;
        at = r.end;
      }
      assert.equal(lines, 4, `slices of ${step} bytes`);
      assert.deepEqual([...sliced], [...whole], `slices of ${step} bytes`);
    }
  });

  it('sets each registered listener its kernel queue, and 0 once its socket is no longer listed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'auralis-tcp-'));
    try {
      const path = join(dir, 'tcp');
      writeFileSync(path, HEADER + line(0, 5000, 11) + line(1, 9, 12) + line(2, 77, 13));
      const sampled: number[] = [];
      const sampler = new QueueSampler({
        intervalMs: 60_000,
        paths: [path],
        onSampled: (l) => sampled.push(l.flow.inode),
      });
      const a = wavListener(11);
      const b = wavListener(12);
      sampler.add(a);
      sampler.add(b);
      await sampler.sample();
      assert.equal(a.flow.kernelQueued, 5000);
      assert.equal(b.flow.kernelQueued, 9);
      assert.deepEqual(sampled.sort(), [11, 12]);
      writeFileSync(path, HEADER + line(0, 6000, 11));
      await sampler.sample();
      assert.equal(a.flow.kernelQueued, 6000);
      assert.equal(b.flow.kernelQueued, 0, 'a socket that left the table holds nothing');
      sampler.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('samples right after a fan-out when one is due, and on its own timer only when no fan-out comes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'auralis-tcp-'));
    const sampler = new QueueSampler({ intervalMs: 200, paths: [join(dir, 'tcp')] });
    try {
      writeFileSync(join(dir, 'tcp'), HEADER + line(0, 5000, 31));
      const a = wavListener(31);
      sampler.add(a);
      const settled = async (): Promise<void> => {
        for (let i = 0; i < 100 && a.flow.kernelQueued === 0; i++) await sleep(5);
      };
      sampler.afterFanout();
      await settled();
      assert.equal(sampler.samples, 1, 'the first fan-out starts a sample');
      assert.equal(a.flow.kernelQueued, 5000);
      a.flow.kernelQueued = 0;
      sampler.afterFanout();
      await sleep(50);
      assert.equal(sampler.samples, 1, 'none again before the interval has passed');
      assert.equal(a.flow.kernelQueued, 0);
      await sleep(200);
      sampler.afterFanout();
      await settled();
      assert.equal(sampler.samples, 2, 'the next fan-out after the interval starts the next');
      // No fan-out any more: the timer samples, after two intervals (at least 400 ms).
      const t0 = performance.now();
      a.flow.kernelQueued = 0;
      for (let i = 0; i < 400 && sampler.samples < 3; i++) await sleep(5);
      assert.equal(sampler.samples, 3, 'the timer took over');
      assert.ok(performance.now() - t0 >= 150, 'not before the fan-outs had stopped for a while');
    } finally {
      sampler.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads only the files that list its listeners, and samples less often while every queue is calm', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'auralis-tcp-'));
    const v4 = join(dir, 'tcp');
    const v6 = join(dir, 'tcp6');
    const sampler = new QueueSampler({ intervalMs: 500, paths: [v4, v6] });
    try {
      writeFileSync(v4, HEADER + line(0, 100, 41));
      writeFileSync(v6, HEADER + line(0, 0, 99));
      const a = wavListener(41);
      a.flow.chunkBytes = 1200;
      sampler.add(a);
      await sampler.sample();
      assert.equal(sampler.lastFilesRead, 2, 'a new listener: every file is read');
      assert.equal(a.flow.kernelQueued, 100);
      assert.equal(sampler.currentIntervalMs, 500 * CALM_FACTOR, 'a queue of 100 bytes is calm');
      // The listener lives in the first file: the second is not read again…
      writeFileSync(v4, HEADER + line(0, 200, 41));
      await sampler.sample();
      assert.equal(sampler.lastFilesRead, 1);
      assert.equal(a.flow.kernelQueued, 200);
      // …until a new listener comes (found in the second file).
      const b = wavListener(99);
      sampler.add(b);
      assert.equal(sampler.currentIntervalMs, 500, 'a new listener ends the calm');
      await sampler.sample();
      assert.equal(sampler.lastFilesRead, 2);
      await sampler.sample();
      assert.equal(sampler.lastFilesRead, 2, 'both files list a listener now');
      sampler.remove(b);
      await sampler.sample();
      await sampler.sample();
      assert.equal(sampler.lastFilesRead, 1);
      // A reader that stops: its kernel queue grows past CALM_CHUNKS chunks, sampling speeds up.
      writeFileSync(v4, HEADER + line(0, (CALM_CHUNKS + 1) * 1200, 41));
      await sampler.sample();
      assert.equal(sampler.currentIntervalMs, 500);
      // Every FULL_READ_EVERY-th sample reads every file whatever the last ones found.
      let full = 0;
      for (let i = 0; i < 16; i++) {
        await sampler.sample();
        if (sampler.lastFilesRead === 2) full++;
      }
      assert.equal(full, 2);
    } finally {
      sampler.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without /proc/net/tcp it says so once and leaves kernel queues at 0', async () => {
    const told: string[] = [];
    const sampler = new QueueSampler({
      intervalMs: 60_000,
      paths: ['/nonexistent/auralis/tcp'],
      onUnavailable: (m) => told.push(m),
    });
    const a = wavListener(21);
    a.flow.kernelQueued = 123;
    sampler.add(a);
    assert.equal(sampler.size, 1, 'registered before the first sample');
    await sampler.sample();
    await sampler.sample();
    assert.equal(told.length, 1);
    assert.match(told[0]!, /user-space queues only/);
    assert.equal(sampler.available, false);
    assert.equal(a.flow.kernelQueued, 0);
    sampler.close();
  });
});
