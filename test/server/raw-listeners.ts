// Raw TCP listeners for the slow-listener tests: no client library between the socket and the
// bytes, so a test can stop reading (the kernel buffers fill), read at a chosen rate, and check
// every byte that arrives: Ogg pages (capture pattern, CRC, sequence) and WebSocket frames (frame
// header, 32-byte chunk header, sequence).
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { oggCrc32 } from '../../src/codec/ogg-crc.ts';
import { FRAME_HEADER_BYTES, readFrameHeader } from '../../src/codec/frame-header.ts';

export interface RawListener {
  socket: net.Socket;
  /** Bytes received after the HTTP response head. */
  received: number;
  /** Set once the socket closed (cleanly or by reset). */
  closedAtMs: number;
  closeError: string | null;
  /** Stop delivering data to the parser (the kernel buffers fill up). */
  pause(): void;
  /** Deliver everything at full speed. */
  resume(): void;
  /** Read at most `bytesPerSecond` (checked every 50 ms) from now on. */
  throttle(bytesPerSecond: number): void;
  close(): void;
}

export interface ChunkSeen {
  seq: number;
  flags: number;
  arrivedMs: number;
}

function openRaw(port: number, request: string, onBody: (b: Buffer) => void): Promise<RawListener> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let head = Buffer.alloc(0);
    let headDone = false;
    let throttleTimer: NodeJS.Timeout | null = null;
    const l: RawListener = {
      socket,
      received: 0,
      closedAtMs: 0,
      closeError: null,
      pause: () => {
        if (throttleTimer) clearInterval(throttleTimer);
        throttleTimer = null;
        socket.removeListener('data', onData);
        socket.pause();
      },
      resume: () => {
        if (throttleTimer) clearInterval(throttleTimer);
        throttleTimer = null;
        socket.removeListener('data', onData);
        socket.on('data', onData);
        socket.resume();
      },
      throttle: (bytesPerSecond) => {
        socket.removeListener('data', onData);
        socket.pause();
        if (throttleTimer) clearInterval(throttleTimer);
        const perTick = Math.max(1, Math.round(bytesPerSecond / 20));
        throttleTimer = setInterval(() => {
          let budget = perTick;
          while (budget > 0 && socket.readableLength > 0) {
            const b = socket.read(Math.min(budget, socket.readableLength)) as Buffer | null;
            if (!b) break;
            budget -= b.length;
            onData(b);
          }
          // read() with nothing buffered asks the socket to fetch more from the kernel.
          if (socket.readableLength === 0) socket.read(0);
        }, 50);
      },
      close: () => {
        if (throttleTimer) clearInterval(throttleTimer);
        socket.destroy();
      },
    };
    const onData = (chunk: Buffer): void => {
      if (!headDone) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        headDone = true;
        const status = head.subarray(0, head.indexOf('\r\n')).toString();
        if (!/ 10[01] | 200 /.test(status)) {
          reject(new Error(`unexpected response ${status}`));
          socket.destroy();
          return;
        }
        const rest = head.subarray(end + 4);
        resolve(l);
        if (rest.length > 0) {
          l.received += rest.length;
          onBody(rest);
        }
        return;
      }
      l.received += chunk.length;
      onBody(chunk);
    };
    socket.on('data', onData);
    socket.on('error', (err) => {
      l.closeError = (err as NodeJS.ErrnoException).code ?? err.message;
      if (!headDone) reject(err);
    });
    socket.on('close', () => {
      l.closedAtMs = Date.now();
      if (throttleTimer) clearInterval(throttleTimer);
    });
    socket.on('connect', () => socket.write(request));
  });
}

/** Incremental parser of a byte stream of Ogg pages; every problem is recorded, not thrown. */
export class OggChecker {
  private buf: Buffer = Buffer.alloc(0);
  pages = 0;
  audioPages = 0;
  badCapture = 0;
  badCrc = 0;
  regressions = 0;
  lastSeq = -1;
  problems: string[] = [];

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const b = this.buf;
      if (b.length < 27) return;
      if (b.readUInt32BE(0) !== 0x4f676753 /* OggS */) {
        this.badCapture++;
        this.problems.push(`no capture pattern at page ${this.pages}`);
        // Resynchronize on the next capture pattern.
        const next = b.indexOf('OggS', 1);
        this.buf = next < 0 ? Buffer.alloc(0) : b.subarray(next);
        continue;
      }
      const segments = b[26]!;
      if (b.length < 27 + segments) return;
      let bodyBytes = 0;
      for (let i = 0; i < segments; i++) bodyBytes += b[27 + i]!;
      const total = 27 + segments + bodyBytes;
      if (b.length < total) return;
      const page = Buffer.from(b.subarray(0, total));
      const crc = page.readUInt32LE(22);
      page.writeUInt32LE(0, 22);
      if (oggCrc32(page) !== crc) {
        this.badCrc++;
        this.problems.push(`bad CRC at page ${this.pages}`);
      }
      const seq = page.readUInt32LE(18);
      if (seq <= this.lastSeq) {
        this.regressions++;
        this.problems.push(`page sequence ${seq} after ${this.lastSeq}`);
      }
      this.lastSeq = seq;
      this.pages++;
      if (seq >= 2) this.audioPages++;
      this.buf = b.subarray(total);
    }
  }

  get corrupt(): number {
    return this.badCapture + this.badCrc + this.regressions;
  }
}

