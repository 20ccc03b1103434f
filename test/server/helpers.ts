import WebSocket from 'ws';
import { readFrameHeader, type FrameHeader } from '../../src/codec/frame-header.ts';
import { startServer, type AuralisServer, type StartOptions } from '../../src/server/server.ts';
import type { ServerConfig } from '../../src/server/config.ts';

export interface Chunk {
  header: FrameHeader;
  bytes: Buffer;
  payload: Buffer;
  arrivedMs: number;
}

export interface Client {
  ws: WebSocket;
  texts: Record<string, unknown>[];
  chunks: Chunk[];
  closed: Promise<{ code: number; reason: string }>;
  openedMs: number;
  /** Resolves with the first text message of `type` (already received or future). */
  next(type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves once `n` chunks have arrived. */
  waitChunks(n: number, timeoutMs?: number): Promise<Chunk[]>;
  send(obj: unknown): void;
  close(): void;
}

export function connect(
  server: AuralisServer,
  query = '',
  headers: Record<string, string> = {},
): Promise<Client> {
  const url = `${server.url.replace('http', 'ws')}/ws${query ? `?${query}` : ''}`;
  const ws = new WebSocket(url, { headers });
  const texts: Record<string, unknown>[] = [];
  const chunks: Chunk[] = [];
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  const openedMs = Date.now();
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) {
      const header = readFrameHeader(data);
      chunks.push({ header, bytes: Buffer.from(data), payload: data.subarray(32), arrivedMs: Date.now() });
    } else texts.push(JSON.parse(data.toString()) as Record<string, unknown>);
    wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      wake();
    }),
  );
  ws.on('error', () => {});
  const until = <T>(get: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = (): void => {
        const v = get();
        if (v !== undefined) {
          clearTimeout(timer);
          resolve(v);
        } else waiters.push(check);
      };
      check();
    });
  const client: Client = {
    ws,
    texts,
    chunks,
    closed,
    openedMs,
    next: (type, timeoutMs = 5000) =>
      until(() => texts.find((t) => t.type === type), timeoutMs, `a ${type} message`),
    waitChunks: (n, timeoutMs = 10_000) =>
      until(() => (chunks.length >= n ? chunks.slice(0, n) : undefined), timeoutMs, `${n} chunks`),
    send: (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)),
    close: () => ws.close(),
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

export async function withServer<T>(
  overrides: Partial<Record<keyof ServerConfig, unknown>>,
  fn: (server: AuralisServer) => Promise<T>,
  options: StartOptions = {},
): Promise<T> {
  const server = await startServer({ host: '127.0.0.1', port: 0, workers: 1, ...overrides }, {}, options);
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Decodes a PCM s16le interleaved payload to two Float32Arrays. */
export function pcmToFloat(payload: Buffer): { l: Float32Array; r: Float32Array } {
  const frames = payload.length / 4;
  const l = new Float32Array(frames);
  const r = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    l[i] = payload.readInt16LE(i * 4) / 32768;
    r[i] = payload.readInt16LE(i * 4 + 2) / 32768;
  }
  return { l, r };
}

export async function json(
  server: AuralisServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    // Every request that changes something must be application/json, also with no body (PROTOCOL.md).
    headers: {
      ...(body !== undefined || !['GET', 'HEAD'].includes(method)
        ? { 'content-type': 'application/json' }
        : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

/** A fastify log captured line by line (pass `stream` as `logStream` with `logLevel: 'info'`). */
export interface CapturedLog {
  stream: { write(line: string): void };
  lines: Record<string, unknown>[];
  /** Lines at error level (50) or above. */
  errors(): Record<string, unknown>[];
}

export function captureLog(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  return {
    lines,
    stream: { write: (line) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    errors: () => lines.filter((l) => (l.level as number) >= 50),
  };
}
