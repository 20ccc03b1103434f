// The load generator's WebSocket frame parser: the chunk header fields of every binary message, the
// text messages and control frames, however TCP cuts the bytes; malformed framing throws.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WsChunkParser, WsParseError, type ChunkSink } from '../../bench/lib/ws-chunk-parser.ts';

/** A frame as a server writes it (unmasked), or masked with `mask` as a client would. */
function frame(opcode: number, payload: Buffer, opts: { fin?: boolean; mask?: Buffer } = {}): Buffer {
  const n = payload.length;
  const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (opts.mask ? 4 : 0));
  head[0] = (opts.fin === false ? 0 : 0x80) | opcode;
  head[1] = (opts.mask ? 0x80 : 0) | (ext === 0 ? n : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(n, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(n), 2);
  let body = payload;
  if (opts.mask) {
    opts.mask.copy(head, 2 + ext);
    body = Buffer.from(payload.map((b, i) => b ^ opts.mask![i & 3]!));
  }
  return Buffer.concat([head, body]);
}

/** A binary chunk message: the 32-byte header (flags, seq, play time) and `extra` payload bytes. */
function chunk(seq: number, flags: number, playTimeMs: number, extra: number): Buffer {
  const b = Buffer.alloc(32 + extra, 0xab);
  b.fill(0, 0, 32);
  b[3] = flags;
  b.writeUInt32LE(seq, 8);
  b.writeDoubleLE(playTimeMs, 24);
  return b;
}

interface Seen {
  chunks: [number, number, number, number][];
  texts: string[];
  controls: [number, string][];
}

function collector(): { sink: ChunkSink; seen: Seen } {
  const seen: Seen = { chunks: [], texts: [], controls: [] };
  return {
    seen,
    sink: {
      chunk: (flags, seq, play, t) => seen.chunks.push([flags, seq, play, t]),
      text: (m) => seen.texts.push(m),
      control: (op, p) => seen.controls.push([op, p.toString('hex')]),
    },
  };
}

/** Feeds `bytes` cut at the given offsets; each read gets its index as its arrival time. */
function feed(p: WsChunkParser, bytes: Buffer, cuts: number[]): void {
  let at = 0;
  let k = 0;
  for (const c of [...cuts, bytes.length]) {
    // Each read comes in a buffer of its own with other bytes around it, as the shared read buffer.
    const read = Buffer.concat([Buffer.from([0xee]), bytes.subarray(at, c), Buffer.from([0xee])]);
    p.push(read, 1, read.length - 1, k++);
    at = c;
  }
}

