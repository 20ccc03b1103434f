/**
 * A user-space, TCP-level network impairment proxy for the browser tests and `bench/network.ts`:
 * it sits between Chromium and a real Auralis server and shapes bytes, without parsing HTTP, so the
 * page, its API calls, the WebSocket upgrade and the stream all pass through it unchanged.
 *
 * Each direction of each connection is a small model of a link:
 *
 *   source socket → bottleneck (token bucket, bytes/s) → delay line (delay ± jitter) → destination
 *
 * - Bottleneck: bytes leave in packets of at most MSS bytes when the bucket holds enough tokens.
 *   Its queue is kept small: while it holds more than `queueBytes`, the source socket is paused, so
 *   TCP's flow control pushes the backlog back to the sender, as a real bottleneck's small buffer
 *   would (the loopback kernel buffers behind it are still large; see docs/ARCHITECTURE.md).
 * - Delay line: each packet is released `delayMs ± jitterMs` (uniform) after it left the
 *   bottleneck, in order: a late packet holds back the ones behind it (TCP never reorders).
 * - Stalls: for `stall.forMs` every `stall.everyMs`, nothing moves in either direction (a Wi-Fi
 *   scan, a handover); what queued up is released at the end, in order.
 * - Loss: `resetConnections()` (or `resetEveryMs`) resets every open connection, as a NAT rebinding
 *   or a dropped link does; the player must reconnect.
 *
 * Not a test file.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { mulberry32 } from '../client/network-sim.ts';

export interface ImpairmentProfile {
  /** One-way delay added to each direction, ms. */
  delayMs?: number;
  /** Uniform ± spread around delayMs, ms (in order; never below 0). */
  jitterMs?: number;
  /** Bottleneck rate per direction, bytes/s (0 or absent: unlimited). */
  rateBytesPerS?: number;
  /** Periodic outage of both directions. */
  stall?: { everyMs: number; forMs: number };
  /** Reset every open connection this often (0 or absent: never). */
  resetEveryMs?: number;
}

export interface ImpairmentProxy {
  port: number;
  url: string;
  /** Replaces the profile for all connections, open and future; the stall schedule restarts now. */
  setProfile(profile: ImpairmentProfile): void;
  readonly profile: ImpairmentProfile;
  /** Resets (TCP RST towards the browser) every open connection; returns how many were reset. */
  resetConnections(): number;
  /** Connections accepted so far and resets injected so far. */
  readonly counters: { connections: number; resets: number; bytesToClient: number; bytesToServer: number };
  close(): Promise<void>;
}

/** Packet size through the bottleneck (a typical TCP MSS). */
export const MSS_BYTES = 1460;
/** Bottleneck queue above which the source socket is paused. */
export const DEFAULT_QUEUE_BYTES = 8 * 1024;
/** Token bucket depth: two packets, so a cap is a cap and not a burst allowance. */
const BUCKET_BYTES = 2 * MSS_BYTES;

interface Packet {
  data: Buffer;
  releaseAtMs: number;
}

/** One direction of one connection. */
class Pipe {
  private readonly bottleneck: Buffer[] = [];
  private bottleneckBytes = 0;
  private readonly line: Packet[] = [];
  private lastReleaseMs = 0;
  private tokens = BUCKET_BYTES;
  private tokensAtMs = performance.now();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAtMs = Infinity;
  private ended = false;
  private closed = false;

  constructor(
    private readonly source: Socket,
    private readonly dest: Socket,
    private readonly link: Link,
    private readonly queueBytes: number,
    private readonly onBytes: (n: number) => void,
    private readonly onDone: () => void,
  ) {
    source.on('data', (data: Buffer) => {
      this.bottleneck.push(data);
      this.bottleneckBytes += data.length;
      if (this.bottleneckBytes > this.queueBytes) source.pause();
      this.pump();
    });
    const ended = () => {
      this.ended = true;
      this.pump();
    };
    source.on('end', ended).on('close', ended);
    dest.on('drain', () => this.pump());
  }

  /** Moves bytes as far as the profile allows now, and arms one timer for the next step. */
  pump(): void {
    if (this.closed) return;
    const now = performance.now();
    const p = this.link.profile;
    const stallEnd = this.link.stallEndMs(now);
    if (stallEnd === 0) {
      // Bottleneck → delay line.
      const rate = p.rateBytesPerS ?? 0;
      if (rate > 0) {
        this.tokens = Math.min(BUCKET_BYTES, this.tokens + ((now - this.tokensAtMs) / 1000) * rate);
      }
      this.tokensAtMs = now;
      while (this.bottleneck.length > 0) {
        const head = this.bottleneck[0]!;
        const size = rate > 0 ? Math.min(head.length, MSS_BYTES) : head.length;
        if (rate > 0 && this.tokens < size) break;
        if (rate > 0) this.tokens -= size;
        const packet = size === head.length ? head : head.subarray(0, size);
        if (size === head.length) this.bottleneck.shift();
        else this.bottleneck[0] = head.subarray(size);
        this.bottleneckBytes -= size;
        const spread = (p.jitterMs ?? 0) * (2 * this.link.random() - 1);
        const releaseAtMs = Math.max(this.lastReleaseMs, now + Math.max(0, (p.delayMs ?? 0) + spread));
        this.lastReleaseMs = releaseAtMs;
        this.line.push({ data: packet, releaseAtMs });
      }
      if (this.bottleneckBytes <= this.queueBytes && this.dest.writableLength <= this.queueBytes) {
        this.source.resume();
      }
      // Delay line → destination.
      while (this.line.length > 0 && this.line[0]!.releaseAtMs <= now) {
        const packet = this.line.shift()!;
        this.onBytes(packet.data.length);
        if (!this.dest.write(packet.data)) this.source.pause();
      }
      if (this.ended && this.bottleneck.length === 0 && this.line.length === 0) {
        this.close();
        this.dest.end();
        this.onDone();
        return;
      }
    }
    // The next moment something can move.
    let next = Infinity;
    if (stallEnd > 0) next = stallEnd;
    else {
      if (this.line.length > 0) next = this.line[0]!.releaseAtMs;
      const rate = p.rateBytesPerS ?? 0;
      if (this.bottleneck.length > 0 && rate > 0) {
        const need = Math.min(this.bottleneck[0]!.length, MSS_BYTES) - this.tokens;
        next = Math.min(next, now + Math.max(1, (need / rate) * 1000));
      }
      // During the next stall nothing moves; the schedule is re-evaluated when it ends.
    }
    this.arm(next, now);
  }

