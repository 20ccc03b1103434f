import { existsSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Listener } from './listener.ts';

/** Where Linux lists TCP sockets with their send-queue length (`tx_queue`) and inode. */
export const PROC_NET_TCP: readonly string[] = ['/proc/net/tcp', '/proc/net/tcp6'];

const SPACE = 0x20;
const NEWLINE = 0x0a;
const COLON = 0x3a;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Walks a /proc/net/tcp(6) file and calls `found(inode, txQueue)` for every socket line, without
 * allocating per line (the file is walked byte by byte). Columns: sl, local_address, rem_address,
 * st, tx_queue:rx_queue, tr:tm->when, retrnsmt, uid, timeout, inode. Returns the lines parsed.
 */
export function parseProcNetTcp(buf: Uint8Array, found: (inode: number, txQueue: number) => void): number {
  let lines = 0;
  let at = 0;
  while (at < buf.length) {
    const next = parseProcNetTcpSlice(buf, at, buf.length, found);
    lines += next.lines;
    at = next.end;
  }
  return lines;
}

/** Result of parsing a slice: where the next slice starts, and the socket lines parsed. */
export interface SliceResult {
  end: number;
  lines: number;
}
const slice: SliceResult = { end: 0, lines: 0 };

/**
 * Parses the whole lines that start in [from, until) (the first line of the file, its header, is
 * skipped). Returns a shared result object (read it before the next call).
 */
export function parseProcNetTcpSlice(
  buf: Uint8Array,
  from: number,
  until: number,
  found: (inode: number, txQueue: number) => void,
): SliceResult {
  const n = buf.length;
  let i = from;
  if (i === 0) {
    // Skip the header line.
    while (i < n && buf[i] !== NEWLINE) i++;
    i++;
  }
  let lines = 0;
  while (i < n && i < until) {
    let field = 0;
    let tx = 0;
    let inode = 0;
    // Walk one line, counting whitespace-separated fields.
    while (i < n && buf[i] !== NEWLINE) {
      while (i < n && buf[i] === SPACE) i++;
      if (i >= n || buf[i] === NEWLINE) break;
      if (field === 4) {
        // tx_queue:rx_queue, hexadecimal
        for (; i < n; i++) {
          const v = hexValue(buf[i]!);
          if (v < 0) break;
          tx = tx * 16 + v;
        }
        if (buf[i] !== COLON) tx = -1;
      } else if (field === 9) {
        for (; i < n; i++) {
          const c = buf[i]!;
          if (c < 0x30 || c > 0x39) break;
          inode = inode * 10 + (c - 0x30);
        }
      }
      while (i < n && buf[i] !== SPACE && buf[i] !== NEWLINE) i++;
      field++;
    }
    i++;
    if (field >= 10 && tx >= 0) {
      lines++;
      if (inode !== 0) found(inode, tx);
    }
  }
  slice.end = Math.max(i, from + 1);
  slice.lines = lines;
  return slice;
}

/** Kernel queues of at most this many chunks (per listener) count as calm. */
export const CALM_CHUNKS = 3;
/** While every listener is calm, samples are this many intervals apart. */
export const CALM_FACTOR = 4;
/** Every this many samples all files are read, whatever the last ones found. */
const FULL_READ_EVERY = 8;

/** Bytes of /proc/net/tcp parsed before the sampler yields to the event loop (≈ 1,700 sockets). */
export const PARSE_SLICE_BYTES = 256 * 1024;

