/**
 * A WebSocket frame parser for the load generator (`bench/load-generator.ts`): it reads the frames a
 * server sends (RFC 6455) straight from TCP reads, however they are cut, and hands over only what
 * the benchmark needs of each binary message, the fields of its 32-byte chunk header (flags, seq,
 * play time; docs/PROTOCOL.md), without copying the payload or allocating per message. Text
 * messages (the `welcome`, `now` events) are collected whole, bounded; control frames (ping, pong,
 * close) are handed over with their payload.
 *
 * Server frames are unmasked; a masked frame is unmasked all the same. A message may be fragmented
 * (continuation frames): the header is read across its fragments and the message counts when its
 * last fragment is complete. Anything that breaks the framing (reserved bits, unknown opcodes, a
 * continuation without a message, a 64-bit length over 2^53, a binary message shorter than the
 * chunk header, a text message over `maxTextBytes`) throws a `WsParseError`: the benchmark stops
 * instead of reporting numbers from a stream it misread.
 */

/** Bytes of the chunk header at the start of every binary message (src/codec/frame-header.ts). */
export const CHUNK_HEADER_BYTES = 32;

export interface ChunkSink {
  /** A binary message is complete: its header's flags byte, seq and Unix play time (ms). */
  chunk(flags: number, seq: number, playTimeMs: number, arrivalMs: number): void;
  /** A text message is complete. */
  text(message: string, arrivalMs: number): void;
  /** A control frame (8 close, 9 ping, 10 pong) with its payload (at most 125 bytes, a copy). */
  control(opcode: number, payload: Buffer): void;
}

export class WsParseError extends Error {}

const OP_CONT = 0;
const OP_TEXT = 1;
const OP_BINARY = 2;

export class WsChunkParser {
  private readonly sink: ChunkSink;
  private readonly maxTextBytes: number;
  /** Frame header bytes read so far (at most 14: 2 + 8 length + 4 mask). */
  private readonly head = Buffer.alloc(14);
  private headFill = 0;
  private headNeed = 2;
  /** Payload bytes of the current frame still to come; -1 while reading a header. */
  private remaining = -1;
  private frameOpcode = 0;
  private fin = false;
  private masked = false;
  private readonly mask = Buffer.alloc(4);
  /** Payload bytes of the current frame consumed (for the mask's phase). */
  private framePos = 0;
  /** Opcode of the data message in progress (text or binary), 0 when none. */
  private msgOpcode = 0;
  /** The first CHUNK_HEADER_BYTES of the binary message in progress. */
  private readonly prefix = Buffer.alloc(CHUNK_HEADER_BYTES);
  private prefixFill = 0;
  private text: Buffer;
  private textFill = 0;
  private readonly ctl = Buffer.alloc(125);
  private ctlFill = 0;
  /** Binary messages seen (complete). */
  messages = 0;

  constructor(sink: ChunkSink, opts: { maxTextBytes?: number } = {}) {
    this.sink = sink;
    this.maxTextBytes = opts.maxTextBytes ?? 64 * 1024;
    this.text = Buffer.alloc(Math.min(4096, this.maxTextBytes));
  }

  /** Feeds the bytes `buf[start, end)` of one read, which arrived at `arrivalMs`. */
  push(buf: Buffer, start: number, end: number, arrivalMs: number): void {
    let i = start;
    while (i < end) {
      if (this.remaining < 0) {
        // Header: copy what is needed, byte by byte (at most 14 per frame).
        while (i < end && this.headFill < this.headNeed) this.head[this.headFill++] = buf[i++]!;
        if (this.headFill < this.headNeed) return;
        if (!this.headerComplete()) continue; // the header grew (extended length, mask): read on
        if (this.remaining === 0) this.frameDone(arrivalMs);
        continue;
      }
      const n = Math.min(this.remaining, end - i);
      this.payload(buf, i, n);
      i += n;
      this.remaining -= n;
      if (this.remaining === 0) this.frameDone(arrivalMs);
    }
  }