  private arm(atMs: number, now: number): void {
    if (atMs === Infinity) return;
    if (this.timer && this.timerAtMs <= atMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAtMs = atMs;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAtMs = Infinity;
        this.pump();
      },
      Math.max(0, atMs - now),
    );
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.bottleneck.length = 0;
    this.line.length = 0;
  }
}

/** The profile and stall schedule shared by every pipe. */
class Link {
  profile: ImpairmentProfile = {};
  private phaseStartMs = performance.now();

  constructor(readonly random: () => number) {}

  set(profile: ImpairmentProfile): void {
    this.profile = { ...profile };
    this.phaseStartMs = performance.now();
  }

  /** End of the stall in progress at `now`, or 0 when the link is up. */
  stallEndMs(now: number): number {
    const s = this.profile.stall;
    if (!s || s.forMs <= 0 || s.everyMs <= 0) return 0;
    // The first stall starts one period after the profile was set.
    const t = now - this.phaseStartMs;
    if (t < s.everyMs) return 0;
    const into = (t - s.everyMs) % s.everyMs;
    return into < s.forMs ? now + (s.forMs - into) : 0;
  }
}

export async function startImpairmentProxy(
  targetPort: number,
  /** `random` in [0, 1) draws the jitter; seeded (1) by default so runs repeat. */
  opts: { random?: () => number; queueBytes?: number; profile?: ImpairmentProfile } = {},
): Promise<ImpairmentProxy> {
  const link = new Link(opts.random ?? mulberry32(1));
  link.set(opts.profile ?? {});
  const queueBytes = opts.queueBytes ?? DEFAULT_QUEUE_BYTES;
  const counters = { connections: 0, resets: 0, bytesToClient: 0, bytesToServer: 0 };
  const pairs = new Set<{ client: Socket; upstream: Socket; pipes: Pipe[] }>();
  let resetTimer: ReturnType<typeof setInterval> | null = null;

  // Half-open allowed: a side that finished sending (an HTTP response with `Connection: close`)
  // still gets what the delay line holds before its FIN is passed on.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    counters.connections++;
    const upstream = connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let done = 0;
    const end = () => {
      if (!pairs.delete(pair)) return;
      for (const p of pair.pipes) p.close();
      client.destroy();
      upstream.destroy();
    };
    const pipeDone = () => {
      if (++done === 2) end();
    };
    const pair = {
      client,
      upstream,
      pipes: [
        new Pipe(upstream, client, link, queueBytes, (n) => (counters.bytesToClient += n), pipeDone),
        new Pipe(client, upstream, link, queueBytes, (n) => (counters.bytesToServer += n), pipeDone),
      ],
    };
    pairs.add(pair);
    // A reset on either side is passed on at once, as on a real path.
    client.on('error', end);
    upstream.on('error', end);
  });

  const resetAll = (count = true): number => {
    let n = 0;
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      for (const p of pair.pipes) p.close();
      // A TCP RST towards the browser (ECONNRESET there), as a dropped path looks from a client.
      if (typeof pair.client.resetAndDestroy === 'function') pair.client.resetAndDestroy();
      else pair.client.destroy();
      pair.upstream.destroy();
      n++;
    }
    if (count) counters.resets += n;
    return n;
  };

  const applyResetSchedule = () => {
    if (resetTimer) clearInterval(resetTimer);
    resetTimer = null;
    const every = link.profile.resetEveryMs ?? 0;
    if (every > 0) resetTimer = setInterval(() => resetAll(), every);
  };
  applyResetSchedule();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    setProfile(profile) {
      link.set(profile);
      applyResetSchedule();
      // Pipes re-evaluate on their next event; nudge them so a lifted cap or stall applies now.
      for (const pair of pairs) for (const p of pair.pipes) p.pump();
    },
    get profile() {
      return { ...link.profile };
    },
    resetConnections: () => resetAll(),
    counters,
    close() {
      if (resetTimer) clearInterval(resetTimer);
      resetTimer = null;
      resetAll(false);
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
