/**
 * Load generator for `npm run bench:listeners` (and the report's streaming runs): a separate process
 * that opens N WebSocket listeners to a station and measures, at each listener, every chunk's
 * lateness (arrival minus due time: the header's play time minus the server's lead), jitter
 * (|inter-arrival − chunk length|), gaps (sequence jumps) and discontinuity flags. Prints one JSON
 * line per phase.
 *
 * Usage: node --import tsx bench/load-generator.ts --url ws://127.0.0.1:PORT/ws --listeners N
 *        --seconds S --lead-ms L [--warmup-seconds W | --control stdin] [--codec opus|pcm]
 *        [--station ID] [--samples-dir DIR --id K]
 *
 * It is built not to be the bottleneck: each listener is a plain TCP socket (`node:net`) that
 * completes the WebSocket handshake itself; reads land in one shared buffer (`onread`, no allocation
 * per read) and `WsChunkParser` reads the 32-byte chunk header of each frame without copying it.
 * Arrival is the time of the socket read that completes the frame (one clock read per read).
 *
 * Two clocks, both reported: `latenessMs`/`jitterMs` use that per-read stamp, which includes this
 * process's own walk over the sockets that became readable together (thousands of reads, one after
 * the other, on one core); `batchLatenessMs`/`batchJitterMs` use the batch clock
 * (`lib/batch-clock.ts`): every read of one event-loop turn gets the time of the turn's first read,
 * when the generator learned of the batch. Their difference, chunk by chunk, is the generator's own walk
 * before that read, not the server's. See docs/ARCHITECTURE.md, "Fan-out".
 *
 * Clock basis: arrival is `performance.timeOrigin + performance.now()` (Unix ms at this process's
 * start plus the monotonic time since), the header's play time is the server's monotonic play
 * instant plus its wall-minus-monotonic offset taken when the station was created. Both read the
 * same two system clocks on the same machine, so they differ only by how far the wall clock was
 * slewed between those two moments (microseconds in a benchmark's minutes).
 *
 * Phases: `{"phase":"connected"}` once every listener has its welcome; `{"phase":"measuring"}` when
 * the window starts, after `--warmup-seconds` or, with `--control stdin`, when a line `measure`
 * arrives on stdin (so several generators measure the same window); `{"phase":"done", …}` with the
 * results after `--seconds`. With `--samples-dir`, the window's lateness and jitter samples are also
 * written there (`gen-K.lateness.f64`, `gen-K.jitter.f64`, Float64 little-endian) so the samples of
 * several generators can be merged into exact percentiles. The result carries lateness p95, the share
 * of chunks no later than 50 ms (`within50MsPercent`, the report's SC-001), the largest jitter, the
 * connections closed during the window (`closedEarly`) and those whose bytes broke the WebSocket
 * framing (`protocolErrors`, closed by the generator; `firstProtocolError` says how), and this
 * process's CPU (user + system, % of one core) over the window.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { BatchClock } from './lib/batch-clock.ts';
import { WsChunkParser, WsParseError, type ChunkSink } from './lib/ws-chunk-parser.ts';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const url = new URL(args.get('url')!);
const listeners = Number(args.get('listeners') ?? 1);
const seconds = Number(args.get('seconds') ?? 20);
const warmupSeconds = Number(args.get('warmup-seconds') ?? 3);
const controlled = args.get('control') === 'stdin';
const leadMs = Number(args.get('lead-ms') ?? 150);
const codec = args.get('codec') ?? 'opus';
const station = args.get('station');
const samplesDir = args.get('samples-dir');
const id = args.get('id') ?? '0';
/** Connections opened at once while ramping up (the accept backlog is finite). */
const RAMP_BATCH = 250;

const nowMs = (): number => performance.timeOrigin + performance.now();

// Preallocated sample stores: at most 50 chunks/s per listener over the measured window (+ margin).
const capacity = Math.min(Math.ceil(listeners * (seconds + 2) * 50), 20_000_000);
const lateness = new Float64Array(capacity);
const jitter = new Float64Array(capacity);
const batchLateness = new Float64Array(capacity);
const batchJitter = new Float64Array(capacity);
let nLate = 0;
let nJitter = 0;
let nBatchJitter = 0;
let gaps = 0;
let flagged = 0;
let chunksMeasured = 0;
let measuring = false;
let closedEarly = 0;
/** Connections whose byte stream broke the WebSocket framing (closed at once), and the first reason. */
let protocolErrors = 0;
let firstProtocolError = '';