  /** Decodes the header read so far; false when it needs more bytes (its length is now known). */
  private headerComplete(): boolean {
    const h = this.head;
    if (this.headFill === 2) {
      const b0 = h[0]!;
      const b1 = h[1]!;
      if (b0 & 0x70) throw new WsParseError('reserved bits set (no extension was negotiated)');
      this.fin = (b0 & 0x80) !== 0;
      this.frameOpcode = b0 & 0x0f;
      this.masked = (b1 & 0x80) !== 0;
      const len7 = b1 & 0x7f;
      const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (this.masked ? 4 : 0);
      if (need > 2) {
        this.headNeed = need;
        return false;
      }
    }
    const len7 = h[1]! & 0x7f;
    let len: number;
    let at = 2;
    if (len7 === 126) {
      len = h.readUInt16BE(2);
      at = 4;
    } else if (len7 === 127) {
      const hi = h.readUInt32BE(2);
      if (hi > 0x1fffff) throw new WsParseError('frame length over 2^53');
      len = hi * 2 ** 32 + h.readUInt32BE(6);
      at = 10;
    } else len = len7;
    if (this.masked) h.copy(this.mask, 0, at, at + 4);
    this.validate(len);
    this.remaining = len;
    this.framePos = 0;
    this.headFill = 0;
    this.headNeed = 2;
    return true;
  }

  private validate(len: number): void {
    const op = this.frameOpcode;
    if (op >= 8) {
      if (op > 10) throw new WsParseError(`unknown control opcode ${op}`);
      if (!this.fin || len > 125) throw new WsParseError('control frame fragmented or over 125 bytes');
      this.ctlFill = 0;
      return;
    }
    if (op === OP_CONT) {
      if (this.msgOpcode === 0) throw new WsParseError('continuation frame without a message');
      return;
    }
    if (op !== OP_TEXT && op !== OP_BINARY) throw new WsParseError(`unknown data opcode ${op}`);
    if (this.msgOpcode !== 0) throw new WsParseError('new message before the last one ended');
    this.msgOpcode = op;
    this.prefixFill = 0;
    this.textFill = 0;
  }

  private payload(buf: Buffer, at: number, n: number): void {
    const op = this.frameOpcode;
    if (op >= 8) {
      this.copyInto(this.ctl, this.ctlFill, buf, at, n);
      this.ctlFill += n;
    } else if (this.msgOpcode === OP_BINARY) {
      // Only the chunk header is read; the rest of the payload is skipped.
      const take = Math.min(n, CHUNK_HEADER_BYTES - this.prefixFill);
      if (take > 0) {
        this.copyInto(this.prefix, this.prefixFill, buf, at, take);
        this.prefixFill += take;
      }
    } else {
      const need = this.textFill + n;
      if (need > this.maxTextBytes) throw new WsParseError(`text message over ${this.maxTextBytes} bytes`);
      if (need > this.text.length) {
        const grown = Buffer.alloc(Math.min(this.maxTextBytes, Math.max(need, this.text.length * 2)));
        this.text.copy(grown, 0, 0, this.textFill);
        this.text = grown;
      }
      this.copyInto(this.text, this.textFill, buf, at, n);
      this.textFill += n;
    }
    this.framePos += n;
  }

  /** Copies `n` bytes (unmasking them if the frame is masked, continuing the mask's phase). */
  private copyInto(dst: Buffer, dstAt: number, src: Buffer, srcAt: number, n: number): void {
    if (!this.masked) {
      src.copy(dst, dstAt, srcAt, srcAt + n);
      return;
    }
    const m = this.mask;
    for (let k = 0; k < n; k++) dst[dstAt + k] = src[srcAt + k]! ^ m[(this.framePos + k) & 3]!;
  }

  private frameDone(arrivalMs: number): void {
    this.remaining = -1;
    const op = this.frameOpcode;
    if (op >= 8) {
      this.sink.control(op, Buffer.from(this.ctl.subarray(0, this.ctlFill)));
      return;
    }
    if (!this.fin) return;
    const msg = this.msgOpcode;
    this.msgOpcode = 0;
    if (msg === OP_BINARY) {
      if (this.prefixFill < CHUNK_HEADER_BYTES)
        throw new WsParseError(
          `binary message of ${this.prefixFill} bytes, shorter than the ${CHUNK_HEADER_BYTES}-byte chunk header`,
        );
      const p = this.prefix;
      this.messages++;
      this.sink.chunk(p[3]!, p.readUInt32LE(8), p.readDoubleLE(24), arrivalMs);
    } else this.sink.text(this.text.toString('utf8', 0, this.textFill), arrivalMs);
  }
}
