// The listeners of the real-time soak (bench/soak.ts): WebSocket (opus), Ogg over HTTP, and throttled
// Ogg readers. Each checks what it receives (frame headers, Opus packet framing, Ogg capture pattern
// and CRC, sequence continuity) and records arrival lateness against the chunk header's play time.
import http from 'node:http';
import WebSocket from 'ws';
import { oggCrc32 } from '../../src/codec/ogg-crc.ts';

export type ListenerKind = 'ws' | 'ogg' | 'throttled';

/** Counters shared by every listener of a run; the soak reads them at each sample. */
export class SoakCounters {
  /** Lateness samples (ms) of the current interval: arrival minus (play time − lead), WebSocket only. */
  readonly lateness = new Float64Array(500_000);
  nLateness = 0;
  wsChunks = 0;
  oggPages = 0;
  bytes = 0;
  /** Sequence jumps seen by listeners that keep up (ws and ogg): audio they lost. */
  gaps = 0;
  /** Chunks carrying the discontinuity flag (ws). */
  flagged = 0;
  /** Frames that failed validation (header, Opus framing, Ogg capture pattern or CRC). */
  badFrames = 0;
  /** Largest silence between two chunks of a WebSocket listener that keeps up, ms. */
  maxInterArrivalMs = 0;
  opened = 0;
  /** Listeners closed by the harness (churn or the end of the run). */
  closedByHarness = 0;
  /** Throttled listeners the server disconnected (stall policy). */
  throttledDisconnected = 0;
  /** Listeners that keep up and were closed by the other side, or failed to connect. */
  lost = 0;
  lostReasons: string[] = [];
  /** Sequence gaps seen by throttled readers (their pages skipped by the server). */
  throttledGaps = 0;

  recordLateness(ms: number): void {
    if (this.nLateness < this.lateness.length) this.lateness[this.nLateness++] = ms;
  }

  /** p99 of this interval's lateness samples (NaN when none), then starts a new interval. */
  takeLatenessP99(): { p99: number; max: number; n: number } {
    const n = this.nLateness;
    this.nLateness = 0;
    if (n === 0) return { p99: Number.NaN, max: Number.NaN, n };
    const s = this.lateness.slice(0, n).sort();
    return { p99: s[Math.min(n - 1, Math.floor(0.99 * n))]!, max: s[n - 1]!, n };
  }
}

export interface SoakListener {
  readonly kind: ListenerKind;
  readonly openedAt: number;
  /** True once audio has arrived. */
  receiving(): boolean;
  /** Closes by the harness' choice (not counted as lost). */
  close(): void;
}

const nowMs = (): number => performance.timeOrigin + performance.now();
/** The first chunks after a join are the server's burst of already-due audio: not lateness. */
const BURST_SKIP = 5;

/** Checks the payload of one binary WebSocket audio chunk (version 1, opus): u16 length + packet, 20 ms each. */
export function validOpusChunk(data: Buffer): boolean {
  if (data.length < 32 || data[0] !== 1 || data[1] !== 1) return false;
  const frames = data.readUInt32LE(12);
  let off = 32;
  let packets = 0;
  while (off + 2 <= data.length) {
    const len = data.readUInt16LE(off);
    if (len === 0) return false;
    off += 2 + len;
    packets++;
  }
  return off === data.length && packets > 0 && packets * 960 === frames;
}

export class WsSoakListener implements SoakListener {
  readonly kind = 'ws' as const;
  readonly openedAt = nowMs();
  private readonly ws: WebSocket;
  private closing = false;
  private lastSeq = -1;
  private lastArrival = 0;
  private chunks = 0;

  constructor(
    wsUrl: string,
    private readonly c: SoakCounters,
    private readonly leadMs: number,
    private readonly onLost: (l: SoakListener) => void,
  ) {
    c.opened++;
    this.ws = new WebSocket(`${wsUrl}?codec=opus`, { perMessageDeflate: false });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      const t = nowMs();
      c.wsChunks++;
      c.bytes += data.length;
      if (!validOpusChunk(data)) c.badFrames++;
      const seq = data.readUInt32LE(8);
      if (data[3]! & 1) c.flagged++;
      if (this.lastSeq >= 0 && seq !== this.lastSeq + 1) c.gaps++;
      if (this.chunks >= BURST_SKIP) {
        c.recordLateness(t - (data.readDoubleLE(24) - this.leadMs));
        const gap = t - this.lastArrival;
        if (gap > c.maxInterArrivalMs) c.maxInterArrivalMs = gap;
      }
      this.chunks++;
      this.lastSeq = seq;
      this.lastArrival = t;
    });
    this.ws.on('error', () => {});
    this.ws.on('close', (code, reason) => {
      if (this.closing) return;
      c.lost++;
      c.lostReasons.push(`ws closed by server: ${code} ${reason.toString()}`);
      onLost(this);
    });
  }

  receiving(): boolean {
    return this.chunks > 0;
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.c.closedByHarness++;
    this.ws.close();
  }
}

