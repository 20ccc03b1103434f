// Ring safety with a blocked event loop (docs/ARCHITECTURE.md, "Slow, stalled and paused
// listeners"): a socket's user-space queue holds views of the shared ring, the main thread then
// blocks for longer than the ring (right after a fan-out, before Node could flush any socket, as an
// overloaded fan-out on a starved core does) while the engine worker keeps running, and the reader
// reads again meanwhile. Every byte it gets must be exactly what the pacer meant to send: the
// worker must not rewrite a slot whose bytes a socket may still send.
//
// The listener is a WebSocket PCM listener of the real pacer whose socket is a Unix stream socket:
// its kernel buffer (about 200 KB) fills in about a second, where a paused TCP peer on loopback
// takes up to 4 MiB (20 s of PCM) before Node queues anything in user space. The pacer, the ring,
// the worker and Node's write queue are the same for both.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readFrameHeader } from '../../src/codec/frame-header.ts';
import { ListenerFlow, type Listener } from '../../src/server/broadcast/listener.ts';
import type { AuralisServer } from '../../src/server/server.ts';
import { json, sleep, withServer } from './helpers.ts';

const RING_SECONDS = 2;
const STALL_MS = RING_SECONDS * 1000 + 2000;
/** Byte of the 32-byte chunk header holding the flags (the pacer may set the discontinuity bit). */
const FLAGS_AT = 3;

async function metric(server: AuralisServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let sum = 0;
  for (const l of text.split('\n'))
    if (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) sum += Number(l.split(' ').pop());
  return sum;
}

/** One WebSocket frame of the server's stream (unmasked), or a description of what broke the framing. */
interface Frame {
  opcode: number;
  payloadAt: number;
  length: number;
}

function parseFrames(b: Buffer): { frames: Frame[]; error: string | null; rest: number } {
  const frames: Frame[] = [];
  let at = 0;
  while (at + 2 <= b.length) {
    const b0 = b[at]!;
    const b1 = b[at + 1]!;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) return { frames, error: `reserved bits set at byte ${at}`, rest: b.length - at };
    if ((b0 & 0x80) === 0) return { frames, error: `fragmented frame at byte ${at}`, rest: b.length - at };
    if (![1, 2, 8, 9, 10].includes(opcode))
      return {
        frames,
        error: `unknown opcode ${opcode} at byte ${at} (after ${frames.length} frames)`,
        rest: b.length - at,
      };
    if (b1 & 0x80) return { frames, error: `masked server frame at byte ${at}`, rest: b.length - at };
    let len = b1 & 0x7f;
    let head = 2;
    if (len === 126) {
      if (at + 4 > b.length) break;
      len = b.readUInt16BE(at + 2);
      head = 4;
    } else if (len === 127) {
      if (at + 10 > b.length) break;
      if (b.readUInt32BE(at + 2) !== 0)
        return { frames, error: `huge frame at byte ${at}`, rest: b.length - at };
      len = b.readUInt32BE(at + 6);
      head = 10;
    }
    if (at + head + len > b.length) break;
    frames.push({ opcode, payloadAt: at + head, length: len });
    at += head + len;
  }
  return { frames, error: null, rest: b.length - at };
}