/** Incremental parser of server→client WebSocket frames carrying Auralis chunks. */
export class WsChecker {
  private buf: Buffer = Buffer.alloc(0);
  frames = 0;
  chunks: ChunkSeen[] = [];
  texts: string[] = [];
  closeFrame: number | null = null;
  bad = 0;
  regressions = 0;
  lastSeq = -1;
  problems: string[] = [];
  private broken = false;

  constructor(private readonly codec: 'pcm' | 'opus') {}

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0]! & 0x80) !== 0;
      const rsv = b[0]! & 0x70;
      const opcode = b[0]! & 0x0f;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (!fin || rsv !== 0 || masked || ![1, 2, 8, 9, 10].includes(opcode) || len > 1 << 20) {
        this.bad++;
        this.problems.push(
          `bad frame header ${b.subarray(0, 4).toString('hex')} after ${this.frames} frames`,
        );
        this.broken = true; // framing is lost: nothing after this can be trusted
        return;
      }
      if (b.length < at + len) return;
      const payload = b.subarray(at, at + len);
      this.frames++;
      if (opcode === 1) this.texts.push(payload.toString());
      else if (opcode === 8) this.closeFrame = len >= 2 ? payload.readUInt16BE(0) : 1005;
      else if (opcode === 2) this.checkChunk(payload);
      this.buf = b.subarray(at + len);
    }
  }

  private checkChunk(p: Buffer): void {
    if (p.length < FRAME_HEADER_BYTES) {
      this.bad++;
      this.problems.push(`short binary frame ${p.length}`);
      return;
    }
    const h = readFrameHeader(p);
    const wantCodec = this.codec === 'pcm' ? 0 : 1;
    const payloadOk = this.codec === 'pcm' ? p.length - FRAME_HEADER_BYTES === h.frames * 4 : true;
    if (
      h.version !== 1 ||
      h.codec !== wantCodec ||
      h.channels !== 2 ||
      h.sampleRate !== 48_000 ||
      !payloadOk
    ) {
      this.bad++;
      this.problems.push(`bad chunk header at frame ${this.frames}: ${JSON.stringify(h)}`);
      return;
    }
    if (h.sequence <= this.lastSeq) {
      this.regressions++;
      this.problems.push(`chunk sequence ${h.sequence} after ${this.lastSeq}`);
    }
    this.lastSeq = h.sequence;
    this.chunks.push({ seq: h.sequence, flags: h.flags, arrivedMs: Date.now() });
  }

  get corrupt(): number {
    return this.bad + this.regressions;
  }
}

export function openOgg(port: number, station = 'default'): Promise<RawListener & { ogg: OggChecker }> {
  const ogg = new OggChecker();
  return openRaw(port, `GET /stream/${station}.ogg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, (b) =>
    ogg.push(b),
  ).then((l) => Object.assign(l, { ogg }));
}

export function openWav(
  port: number,
  station = 'default',
  onBody: (b: Buffer) => void = () => {},
): Promise<RawListener> {
  return openRaw(port, `GET /stream/${station}.wav HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, onBody);
}

export function openWs(
  port: number,
  codec: 'pcm' | 'opus',
  station = 'default',
): Promise<RawListener & { frames: WsChecker }> {
  const frames = new WsChecker(codec);
  const key = randomBytes(16).toString('base64');
  return openRaw(
    port,
    `GET /ws?codec=${codec}&station=${station} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    (b) => frames.push(b),
  ).then((l) => Object.assign(l, { frames }));
}

/** Server-side sum of TCP memory pages in use (/proc/net/sockstat `TCP: ... mem N`), in bytes. */
export async function tcpMemBytes(): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile('/proc/net/sockstat', 'utf8').catch(() => '');
  const m = /TCP:.* mem (\d+)/.exec(text);
  return m ? Number(m[1]) * 4096 : NaN;
}