/** Incremental Ogg page reader: checks capture pattern and CRC, and counts page-sequence gaps. */
export class OggChecker {
  private buf: Buffer = Buffer.alloc(0);
  private lastSeq = -1;
  pages = 0;
  bad = 0;
  gaps = 0;

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const b = this.buf;
      if (b.length < 27) return;
      if (b.readUInt32BE(0) !== 0x4f676753) {
        // Lost sync: count it and look for the next capture pattern.
        this.bad++;
        const next = b.indexOf('OggS', 1);
        this.buf = next < 0 ? Buffer.alloc(0) : b.subarray(next);
        continue;
      }
      const nseg = b[26]!;
      if (b.length < 27 + nseg) return;
      let body = 0;
      for (let i = 0; i < nseg; i++) body += b[27 + i]!;
      const size = 27 + nseg + body;
      if (b.length < size) return;
      const page = b.subarray(0, size);
      const crc = page.readUInt32LE(22);
      const copy = Buffer.from(page);
      copy.writeUInt32LE(0, 22);
      if (oggCrc32(copy) !== crc) this.bad++;
      const seq = page.readUInt32LE(18);
      // Pages 0 and 1 are the stream's headers; live pages continue the station's own numbering.
      if (this.lastSeq >= 2 && seq !== this.lastSeq + 1) this.gaps++;
      this.lastSeq = seq;
      this.pages++;
      this.buf = b.subarray(size);
    }
  }
}

/**
 * An Ogg/Opus listener over HTTP. With `throttleBytesPerSecond` it reads at most that many bytes a
 * second (a token bucket over a paused stream), so the server's queue for it grows until it is
 * skipped or disconnected.
 */
export class OggSoakListener implements SoakListener {
  readonly kind: 'ogg' | 'throttled';
  readonly openedAt = nowMs();
  private readonly req: http.ClientRequest;
  private closing = false;
  private readonly checker = new OggChecker();
  private timer: NodeJS.Timeout | null = null;
  private gotData = false;

  constructor(
    baseUrl: string,
    private readonly c: SoakCounters,
    private readonly onLost: (l: SoakListener) => void,
    throttleBytesPerSecond = 0,
  ) {
    this.kind = throttleBytesPerSecond > 0 ? 'throttled' : 'ogg';
    c.opened++;
    this.req = http.get(`${baseUrl}/stream/default.ogg`, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        this.lostBy(`ogg HTTP ${res.statusCode}`);
        return;
      }
      const take = (chunk: Buffer): void => {
        this.gotData = true;
        c.bytes += chunk.length;
        const pages = this.checker.pages;
        const bad = this.checker.bad;
        const gaps = this.checker.gaps;
        this.checker.push(chunk);
        c.oggPages += this.checker.pages - pages;
        c.badFrames += this.checker.bad - bad;
        if (this.kind === 'throttled') c.throttledGaps += this.checker.gaps - gaps;
        else c.gaps += this.checker.gaps - gaps;
      };
      if (throttleBytesPerSecond > 0) {
        let budget = 0;
        const tickMs = 200;
        this.timer = setInterval(() => {
          budget = Math.min(budget + (throttleBytesPerSecond * tickMs) / 1000, throttleBytesPerSecond);
          while (budget > 0) {
            const chunk = res.read() as Buffer | null;
            if (chunk === null) break;
            budget -= chunk.length;
            take(chunk);
          }
        }, tickMs);
      } else {
        res.on('data', take);
      }
      res.on('close', () => this.lostBy('ogg stream ended by server'));
      res.on('error', () => {});
    });
    this.req.on('error', (err) => this.lostBy(`ogg request failed: ${err.message}`));
  }

  private lostBy(why: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.closing) return;
    this.closing = true;
    if (this.kind === 'throttled') this.c.throttledDisconnected++;
    else {
      this.c.lost++;
      this.c.lostReasons.push(why);
    }
    this.onLost(this);
  }

  receiving(): boolean {
    return this.gotData;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.closing) return;
    this.closing = true;
    this.c.closedByHarness++;
    this.req.destroy();
  }
}

/** A personal session's client: created, changed, left; later resumed with its token or abandoned. */
export function openPersonal(
  wsUrl: string,
  resumeToken?: string,
): Promise<{ ws: WebSocket; station: string; resumeToken: string; chunks: () => number }> {
  return new Promise((resolve, reject) => {
    const q = resumeToken
      ? `personal=1&resume=${encodeURIComponent(resumeToken)}`
      : 'personal=1&preset=focus&codec=opus';
    const ws = new WebSocket(`${wsUrl}?${q}`, { perMessageDeflate: false });
    let chunks = 0;
    let done = false;
    const t = setTimeout(() => {
      done = true;
      ws.terminate();
      reject(new Error('personal session: no welcome in 15 s'));
    }, 15_000);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        chunks++;
        return;
      }
      const msg = JSON.parse(data.toString()) as Record<string, unknown>;
      if (done) return;
      if (msg.type === 'welcome') {
        done = true;
        clearTimeout(t);
        resolve({
          ws,
          station: msg.station as string,
          resumeToken: (msg.resumeToken as string | undefined) ?? resumeToken ?? '',
          chunks: () => chunks,
        });
      } else if (msg.type === 'error') {
        done = true;
        clearTimeout(t);
        ws.close();
        reject(new Error(`personal session: ${String(msg.code)} ${String(msg.message)}`));
      }
    });
    ws.on('error', (err) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      reject(err);
    });
    ws.on('close', (code) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      reject(new Error(`personal session closed before its welcome: ${code}`));
    });
  });
}