/** The inode of a connected socket (`socket:[N]` behind its file descriptor), 0 when unknown. */
export function socketInode(listener: Listener): number {
  const fd = (listener.socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return 0;
  try {
    const link = readlinkSync(`/proc/self/fd/${fd}`);
    const m = /^socket:\[(\d+)\]$/.exec(link);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export interface QueueSamplerOptions {
  intervalMs: number;
  /** Told once (info level) when the kernel's queues cannot be read (not Linux, no /proc). */
  onUnavailable?: (reason: string) => void;
  /** Called after every sample with each listener sampled (for the lag histogram). */
  onSampled?: (listener: Listener) => void;
  /** Files to read (tests point these elsewhere). */
  paths?: readonly string[];
}

/**
 * Reads every listener's kernel send-queue length (`tx_queue` in /proc/net/tcp and tcp6) on the
 * main thread, asynchronously, every `intervalMs` while there are listeners, into
 * `listener.flow.kernelQueued`. Node only sees its own user-space queue (`writableLength`); the
 * kernel may hold megabytes more per socket, and only both together tell how far behind live a
 * listener is. Where the files are missing the sampler stops, says so once, and kernelQueued stays
 * 0 (the pacer then sees user-space queues only).
 *
 * Reading the files costs the kernel real work (it lists every socket of the host: about 18 ms of
 * CPU for 5,000 connections), done on a libuv thread that shares the server's core. Started while
 * the pacer writes a chunk to thousands of sockets, it would stretch that fan-out and make the
 * listeners written last late. So the pacer starts samples (`afterFanout`) right after a fan-out,
 * when one is due: the read then runs in the gap before the next chunk. The sampler's own timer
 * only takes over when no fan-out has started a sample for two intervals.
 *
 * The cost is per read, not per listener: the kernel walks its whole table of established
 * connections, empty buckets included (about 0.3 ms of CPU per file here even with a handful of
 * sockets). So a sample reads only the files that listed one of our listeners (an IPv4 server never
 * reads /proc/net/tcp6) unless a listener is new or every eighth sample, and while every listener's
 * kernel queue held at most `CALM_CHUNKS` chunks at the last sample, samples are `CALM_FACTOR`
 * times further apart: a reader that stops reading is seen at most that much later (its queue
 * then grows past the calm level and sampling returns to every `intervalMs`).
 */
export class QueueSampler {
  private readonly byInode = new Map<number, Listener>();
  private readonly intervalMs: number;
  private readonly paths: readonly string[];
  private readonly onUnavailable: ((reason: string) => void) | undefined;
  private readonly onSampled: ((listener: Listener) => void) | undefined;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private closed = false;
  private generation = 0;
  /** When the last sample started (monotonic ms; this thread's performance.now()). */
  private lastStartMs = -Infinity;
  /** False once the files could not be read. */
  available = true;
  /** Samples taken, and the longest the last one held the main thread at once (ms). */
  samples = 0;
  lastParseMs = 0;
  /** Files read by the last sample (for tests and the benchmark). */
  lastFilesRead = 0;
  /** Listeners not yet found in any file (new since the last full read). */
  private unplaced = 0;
  /** Per file: listeners it listed at the last sample that read it. */
  private perFile: number[];
  /** The file being parsed (its index in `paths`). */
  private parsing = 0;
  /** True when every listener's kernel queue was calm at the last sample. */
  private calm = false;

  constructor(opts: QueueSamplerOptions) {
    this.intervalMs = opts.intervalMs;
    this.paths = opts.paths ?? PROC_NET_TCP;
    this.onUnavailable = opts.onUnavailable;
    this.onSampled = opts.onSampled;
    this.perFile = this.paths.map(() => 0);
  }

  /** Milliseconds between samples now: `intervalMs`, or CALM_FACTOR times that while all is calm. */
  get currentIntervalMs(): number {
    return this.calm ? this.intervalMs * CALM_FACTOR : this.intervalMs;
  }

  get size(): number {
    return this.byInode.size;
  }

  add(listener: Listener): void {
    if (this.closed || !this.available || listener.closed) return;
    const inode = listener.flow.inode || socketInode(listener);
    if (inode === 0) {
      // Not Linux (no /proc/self/fd to find a socket's inode): say so once, like a missing /proc/net/tcp.
      if (!existsSync('/proc/self/fd')) this.stopUnavailable('cannot read /proc/self/fd');
      return;
    }
    listener.flow.inode = inode;
    listener.flow.procFile = -1;
    this.byInode.set(inode, listener);
    this.unplaced++;
    this.calm = false;
    if (!this.timer) {
      this.timer = setInterval(this.tick, this.intervalMs);
      this.timer.unref();
    }
  }

  remove(listener: Listener): void {
    const inode = listener.flow.inode;
    if (inode !== 0 && this.byInode.get(inode) === listener) {
      this.byInode.delete(inode);
      if (listener.flow.procFile === -1) this.unplaced = Math.max(0, this.unplaced - 1);
    }
    if (this.byInode.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.byInode.clear();
  }

  private readonly found = (inode: number, txQueue: number): void => {
    const l = this.byInode.get(inode);
    if (l === undefined) return;
    l.flow.kernelQueued = txQueue;
    l.flow.sampleGen = this.generation;
    if (l.flow.procFile === -1) this.unplaced = Math.max(0, this.unplaced - 1);
    l.flow.procFile = this.parsing;
  };

  /**
   * The pacer has just written a chunk to its listeners: the best moment for a sample, if one is
   * due (the last one started `intervalMs` ago or more).
   */
  afterFanout(): void {
    if (this.timer && performance.now() - this.lastStartMs >= this.currentIntervalMs) this.start();
  }

  /** The fallback timer: samples only when no fan-out has started one for two intervals. */
  private readonly tick = (): void => {
    if (performance.now() - this.lastStartMs >= 2 * this.currentIntervalMs) this.start();
  };

  private start(): void {
    if (this.busy || this.closed) return;
    this.busy = true;
    this.lastStartMs = performance.now();
    void this.sample().finally(() => {
      this.busy = false;
    });
  }

  /** One sample: read the files, then parse them (exposed for tests and the benchmark). */
  async sample(): Promise<void> {
    const full = this.unplaced > 0 || this.samples % FULL_READ_EVERY === 0;
    const read = await Promise.all(
      this.paths.map((p, i) => (full || this.perFile[i]! > 0 ? readFile(p).catch(() => null) : null)),
    );
    let any = false;
    for (const b of read) if (b !== null) any = true;
    if (!any) {
      // Every file was asked for (a full read) and none could be read; or a partial read lost its file.
      if (full) this.stopUnavailable(`cannot read ${this.paths.join(' or ')}`);
      else this.unplaced = Math.max(this.unplaced, 1); // read them all next time
      return;
    }
    if (this.closed) return;
    await this.parse(read, full);
  }

  /**
   * Parses already-read files into the listeners' kernelQueued, PARSE_SLICE_BYTES at a time with
   * the event loop free in between (the pacer's timer is never held up by a long file). Records
   * the longest slice (ms) in lastParseMs.
   */
  async parse(files: readonly (Uint8Array | null)[], full = true): Promise<void> {
    const gen = ++this.generation;
    let longest = 0;
    let filesRead = 0;
    for (let i = 0; i < files.length; i++) {
      const f = files[i];
      if (!f) continue;
      filesRead++;
      this.parsing = i;
      let at = 0;
      while (at < f.length) {
        const t0 = performance.now();
        at = parseProcNetTcpSlice(f, at, at + PARSE_SLICE_BYTES, this.found).end;
        longest = Math.max(longest, performance.now() - t0);
        if (at < f.length) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (this.closed) return;
        }
      }
    }
    const t0 = performance.now();
    // A listener whose socket was not listed has left the kernel's table: nothing queued there.
    // (After a partial read, only listeners of the files read can have been listed; the others
    // were in files that listed none of ours, so the same holds.)
    let calm = true;
    for (let i = 0; i < this.perFile.length; i++) if (full || files[i]) this.perFile[i] = 0;
    for (const l of this.byInode.values()) {
      const f = l.flow;
      if (f.sampleGen !== gen) {
        f.kernelQueued = 0;
        // Not listed by a full read: no file has it (it may be listed later, see `found`).
        if (full && f.procFile === -1) {
          f.procFile = -2;
          this.unplaced = Math.max(0, this.unplaced - 1);
        }
      } else this.perFile[f.procFile] = (this.perFile[f.procFile] ?? 0) + 1;
      if (f.kernelQueued > CALM_CHUNKS * Math.max(f.chunkBytes, 1)) calm = false;
      if (this.onSampled) this.onSampled(l);
    }
    this.calm = calm && this.unplaced === 0;
    this.lastFilesRead = filesRead;
    this.samples++;
    this.lastParseMs = Math.max(longest, performance.now() - t0);
  }

  private stopUnavailable(reason: string): void {
    if (!this.available) return;
    this.available = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const l of this.byInode.values()) l.flow.kernelQueued = 0;
    this.byInode.clear();
    this.onUnavailable?.(
      `${reason}: kernel send queues are not visible; listener lag counts user-space queues only`,
    );
  }
}