describe('a queued ring view survives a main thread blocked for longer than the ring', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('every frame the client receives is byte for byte the chunk its header names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'auralis-ringsafe-'));
    dirs.push(dir);
    const outFile = join(dir, 'stream.bin');
    await withServer(
      {
        idleAfterMs: 0,
        ringSeconds: RING_SECONDS,
        stallTimeoutMs: 1500,
        // 2 s ring − 400 ms render-ahead − 150 ms lead − 500 ms guard = 950 ms of the slowest stream.
        opusBitrate: 256_000,
        opusTiers: '256',
        mp3Bitrate: 320_000,
        listenerQueueBytes: 24 * 1024,
        httpBurstMs: 500,
        // No lag bound to speak of: writes go on until the kernel's send buffer is full, then views
        // queue in user space (the ring-age rule still applies).
        maxListenerLagMs: 60_000,
        faultInjection: 'on',
      },
      async (server) => {
        const st = server.registry.get('default')!;
        const ring = st.engine.ring;
        // Reference copies of every PCM frame, taken from the ring soon after it is published
        // (the slot's sequence number is checked after the copy, so a copy is never of a reused slot).
        const reference = new Map<number, Buffer>();
        let recorded = ring.published();
        const record = (): void => {
          const end = ring.published();
          for (let seq = Math.max(recorded, end - ring.layout.slots + 2); seq < end; seq++) {
            if (!ring.has(seq)) continue;
            const start = ring.pcmFrameStart(seq);
            const copy = Buffer.from(ring.bytes.subarray(start, start + ring.pcmFrameLength(seq)));
            if (ring.has(seq) && ring.published() < seq + ring.layout.slots) reference.set(seq, copy);
          }
          recorded = end;
        };
        const recorder = setInterval(record, 10);
        // The server side of the listener's socket, accepted here; the reader connects to it.
        const path = join(dir, 'listener.sock');
        let listener: Listener | null = null;
        const accept = net.createServer((socket) => {
          const l: Listener = {
            transport: 'ws',
            codec: 'pcm',
            socket,
            flow: new ListenerFlow(),
            nextSeq: st.nextSeq,
            discontinuity: false,
            overSinceMs: 0,
            skipped: 0,
            sent: 0,
            closed: false,
            kick() {
              l.closed = true;
              socket.destroy();
            },
          };
          socket.on('close', () => st.listeners.delete(l));
          socket.on('error', () => {});
          st.listeners.add(l);
          listener = l;
        });
        await new Promise<void>((resolve) => accept.listen(path, resolve));
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            fileURLToPath(new URL('./ring-safety-client.ts', import.meta.url)),
            path,
            outFile,
          ],
          { stdio: ['pipe', 'pipe', 'inherit'] },
        );
        let out = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (t: string) => (out += t));
        const childLine = async (line: string, timeoutMs: number): Promise<void> => {
          const t0 = Date.now();
          while (!out.split('\n').includes(line)) {
            if (Date.now() - t0 > timeoutMs)
              throw new Error(`the reader did not say ${line} (it said ${JSON.stringify(out)})`);
            await sleep(20);
          }
        };
        try {
          await childLine('connected', 20_000);
          // Wait until a view sits in the listener's user-space queue (the kernel buffer is full).
          const t0 = Date.now();
          const queued = (): boolean => {
            const l = listener as Listener | null;
            return l !== null && !l.closed && l.socket.writableLength > 0 && l.flow.lowSeq >= 0;
          };
          while (!queued()) {
            if (Date.now() - t0 > 15_000) throw new Error('no ring view was ever queued in user space');
            await sleep(5);
          }
          const l = listener as unknown as Listener;
          const queuedSeq = l.flow.lowSeq;
          assert.ok(reference.has(queuedSeq), `the queued chunk ${queuedSeq} was recorded`);
          const waitsBefore = await metric(server, 'auralis_ring_overwrite_waits_total');
          // The client reads again in the middle of the stall, so the kernel has room when it ends.
          await new Promise<void>((resolve) =>
            child.stdin.write(`resume ${STALL_MS / 4}\n`, () => resolve()),
          );
          const r = await json(server, 'POST', '/debug/fault', {
            fault: 'stall-loop',
            ms: STALL_MS,
            at: 'fan-out',
          });
          assert.equal(r.status, 200, JSON.stringify(r.body));
          // The stall happens at the next fan-out; then the stream goes on for a while.
          const stallT0 = Date.now();
          while (Date.now() - stallT0 < STALL_MS) await sleep(100);
          await sleep(2000);
          const waits = (await metric(server, 'auralis_ring_overwrite_waits_total')) - waitsBefore;
          child.stdin.write('finish\n');
          await childLine('done', 10_000);
          clearInterval(recorder);

          const stream = await readFile(outFile);
          const { frames, error } = parseFrames(stream);
          assert.equal(error, null, `the stream's WebSocket framing broke: ${error}`);
          let lastSeq = -1;
          let checked = 0;
          let sawQueued = false;
          const seqs: number[] = [];
          for (const f of frames) {
            if (f.opcode !== 2) continue;
            assert.ok(f.length >= 32, `a binary frame of ${f.length} bytes has no chunk header`);
            const payload = stream.subarray(f.payloadAt, f.payloadAt + f.length);
            const h = readFrameHeader(payload);
            assert.ok(h.sequence > lastSeq, `chunk ${h.sequence} came after ${lastSeq}`);
            lastSeq = h.sequence;
            seqs.push(h.sequence);
            assert.equal(h.frames * 4, f.length - 32, `chunk ${h.sequence}: header length vs frame length`);
            assert.equal(h.flags & ~1, 0, `chunk ${h.sequence}: unknown flags ${h.flags}`);
            const ref = reference.get(h.sequence);
            if (!ref) continue;
            // The reference is the whole ring frame (WebSocket header + chunk); compare the payload.
            const refPayload = ref.subarray(ref.length - f.length);
            assert.equal(refPayload.length, f.length);
            payload[FLAGS_AT] = payload[FLAGS_AT]! & ~1;
            const want = Buffer.from(refPayload);
            want[FLAGS_AT] = want[FLAGS_AT]! & ~1;
            assert.ok(payload.equals(want), `chunk ${h.sequence}: the bytes received are not the chunk's`);
            checked++;
            if (h.sequence === queuedSeq) sawQueued = true;
          }
          assert.ok(
            sawQueued,
            `chunk ${queuedSeq}, queued in user space during the stall, arrived intact (received ${seqs.join(' ')})`,
          );
          assert.ok(checked > 10, `${checked} chunks were checked against their reference`);
          // The engine went on once the pacer ran again (it released the hold): chunks from after
          // the wait arrived, intact too.
          assert.ok(
            lastSeq > queuedSeq + ring.layout.slots,
            `the stream went on after the stall (last chunk ${lastSeq}, queued ${queuedSeq})`,
          );
          // The precondition: the worker did reach the slot still queued, and waited instead of rewriting it.
          assert.ok(waits >= 1, `the engine waited for the queued slot (${waits} waits)`);
        } finally {
          clearInterval(recorder);
          child.kill();
          accept.close();
          (listener as Listener | null)?.socket.destroy();
        }
      },
    );
  });
});
