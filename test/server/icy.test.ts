import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ChunkRing } from '../../src/engine/ring.ts';
import { icyMetadataBlock, IcyCursor, ICY_UNCHANGED } from '../../src/server/broadcast/icy.ts';
import type { Listener } from '../../src/server/broadcast/listener.ts';
import { fakeListener } from './fake-listener.ts';
import { Pacer, type PacerObserver } from '../../src/server/broadcast/pacer.ts';

interface Write {
  bytes: Buffer;
  callback: boolean;
}

/** A socket that takes every write at once (and completes it), recording what it got. */
function recordingSocket(): Socket & { writes: Write[] } {
  const writes: Write[] = [];
  return {
    writes,
    destroyed: false,
    writable: true,
    writableLength: 0,
    write(bytes: Buffer, cb?: () => void) {
      writes.push({ bytes: Buffer.from(bytes), callback: cb !== undefined });
      cb?.();
      return true;
    },
  } as unknown as Socket & { writes: Write[] };
}

function mp3Listener(socket: Socket, icy: IcyCursor | null): Listener {
  return fakeListener(socket, { transport: 'mp3', icy });
}

const observer = {
  listenerSkipped: () => assert.fail('not skipped'),
  listenerDropped: () => assert.fail('not dropped'),
} as unknown as PacerObserver;

/** Publishes `lengths.length` chunks whose MP3 bytes count up (byte i of the stream is i & 0xff). */
function ringWith(lengths: number[]): { ring: ChunkRing; stream: Buffer } {
  const ring = ChunkRing.create(lengths.length + 1, 4800);
  let n = 0;
  lengths.forEach((len, seq) => {
    const at = ring.mp3Region(seq);
    for (let i = 0; i < len; i++) ring.bytes[at + i] = (n + i) & 0xff;
    n += len;
    ring.publish(seq, 0, 0, 0, 0, 0, len);
  });
  const stream = Buffer.alloc(n);
  for (let i = 0; i < n; i++) stream[i] = i & 0xff;
  return { ring, stream };
}

function chunk(ring: ChunkRing, seq: number): Buffer {
  return Buffer.from(ring.sab, ring.mp3Region(seq), ring.mp3Length(seq));
}

describe('ICY metadata interleaving (pacer)', () => {
  it('puts a block after exactly every metaint audio bytes, across and inside chunks; one ring callback per chunk, on its last write', () => {
    // Chunk lengths around a small metaint: points inside chunks, several in one chunk, one exactly
    // at a chunk's end (3000, 4000, 13000), and an empty chunk (rendered before the encoder started).
    const lengths = [0, 1536, 1464, 1000, 1536, 4000, 1536, 1928, 24];
    const { ring, stream } = ringWith(lengths);
    const pacer = new Pacer({ leadMs: 150, listenerQueueBytes: 1 << 20, stallTimeoutMs: 5000, observer });
    const titleA = icyMetadataBlock('Auralis default: focus, D dorian, chord Dm7');
    const titleB = icyMetadataBlock('Auralis default: focus, D dorian, chord G7');
    let title = titleA;
    const socket = recordingSocket();
    const l = mp3Listener(socket, new IcyCursor({ icyBlock: () => title }, 1000));
    let writesBefore = 0;
    for (let seq = 0; seq < lengths.length; seq++) {
      if (seq === 5) title = titleB;
      const issued = l.flow.issued;
      const sent = pacer.write(l, ring, seq, chunk(ring, seq), 0);
      const writes = socket.writes.slice(writesBefore);
      writesBefore = socket.writes.length;
      assert.equal(l.nextSeq, seq + 1);
      if (lengths[seq] === 0) {
        assert.equal(sent, false);
        assert.equal(writes.length, 0, 'nothing is written for an empty chunk');
        assert.equal(l.flow.issued, issued, 'and no ring write is counted');
        continue;
      }
      assert.equal(sent, true);
      assert.equal(l.flow.issued, issued + 1);
      assert.deepEqual(
        writes.map((w) => w.callback),
        writes.map((_w, i) => i === writes.length - 1),
        `chunk ${seq}: the callback goes with the last write only`,
      );
    }
    assert.equal(l.flow.done, l.flow.issued);
    // Read it back as a player would.
    const all = Buffer.concat(socket.writes.map((w) => w.bytes));
    const audio: Buffer[] = [];
    const blocks: Buffer[] = [];
    let at = 0;
    while (at < all.length) {
      const end = Math.min(all.length, at + 1000);
      audio.push(all.subarray(at, end));
      at = end;
      if (at >= all.length) break;
      const len = 1 + all[at]! * 16;
      blocks.push(all.subarray(at, at + len));
      at += len;
    }
    assert.ok(Buffer.concat(audio).equals(stream), 'the audio is intact and in order');
    assert.equal(blocks.length, Math.floor(stream.length / 1000));
    // The title first, "unchanged" until it changes, the new title once, "unchanged" again.
    const kinds = blocks.map((b) =>
      b.equals(titleA) ? 'A' : b.equals(titleB) ? 'B' : b.equals(ICY_UNCHANGED) ? '-' : '?',
    );
    assert.ok(/^A-+B-+$/.test(kinds.join('')), kinds.join(''));
    assert.equal(socket.writes.filter((w) => w.bytes.length === 0).length, 0, 'no empty writes');
  });

  it('without ICY the chunk is one write of the ring bytes', () => {
    const { ring, stream } = ringWith([1536, 1920]);
    const pacer = new Pacer({ leadMs: 150, listenerQueueBytes: 1 << 20, stallTimeoutMs: 5000, observer });
    const socket = recordingSocket();
    const l = mp3Listener(socket, null);
    pacer.write(l, ring, 0, chunk(ring, 0), 0);
    pacer.write(l, ring, 1, chunk(ring, 1), 0);
    assert.deepEqual(
      socket.writes.map((w) => [w.bytes.length, w.callback]),
      [
        [1536, true],
        [1920, true],
      ],
    );
    assert.ok(Buffer.concat(socket.writes.map((w) => w.bytes)).equals(stream));
  });

  it('builds blocks in the ICY format: length byte, StreamTitle, zero padding to 16 bytes', () => {
    const b = icyMetadataBlock("Auralis it's: café");
    assert.equal(b.length, 1 + b[0]! * 16);
    assert.equal(b.subarray(1).toString('latin1').replace(/\0+$/, ''), "StreamTitle='Auralis it?s: caf?';");
    const long = icyMetadataBlock('x'.repeat(5000));
    assert.ok(long[0]! <= 255 && long.length === 1 + long[0]! * 16);
  });
});