/** Every read of every socket lands here and is parsed before the next read (no allocation). */
const READ_BUFFER = Buffer.alloc(256 * 1024);
/** The batch clock, and the batch stamp of the read being parsed (set before every parse). */
const batchClock = new BatchClock();
let readBatchMs = 0;

class RawListener implements ChunkSink {
  lastSeq = -1;
  lastArrival = 0;
  lastBatchArrival = 0;
  chunkMs = 100;
  welcomed = false;
  private upgraded = false;
  private head = '';
  private readonly parser = new WsChunkParser(this);
  readonly socket: Socket;
  private readonly onWelcome: () => void;

  constructor(onWelcome: () => void) {
    this.onWelcome = onWelcome;
    const query = `codec=${codec}${station ? `&station=${encodeURIComponent(station)}` : ''}`;
    this.socket = connect({
      host: url.hostname,
      port: Number(url.port),
      onread: { buffer: READ_BUFFER, callback: (n: number) => this.read(n) },
    });
    this.socket.setNoDelay(true);
    this.socket.write(
      `GET ${url.pathname}?${query} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    this.socket.on('close', () => {
      if (!this.welcomed) this.fail();
      if (measuring) closedEarly++;
    });
    this.socket.on('error', () => {});
  }

  private fail(): void {
    if (this.welcomed) return;
    this.welcomed = true; // counts as done for the ramp; it never delivers a chunk
    this.onWelcome();
  }

  private read(n: number): boolean {
    const t = nowMs();
    readBatchMs = batchClock.stamp(t);
    const buf = READ_BUFFER;
    if (this.upgraded) return this.parse(buf, n, t);
    // The handshake (once per connection): the response head, then perhaps the first frames.
    this.head += buf.toString('latin1', 0, n);
    const end = this.head.indexOf('\r\n\r\n');
    if (end < 0) return true;
    if (!this.head.startsWith('HTTP/1.1 101')) {
      process.stderr.write(
        `load-generator: upgrade refused: ${this.head.slice(0, this.head.indexOf('\r\n'))}\n`,
      );
      this.socket.destroy();
      return false;
    }
    this.upgraded = true;
    const rest = Buffer.from(this.head.slice(end + 4), 'latin1');
    this.head = '';
    return this.parse(rest, rest.length, t);
  }

  /** A stream this parser cannot read is counted and closed; the others go on. */
  private parse(buf: Buffer, n: number, t: number): boolean {
    try {
      this.parser.push(buf, 0, n, t);
      return true;
    } catch (e) {
      if (!(e instanceof WsParseError)) throw e;
      protocolErrors++;
      if (!firstProtocolError) firstProtocolError = `${e.message} (after ${this.parser.messages} chunks)`;
      this.socket.destroy();
      return false;
    }
  }

  chunk(flags: number, seq: number, playTimeMs: number, t: number): void {
    if (measuring) {
      chunksMeasured++;
      const tb = readBatchMs;
      if (nLate < capacity) {
        lateness[nLate] = t - (playTimeMs - leadMs);
        batchLateness[nLate++] = tb - (playTimeMs - leadMs);
      }
      if (this.lastSeq >= 0) {
        if (seq !== this.lastSeq + 1) gaps++;
        else if (nJitter < capacity) {
          jitter[nJitter++] = Math.abs(t - this.lastArrival - this.chunkMs);
          batchJitter[nBatchJitter++] = Math.abs(tb - this.lastBatchArrival - this.chunkMs);
        }
      }
      if (flags & 1) flagged++;
    }
    this.lastSeq = seq;
    this.lastArrival = t;
    this.lastBatchArrival = readBatchMs;
  }

  text(message: string): void {
    if (this.welcomed) return;
    const m = JSON.parse(message) as { type?: string; chunkMs?: number };
    if (m.type !== 'welcome') return;
    if (m.chunkMs) this.chunkMs = m.chunkMs;
    this.welcomed = true;
    this.onWelcome();
  }

  control(opcode: number, payload: Buffer): void {
    if (opcode === 9)
      this.socket.write(maskedFrame(0x8a, payload)); // ping: answer pong
    else if (opcode === 8) this.socket.end(maskedFrame(0x88, payload.subarray(0, 2)));
  }
}

/** A client frame (RFC 6455: masked) of at most 125 bytes; a zero mask keeps the payload as is. */
function maskedFrame(b0: number, payload: Buffer): Buffer {
  const f = Buffer.alloc(6 + payload.length);
  f[0] = b0;
  f[1] = 0x80 | payload.length;
  payload.copy(f, 6);
  return f;
}

function within(a: Float64Array, n: number, limit: number): number {
  if (n === 0) return NaN;
  let k = 0;
  for (let i = 0; i < n; i++) if (a[i]! <= limit) k++;
  return (k / n) * 100;
}

function pct(a: Float64Array, n: number, p: number): number {
  if (n === 0) return NaN;
  const s = a.slice(0, n).sort();
  return s[Math.min(n - 1, Math.floor((p / 100) * n))]!;
}

function print(msg: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

function measureSignal(): Promise<void> {
  if (!controlled) return new Promise((r) => setTimeout(r, warmupSeconds * 1000));
  return new Promise((resolve) => {
    let buf = '';
    process.stdin.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('measure\n')) resolve();
    });
  });
}

async function main(): Promise<void> {
  const open: RawListener[] = [];
  const t0 = performance.now();
  for (let i = 0; i < listeners; i += RAMP_BATCH) {
    const batch: Promise<void>[] = [];
    for (let k = i; k < Math.min(listeners, i + RAMP_BATCH); k++)
      batch.push(new Promise<void>((resolve) => open.push(new RawListener(resolve))));
    await Promise.all(batch);
  }
  const connectSeconds = (performance.now() - t0) / 1000;
  print({ phase: 'connected', connectSeconds });
  await measureSignal();
  print({ phase: 'measuring' });
  measuring = true;
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const cpu = process.cpuUsage(cpu0);
  const windowSeconds = (performance.now() - w0) / 1000;
  if (samplesDir) {
    const write = (what: string, a: Float64Array, n: number): void =>
      writeFileSync(join(samplesDir, `gen-${id}.${what}.f64`), Buffer.from(a.buffer, 0, n * 8));
    write('lateness', lateness, nLate);
    write('jitter', jitter, nJitter);
    write('batch-lateness', batchLateness, nLate);
    write('batch-jitter', batchJitter, nBatchJitter);
  }
  print({
    phase: 'done',
    listeners,
    seconds,
    connectSeconds,
    chunksMeasured,
    expectedChunks: listeners * ((seconds * 1000) / 100),
    latenessMs: {
      p50: pct(lateness, nLate, 50),
      p95: pct(lateness, nLate, 95),
      p99: pct(lateness, nLate, 99),
      max: pct(lateness, nLate, 100),
    },
    within50MsPercent: within(lateness, nLate, 50),
    jitterMs: {
      p50: pct(jitter, nJitter, 50),
      p95: pct(jitter, nJitter, 95),
      p99: pct(jitter, nJitter, 99),
      max: pct(jitter, nJitter, 100),
    },
    batchLatenessMs: {
      p50: pct(batchLateness, nLate, 50),
      p95: pct(batchLateness, nLate, 95),
      p99: pct(batchLateness, nLate, 99),
      max: pct(batchLateness, nLate, 100),
    },
    batchJitterMs: {
      p50: pct(batchJitter, nBatchJitter, 50),
      p95: pct(batchJitter, nBatchJitter, 95),
      p99: pct(batchJitter, nBatchJitter, 99),
      max: pct(batchJitter, nBatchJitter, 100),
    },
    batches: batchClock.batches,
    gaps,
    discontinuities: flagged,
    closedEarly,
    protocolErrors,
    firstProtocolError,
    generatorCpuPercent: ((cpu.user + cpu.system) / 1e6 / windowSeconds) * 100,
  });
  for (const l of open) l.socket.destroy();
  process.exit(0);
}

void main();