describe('WsChunkParser', () => {
  const stream = Buffer.concat([
    frame(1, Buffer.from('{"type":"welcome","chunkMs":100}')),
    frame(2, chunk(7, 0, 1.7e12 + 0.25, 90)), // 7-bit length
    frame(9, Buffer.from('hi')), // a ping between messages
    frame(2, chunk(8, 1, 1.7e12 + 100.25, 1200)), // 16-bit length (an Opus chunk)
    frame(2, chunk(9, 0x20, 1.7e12 + 200.25, 70_000)), // 64-bit length (a PCM chunk is ~19 KB; this forces 127)
    frame(8, Buffer.from([0x03, 0xe9])),
  ]);
  const expected: Seen = {
    texts: ['{"type":"welcome","chunkMs":100}'],
    chunks: [
      [0, 7, 1.7e12 + 0.25, 0],
      [1, 8, 1.7e12 + 100.25, 0],
      [0x20, 9, 1.7e12 + 200.25, 0],
    ],
    controls: [
      [9, '6869'],
      [8, '03e9'],
    ],
  };

  it('reads every message of a stream delivered in one read', () => {
    const { sink, seen } = collector();
    const p = new WsChunkParser(sink);
    feed(p, stream, []);
    assert.deepEqual(seen, expected);
    assert.equal(p.messages, 3);
  });

  it('reads the same messages however TCP cuts them: byte by byte, and at every split point', () => {
    const { sink, seen } = collector();
    feed(
      new WsChunkParser(sink),
      stream,
      Array.from({ length: stream.length - 1 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      seen.chunks.map((c) => c.slice(0, 3)),
      expected.chunks.map((c) => c.slice(0, 3)),
    );
    assert.deepEqual(seen.texts, expected.texts);
    assert.deepEqual(seen.controls, expected.controls);
    // Two cuts anywhere in the first 200 bytes (headers, extended lengths, the chunk header).
    for (let a = 1; a < 200; a += 3) {
      for (let b = a + 1; b < 200; b += 7) {
        const c = collector();
        feed(new WsChunkParser(c.sink), stream, [a, b]);
        assert.deepEqual(
          c.seen.chunks.map((x) => x.slice(0, 3)),
          expected.chunks.map((x) => x.slice(0, 3)),
          `cut at ${a} and ${b}`,
        );
        assert.deepEqual(c.seen.texts, expected.texts);
      }
    }
  });

  it('stamps a message with the arrival time of the read that completed it', () => {
    const msg = frame(2, chunk(3, 0, 5, 500));
    const { sink, seen } = collector();
    // Reads 0, 1, 2: the header in read 0, most of the payload in 1, its last byte in 2.
    feed(new WsChunkParser(sink), msg, [40, msg.length - 1]);
    assert.deepEqual(seen.chunks, [[0, 3, 5, 2]]);
  });

  it('unmasks masked frames and joins fragmented messages (header split across fragments)', () => {
    const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    const c = chunk(42, 1, 1234.5, 20);
    const bytes = Buffer.concat([
      frame(2, c.subarray(0, 5), { fin: false, mask }),
      frame(9, Buffer.alloc(0), { mask }), // control frames may come between fragments
      frame(0, c.subarray(5, 30), { fin: false }),
      frame(0, c.subarray(30), { mask }),
      frame(1, Buffer.from('{"a":'), { fin: false }),
      frame(0, Buffer.from('1}'), { mask }),
    ]);
    for (const cuts of [[], [3, 9, 17, 33, 40]]) {
      const { sink, seen } = collector();
      feed(new WsChunkParser(sink), bytes, cuts);
      assert.deepEqual(
        seen.chunks.map((x) => x.slice(0, 3)),
        [[1, 42, 1234.5]],
      );
      assert.deepEqual(seen.texts, ['{"a":1}']);
      assert.deepEqual(seen.controls, [[9, '']]);
    }
  });

  it('throws on framing it cannot trust', () => {
    const bad: [string, Buffer, RegExp][] = [
      ['reserved bits', Buffer.from([0xc2, 0x00]), /reserved bits/],
      ['unknown opcode', Buffer.from([0x83, 0x00]), /unknown data opcode 3/],
      ['continuation first', Buffer.from([0x80, 0x00]), /continuation frame without a message/],
      ['fragmented control', Buffer.from([0x09, 0x00]), /control frame/],
      ['short binary', frame(2, Buffer.alloc(31)), /31 bytes, shorter than the 32-byte chunk header/],
      [
        'interleaved message',
        Buffer.concat([frame(2, Buffer.alloc(40), { fin: false }), frame(2, Buffer.alloc(40))]),
        /new message before/,
      ],
    ];
    for (const [name, bytes, message] of bad) {
      const { sink, seen } = collector();
      assert.throws(
        () => feed(new WsChunkParser(sink), bytes, []),
        (e: unknown) => {
          assert.ok(e instanceof WsParseError, name);
          assert.match(e.message, message, name);
          return true;
        },
      );
      assert.equal(seen.chunks.length, 0, name);
    }
    const { sink } = collector();
    const big = frame(1, Buffer.alloc(100, 0x61));
    assert.throws(() => feed(new WsChunkParser(sink, { maxTextBytes: 99 }), big, []), /over 99 bytes/);
  });
});
