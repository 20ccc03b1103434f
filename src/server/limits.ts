import type { Socket } from 'node:net';
import { monoNowMs } from '../engine/clock.ts';
import type { ProxyMatcher } from './trust-proxy.ts';

/** Buckets untouched this long (ms) are full again and are dropped by the sweep. */
const SWEEP_INTERVAL_MS = 10_000;
/** Longest time (ms) an over-limit connection is kept open waiting for the request to refuse. */
const REFUSED_GRACE_MS = 1000;

interface Bucket {
  tokens: number;
  lastMs: number;
}

/**
 * Per-client-address limits: open connections (HTTP, streams and WebSockets together) and control
 * changes a second (over every WebSocket of the address and the HTTP control API). Both maps only
 * hold addresses with something open or recent, so they are bounded by the connections themselves.
 */
export class ClientLimits {
  private readonly maxConnections: number;
  private readonly controlRate: number;
  private readonly open = new Map<string, number>();
  private readonly refused = new WeakSet<Socket>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly sweepTimer: NodeJS.Timeout;
  /** An over-limit connection that sends no request head within this (ms) is dropped unanswered. */
  private readonly refusedGraceMs: number;

  /** Connections from a trusted reverse proxy: counted per request, by the forwarded client address. */
  private readonly trusted: ProxyMatcher;

  constructor(opts: {
    maxConnectionsPerIp: number;
    controlRatePerIp: number;
    headersTimeoutMs?: number;
    trusted?: ProxyMatcher;
  }) {
    this.maxConnections = opts.maxConnectionsPerIp;
    this.trusted = opts.trusted ?? (() => false);
    this.refusedGraceMs = Math.min(REFUSED_GRACE_MS, opts.headersTimeoutMs ?? REFUSED_GRACE_MS);
    this.controlRate = opts.controlRatePerIp;
    this.sweepTimer = setInterval(() => this.sweep(monoNowMs()), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /**
   * A TCP connection arrived: counts it for its address until it closes. One past the limit is
   * marked; its first request is answered 429 TOO_MANY_CONNECTIONS and the connection closed (or
   * it is dropped unanswered if no request head arrives within a second).
   */
  connectionOpened(socket: Socket): void {
    const ip = socket.remoteAddress ?? '';
    // A proxy carries many clients: its requests are counted one by one (requestOpened).
    if (this.trusted(ip)) return;
    const n = (this.open.get(ip) ?? 0) + 1;
    this.open.set(ip, n);
    if (n > this.maxConnections) {
      this.refused.add(socket);
      // It only gets to hear why: it may not idle on the address's budget for the whole head timeout.
      socket.setTimeout(this.refusedGraceMs, () => socket.destroy());
    }
    socket.once('close', () => {
      const left = (this.open.get(ip) ?? 1) - 1;
      if (left <= 0) this.open.delete(ip);
      else this.open.set(ip, left);
    });
  }

  /** Whether `socket` comes from a trusted reverse proxy (its requests name their client). */
  viaProxy(socket: Socket): boolean {
    return this.trusted(socket.remoteAddress);
  }

  /**
   * A request through a trusted proxy from client `ip`: counts it against the client's open
   * connections until `closer` emits 'close' (the response, or the socket of an upgraded WebSocket,
   * which a proxy gives a connection of its own). Returns false, counting nothing, when the client
   * is at its limit.
   */
  requestOpened(ip: string, closer: { once(event: 'close', fn: () => void): unknown }): boolean {
    const n = (this.open.get(ip) ?? 0) + 1;
    if (n > this.maxConnections) return false;
    this.open.set(ip, n);
    closer.once('close', () => {
      const left = (this.open.get(ip) ?? 1) - 1;
      if (left <= 0) this.open.delete(ip);
      else this.open.set(ip, left);
    });
    return true;
  }

  /** Whether this connection arrived over its address's limit. */
  isRefused(socket: Socket): boolean {
    return this.refused.has(socket);
  }

  connectionsOf(ip: string): number {
    return this.open.get(ip) ?? 0;
  }

  get limit(): number {
    return this.maxConnections;
  }

  get controlLimit(): number {
    return this.controlRate;
  }

  /** Takes one control change from the address's bucket (refilled continuously); false: over the rate. */
  takeControl(ip: string, nowMs = monoNowMs()): boolean {
    let b = this.buckets.get(ip);
    if (!b) {
      b = { tokens: this.controlRate, lastMs: nowMs };
      this.buckets.set(ip, b);
    }
    b.tokens = Math.min(this.controlRate, b.tokens + ((nowMs - b.lastMs) / 1000) * this.controlRate);
    b.lastMs = nowMs;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Drops buckets that have refilled completely (idle a second or more). */
  sweep(nowMs: number): void {
    for (const [ip, b] of this.buckets) if (nowMs - b.lastMs >= 1000) this.buckets.delete(ip);
  }

  get trackedAddresses(): number {
    return this.open.size + this.buckets.size;
  }

  close(): void {
    clearInterval(this.sweepTimer);
    this.buckets.clear();
  }
}
