/**
 * Fault runs against a real server process: starts the built server (`dist/main.js`, what
 * `npm start` runs) with fault injection on, listens to it over a WebSocket and an Ogg stream,
 * injects each fault, and reports what the listeners got, what the metrics and the log said, and
 * how long the stream took to be steady again. Used by `npm run bench:faults` (bench/faults.ts)
 * and by test/server/faults.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';
import { readFrameHeader } from '../../src/codec/frame-header.ts';
import { parseOggPages } from '../../src/codec/ogg-page.ts';
import { cpuSeconds as procCpuSeconds } from './proc.ts';

const CHUNK_MS = 100;
const CHUNK_FRAMES = 4800;
const OPUS_PACKET_FRAMES = 960;
/** A chunk is on time when it arrives at most this long after its due time (play time − lead). */
const ON_TIME_MS = 250;
/** Consecutive steady chunks (or pages) that make the stream "recovered". */
const STEADY_RUN = 10;

export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------------
// The server process

export interface LogLine {
  atMs: number;
  level: number;
  msg: string;
}

export interface ServerProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  logs: LogLine[];
  exited: boolean;
  leadMs: number;
  stop(): Promise<void>;
}

/**
 * Starts `node dist/main.js serve` on a free port with fault injection on; with `fdLimit`, under
 * `ulimit -n fdLimit` (bash execs node, so the pid is the server's).
 */
export async function startServerProcess(
  opts: { fdLimit?: number; args?: string[] } = {},
): Promise<ServerProcess> {
  if (!existsSync('dist/main.js')) throw new Error('dist/main.js is missing: run npm run build:server first');
  const leadMs = 150;
  const serve = [
    'dist/main.js',
    'serve',
    // Benchmarks keep no stations across runs.
    '--state-file=',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--workers',
    '1',
    '--lead-ms',
    String(leadMs),
    '--fault-injection',
    'on',
    '--log-level',
    'warn',
    ...(opts.args ?? []),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test' };
  for (const k of Object.keys(env)) if (k.startsWith('AURALIS_') || k === 'NODE_TEST_CONTEXT') delete env[k];
  const child =
    opts.fdLimit === undefined
      ? spawn(process.execPath, serve, { stdio: ['ignore', 'pipe', 'pipe'], env })
      : spawn('bash', ['-c', `ulimit -n ${opts.fdLimit} && exec "$0" "$@"`, process.execPath, ...serve], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env,
        });
  const logs: LogLine[] = [];
  const proc: ServerProcess = {
    url: '',
    pid: child.pid!,
    child,
    logs,
    exited: false,
    leadMs,
    stop: async () => {
      if (proc.exited) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      try {
        process.kill(proc.pid, 'SIGCONT');
        process.kill(proc.pid, 'SIGTERM');
      } catch {
        return;
      }
      const t = setTimeout(() => {
        try {
          process.kill(proc.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 3000);
      await gone;
      clearTimeout(t);
    },
  };
  child.on('exit', () => (proc.exited = true));
  let resolveUrl: (u: string) => void = () => {};
  const urlSeen = new Promise<string>((r) => (resolveUrl = r));
  const onLine = (line: string): void => {
    const at = nowMs();
    const m = /serving on (http:\/\/[^\s)]+)/.exec(line);
    if (m) resolveUrl(m[1]!);
    let level = 30;
    let msg = line;
    try {
      const j = JSON.parse(line) as { level?: number | string; msg?: string; err?: { message?: string } };
      level = typeof j.level === 'number' ? j.level : levelNumber(String(j.level));
      msg = (j.msg ?? '') + (j.err?.message ? ` (${j.err.message})` : '');
    } catch {
      if (/error/i.test(line)) level = 50;
    }
    if (logs.length < 10_000) logs.push({ atMs: at, level, msg });
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let buf = '';
    stream.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  }
  const timeout = sleep(30_000).then(() => {
    throw new Error(`server did not start; log: ${logs.map((l) => l.msg).join(' | ')}`);
  });
  const exited = new Promise<never>((_r, reject) =>
    child.once('exit', (code) =>
      reject(new Error(`server exited (${code}) at start: ${logs.map((l) => l.msg).join(' | ')}`)),
    ),
  );
  try {
    proc.url = await Promise.race([urlSeen, timeout, exited]);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}

function levelNumber(name: string): number {
  return { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }[name] ?? 30;
}

/** Posts a fault; resolves with the answer and the time it came back. */
export async function injectFault(
  server: ServerProcess,
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown>; answeredMs: number }> {
  const res = await fetch(`${server.url}/debug/fault`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body: json, answeredMs: nowMs() };
}

/** The server's `auralis_*` samples (name with labels → value). */
export async function scrape(server: ServerProcess): Promise<Map<string, number>> {
  const res = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('auralis_') || line.includes('_bucket{')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** GET over a given agent (a keep-alive agent reuses a connection opened before the fds ran out). */
export function httpGetText(url: string, agent: http.Agent, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(text));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** CPU seconds (user + system, all threads) the process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  try {
    return procCpuSeconds(pid);
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// Listeners

export interface Received {
  /** Sequence number (WebSocket) or page sequence number (Ogg). */
  seq: number;
  arrivedMs: number;
  /** WebSocket: discontinuity flag. Ogg: the granule did not advance by one chunk. */
  flagged: boolean;
  /** WebSocket: play time − lead − arrival is the slack; Ogg: NaN. */
  dueMs: number;
  /** Why the bytes are not a valid chunk or page, or null. */
  bad: string | null;
}

export interface Tap {
  kind: 'ws' | 'ogg';
  items: Received[];
  closedAtMs: number | null;
  closeInfo: string;
  close(): void;
}

/** A WebSocket listener (Opus) that checks every chunk it gets. */
export function wsTap(server: ServerProcess): Promise<Tap & { ping(): Promise<number> }> {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?codec=opus`);
  const tap = {
    kind: 'ws' as const,
    items: [] as Received[],
    closedAtMs: null as number | null,
    closeInfo: '',
    close: () => ws.close(),
    ping: (): Promise<number> =>
      new Promise<number>((resolve, reject) => {
        const t = nowMs();
        const timer = setTimeout(() => reject(new Error('no pong in 5 s')), 5000);
        pongWaiters.set(t, (serverTime) => {
          clearTimeout(timer);
          resolve(serverTime - (t + nowMs()) / 2);
        });
        ws.send(JSON.stringify({ type: 'ping', t }));
      }),
  };
  const pongWaiters = new Map<number, (serverTime: number) => void>();
  let base: number | null = null;
  ws.on('message', (data: Buffer, binary) => {
    const at = nowMs();
    if (!binary) {
      const m = JSON.parse(data.toString()) as { type: string; t?: number; serverTime?: number };
      if (m.type === 'pong' && m.t !== undefined) {
        pongWaiters.get(m.t)?.(m.serverTime ?? Number.NaN);
        pongWaiters.delete(m.t);
      }
      return;
    }
    let bad: string | null = null;
    let seq = -1;
    let flagged = false;
    let dueMs = Number.NaN;
    try {
      const h = readFrameHeader(data);
      seq = h.sequence;
      flagged = (h.flags & 1) === 1;
      dueMs = h.playTimeMs - server.leadMs;
      base ??= h.playTimeMs - h.sequence * CHUNK_MS;
      if (h.codec !== 1 || h.channels !== 2 || h.sampleRate !== 48_000 || h.frames !== CHUNK_FRAMES)
        bad = `header ${JSON.stringify(h)}`;
      else if (h.positionFrames !== h.sequence * CHUNK_FRAMES)
        bad = `position ${h.positionFrames} for seq ${seq}`;
      else if (Math.abs(h.playTimeMs - (base + h.sequence * CHUNK_MS)) > 0.01)
        bad = `play time ${h.playTimeMs} off the station clock by ${h.playTimeMs - (base + h.sequence * CHUNK_MS)} ms`;
      else bad = opusPayloadProblem(data.subarray(32));
    } catch (err) {
      bad = (err as Error).message;
    }
    if (tap.items.length < 100_000) tap.items.push({ seq, arrivedMs: at, flagged, dueMs, bad });
  });
  ws.on('close', (code, reason) => {
    tap.closedAtMs = nowMs();
    tap.closeInfo = `${code} ${reason.toString()}`;
  });
  ws.on('error', (err) => (tap.closeInfo ||= err.message));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(tap));
    ws.once('error', reject);
  });
}

/** The Opus payload of PROTOCOL.md: `u16 length` + packet, one per 20 ms, filling it exactly. */
function opusPayloadProblem(p: Buffer): string | null {
  let at = 0;
  let packets = 0;
  while (at < p.length) {
    if (at + 2 > p.length) return 'truncated packet length';
    const n = p.readUInt16LE(at);
    if (n === 0) return 'empty Opus packet';
    at += 2 + n;
    packets++;
  }
  if (at !== p.length) return `packets overrun the payload by ${at - p.length} bytes`;
  if (packets !== CHUNK_FRAMES / OPUS_PACKET_FRAMES) return `${packets} Opus packets, expected 5`;
  return null;
}

/** An HTTP Ogg/Opus listener that splits the byte stream into pages and checks each (CRC, lacing). */
export function oggTap(server: ServerProcess): Promise<Tap> {
  const tap: Tap = { kind: 'ogg', items: [], closedAtMs: null, closeInfo: '', close: () => req.destroy() };
  let buf: Buffer = Buffer.alloc(0);
  let lastGranule: number | null = null;
  let headers = 0;
  const req = http.get(`${server.url}/stream/default.ogg`);
  return new Promise((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`ogg stream answered ${res.statusCode}`));
        return;
      }
      req.removeListener('error', reject);
      req.on('error', (err) => (tap.closeInfo ||= err.message));
      res.on('data', (d: Buffer) => {
        const at = nowMs();
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        for (;;) {
          if (buf.length < 27) break;
          if (buf.readUInt32BE(0) !== 0x4f676753) {
            // Not at a page: count it and resynchronize on the next capture pattern.
            const next = buf.indexOf('OggS', 1);
            tap.items.push({
              seq: -1,
              arrivedMs: at,
              flagged: false,
              dueMs: Number.NaN,
              bad: 'no capture pattern',
            });
            buf = next < 0 ? Buffer.alloc(0) : buf.subarray(next);
            continue;
          }
          const segs = buf[26]!;
          if (buf.length < 27 + segs) break;
          let body = 0;
          for (let i = 0; i < segs; i++) body += buf[27 + i]!;
          const len = 27 + segs + body;
          if (buf.length < len) break;
          const page = buf.subarray(0, len);
          buf = buf.subarray(len);
          let bad: string | null = null;
          try {
            parseOggPages(page);
          } catch (err) {
            bad = (err as Error).message;
          }
          const pageSeq = page.readUInt32LE(18);
          const granule = Number(page.readBigInt64LE(6));
          if (headers < 2 && pageSeq < 2) {
            headers++;
            continue;
          }
          const flagged = lastGranule !== null && granule - lastGranule !== CHUNK_FRAMES;
          lastGranule = granule;
          if (tap.items.length < 100_000)
            tap.items.push({ seq: pageSeq, arrivedMs: at, flagged, dueMs: Number.NaN, bad });
        }
      });
      res.on('close', () => {
        tap.closedAtMs = nowMs();
        tap.closeInfo ||= 'stream ended';
      });
      resolve(tap);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// What a listener heard

export interface Heard {
  received: number;
  /** Sequence numbers missing between consecutive items. */
  missing: number;
  /** Items whose sequence number went backwards. */
  backwards: number;
  flagged: number;
  bad: number;
  badExample: string | null;
  /** Longest time between two arrivals (ms). */
  longestSilenceMs: number;
  /** WebSocket chunks that arrived more than ON_TIME_MS after their due time. */
  late: number;
  /** From `fromMs` to the first item of a steady run after the last disturbance; 0 when undisturbed. */
  recoverMs: number | null;
  stillConnected: boolean;
}

/**
 * Summarizes what `tap` got between `fromMs` and `toMs`. Steady: consecutive sequence numbers,
 * arrivals under 2 chunks apart, and (WebSocket) each chunk at most ON_TIME_MS after its due time.
 * A disturbance is a gap, a flag, a bad item, a late chunk or a silence.
 */
export function heard(tap: Tap, fromMs: number, toMs: number, recoverFromMs: number): Heard {
  const all = tap.items;
  let start = all.findIndex((x) => x.arrivedMs >= fromMs);
  if (start < 0) start = all.length;
  const before = start > 0 ? all[start - 1] : undefined;
  const items = all.filter((x) => x.arrivedMs >= fromMs && x.arrivedMs <= toMs);
  const h: Heard = {
    received: items.length,
    missing: 0,
    backwards: 0,
    flagged: 0,
    bad: 0,
    badExample: null,
    longestSilenceMs: 0,
    late: 0,
    recoverMs: null,
    stillConnected: tap.closedAtMs === null || tap.closedAtMs > toMs,
  };
  const steady: boolean[] = [];
  let prev = before;
  for (const x of items) {
    let ok = true;
    if (x.bad !== null) {
      h.bad++;
      h.badExample ??= x.bad;
      ok = false;
    }
    if (x.flagged) {
      h.flagged++;
      ok = false;
    }
    if (prev) {
      const d = x.seq - prev.seq;
      if (d > 1) {
        h.missing += d - 1;
        ok = false;
      } else if (d < 1) {
        h.backwards++;
        ok = false;
      }
      const silence = x.arrivedMs - prev.arrivedMs;
      h.longestSilenceMs = Math.max(h.longestSilenceMs, silence);
      if (silence > 2 * CHUNK_MS) ok = false;
    }
    if (Number.isFinite(x.dueMs) && x.arrivedMs - x.dueMs > ON_TIME_MS) {
      h.late++;
      ok = false;
    }
    steady.push(ok);
    prev = x;
  }
  // Silence up to the end of the window is a disturbance that has not ended (a hang).
  const lastArrival = items.length > 0 ? items[items.length - 1]!.arrivedMs : fromMs;
  h.longestSilenceMs = Math.max(h.longestSilenceMs, toMs - lastArrival);
  if (toMs - lastArrival > 1000) return h;
  // The last disturbance, then the first item of STEADY_RUN steady ones after it.
  let lastBad = -1;
  for (let i = 0; i < steady.length; i++) if (!steady[i]) lastBad = i;
  if (lastBad < 0) h.recoverMs = 0;
  else {
    const first = lastBad + 1;
    if (first + STEADY_RUN <= items.length)
      h.recoverMs = Math.max(0, items[first]!.arrivedMs - recoverFromMs);
  }
  return h;
}

export function describeHeard(h: Heard): string {
  const parts = [`${h.received} rx`];
  parts.push(`${h.missing} missing`);
  parts.push(`${h.flagged} flagged`);
  parts.push(`${h.bad} bad`);
  if (h.late > 0) parts.push(`${h.late} late`);
  if (h.backwards > 0) parts.push(`${h.backwards} backwards`);
  parts.push(`longest silence ${Math.round(h.longestSilenceMs)} ms`);
  if (!h.stillConnected) parts.push('DISCONNECTED');
  return parts.join(', ');
}

// ---------------------------------------------------------------------------------------------
// File descriptors

/**
 * Opens idle TCP connections to the server until it sheds new ones (accepts and closes them at
 * once: its file descriptors are exhausted) or `max` are open. Resolves with the sockets it holds
 * open and the number shed.
 */
export async function exhaustFds(
  server: ServerProcess,
  max: number,
): Promise<{ held: net.Socket[]; shed: number; firstShedAfter: number | null }> {
  const { port } = new URL(server.url);
  const held: net.Socket[] = [];
  let shed = 0;
  let firstShedAfter: number | null = null;
  for (let i = 0; i < max && shed < 5; i++) {
    const s = net.connect(Number(port), '127.0.0.1');
    s.on('error', () => {});
    const fate = await new Promise<'open' | 'shed'>((resolve) => {
      s.once('connect', () => {
        // Shed connections are closed by the server right after the handshake.
        const t = setTimeout(() => resolve('open'), 150);
        s.once('close', () => {
          clearTimeout(t);
          resolve('shed');
        });
      });
      s.once('close', () => resolve('shed'));
    });
    if (fate === 'open') held.push(s);
    else {
      shed++;
      firstShedAfter ??= held.length;
    }
  }
  return { held, shed, firstShedAfter };
}

/** Resolves when GET /healthz answers 200, polling every 50 ms; the time it took, or null after `limitMs`. */
export async function healthyWithin(server: ServerProcess, limitMs: number): Promise<number | null> {
  const t0 = nowMs();
  while (nowMs() - t0 < limitMs) {
    try {
      const r = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return nowMs() - t0;
    } catch {
      // not yet
    }
    await sleep(50);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The suite

export interface FaultRow {
  fault: string;
  ws: Heard;
  ogg: Heard;
  /** Changes of the server's counters over the fault, and anything else measured. */
  metrics: string;
  /** The same changes, by short name (`restarts`, `dropped(encode)`, …). */
  deltas: Record<string, number>;
  /** The fault's own answer (e.g. stall-loop's `stalledMs`). */
  answer: Record<string, unknown>;
  /** Log lines at warn level or above during the fault (deduplicated, with counts). */
  logs: string;
  /** The slower of the two listeners' recoveries, ms from the end of the fault; null: not within the window. */
  recoverMs: number | null;
  /** Checks particular to the fault (e.g. the pong shows the clock jump); null when none failed. */
  problem: string | null;
}

const COUNTERS: [string, string][] = [
  ['auralis_worker_restarts_total', 'restarts'],
  ['auralis_encoder_errors_total', 'encoder errors'],
  ['auralis_engine_chunks_dropped_total{reason="encode"}', 'dropped(encode)'],
  ['auralis_engine_chunks_dropped_total{reason="late"}', 'dropped(late)'],
  ['auralis_chunks_skipped_total{transport="ws"}', 'skipped(ws)'],
  ['auralis_chunks_skipped_total{transport="ogg"}', 'skipped(ogg)'],
];

function counterDeltas(a: Map<string, number>, b: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, short] of COUNTERS) out[short] = (b.get(name) ?? 0) - (a.get(name) ?? 0);
  return out;
}

function describeDeltas(d: Record<string, number>): string {
  const parts = Object.entries(d)
    .filter(([, v]) => v !== 0)
    .map(([k, v]) => `${k} +${v}`);
  return parts.length > 0 ? parts.join(', ') : 'no counter moved';
}

function logSummary(server: ServerProcess, fromMs: number, toMs: number): string {
  const counts = new Map<string, number>();
  for (const l of server.logs) {
    if (l.atMs < fromMs || l.atMs > toMs || l.level < 40) continue;
    const key = `${l.level >= 50 ? 'ERROR' : 'warn'}: ${l.msg.replace(/\d+/g, 'N').slice(0, 90)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (counts.size === 0) return 'none';
  return [...counts].map(([k, n]) => (n > 1 ? `${k} (×${n})` : k)).join('; ');
}

export interface SuiteOptions {
  /** How long to watch after each fault (ms). */
  windowMs: number;
  /** SIGSTOP length (ms). */
  stopMs: number;
  fdLimit: number;
  /** Stations created besides `default` (all on the one engine worker), to load it. */
  extraStations?: number;
  log?: (line: string) => void;
}

/**
 * Runs every fault once against one server process, in order, with a WebSocket and an Ogg listener
 * connected throughout (the fd exhaustion last). Stops the server before returning.
 */
export async function runFaultSuite(opts: SuiteOptions): Promise<FaultRow[]> {
  const log = opts.log ?? (() => {});
  const server = await startServerProcess({ fdLimit: opts.fdLimit });
  const rows: FaultRow[] = [];
  let ws: Awaited<ReturnType<typeof wsTap>> | null = null;
  let ogg: Tap | null = null;
  try {
    for (let i = 0; i < (opts.extraStations ?? 0); i++) {
      const r = await fetch(`${server.url}/api/stations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: `extra-${i}`, seed: i }),
      });
      if (r.status !== 201) throw new Error(`creating station extra-${i} answered ${r.status}`);
    }
    ws = await wsTap(server);
    ogg = await oggTap(server);
    await sleep(2000); // both listeners steady
    const tapWs = ws;
    const tapOgg = ogg;

    const measure = async (
      fault: string,
      act: () => Promise<{
        endMs: number;
        extra?: string;
        problem?: string | null;
        answer?: Record<string, unknown>;
      }>,
    ): Promise<FaultRow> => {
      log(`fault: ${fault}`);
      const m0 = await scrape(server);
      const t0 = nowMs();
      const { endMs, extra, problem, answer } = await act();
      await sleep(opts.windowMs);
      const t1 = nowMs();
      const m1 = await scrape(server);
      const hw = heard(tapWs, t0, t1, endMs);
      const ho = heard(tapOgg, t0, t1, endMs);
      const recoverMs =
        hw.recoverMs === null || ho.recoverMs === null ? null : Math.max(hw.recoverMs, ho.recoverMs);
      const row: FaultRow = {
        fault,
        ws: hw,
        ogg: ho,
        metrics: describeDeltas(counterDeltas(m0, m1)) + (extra ? `; ${extra}` : ''),
        deltas: counterDeltas(m0, m1),
        answer: answer ?? {},
        logs: logSummary(server, t0, t1),
        recoverMs,
        problem: problem ?? null,
      };
      rows.push(row);
      return row;
    };

    await measure('kill engine worker mid-chunk', async () => {
      const r = await injectFault(server, { fault: 'kill-worker' });
      if (r.status !== 200) throw new Error(`kill-worker answered ${r.status} ${JSON.stringify(r.body)}`);
      return { endMs: r.answeredMs };
    });
    await measure('Opus encoder throws once', async () => {
      const r = await injectFault(server, { fault: 'encoder-throw', chunks: 1 });
      if (r.status !== 200) throw new Error(`encoder-throw answered ${r.status} ${JSON.stringify(r.body)}`);
      return { endMs: r.answeredMs };
    });
    await measure('Opus encoder fails on 3 chunks, retries too', async () => {
      const r = await injectFault(server, { fault: 'encoder-throw', chunks: 3, persistent: true });
      if (r.status !== 200) throw new Error(`encoder-throw answered ${r.status} ${JSON.stringify(r.body)}`);
      return { endMs: r.answeredMs };
    });
    await measure('main loop stalled 500 ms', async () => {
      const r = await injectFault(server, { fault: 'stall-loop', ms: 500 });
      if (r.status !== 200) throw new Error(`stall-loop answered ${r.status} ${JSON.stringify(r.body)}`);
      return { endMs: r.answeredMs, extra: `stalled ${String(r.body.stalledMs)} ms`, answer: r.body };
    });
    await measure(`SIGSTOP ${opts.stopMs / 1000} s, then SIGCONT`, async () => {
      process.kill(server.pid, 'SIGSTOP');
      await sleep(opts.stopMs);
      process.kill(server.pid, 'SIGCONT');
      return { endMs: nowMs() };
    });
    for (const jump of [3_600_000, -3_600_000]) {
      await measure(`wall clock jumps ${jump > 0 ? '+' : '−'}1 h`, async () => {
        const r = await injectFault(server, { fault: 'clock-jump', ms: jump });
        if (r.status !== 200) throw new Error(`clock-jump answered ${r.status} ${JSON.stringify(r.body)}`);
        // The precondition: the server's wall clock really moved (its pong says so).
        const skew = await tapWs.ping();
        const moved = Math.abs(skew - jump) < 5000;
        return {
          endMs: r.answeredMs,
          extra: `pong serverTime off by ${(skew / 3_600_000).toFixed(3)} h`,
          problem: moved ? null : `the pong shows a clock ${skew} ms off, expected about ${jump}`,
        };
      });
    }
    await injectFault(server, { fault: 'clock-jump', ms: 0 });
    await measure(`file descriptors exhausted (ulimit -n ${opts.fdLimit})`, async () => {
      // A connection opened now, kept alive, lets /metrics be read while no new one can be.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      await httpGetText(`${server.url}/healthz`, agent);
      const cpu0 = cpuSeconds(server.pid);
      const w0 = nowMs();
      const { held, shed, firstShedAfter } = await exhaustFds(server, opts.fdLimit * 2);
      // Hold them a second: the server must shed new connections without spinning.
      await sleep(1000);
      const cpuPct = ((cpuSeconds(server.pid) - cpu0) / ((nowMs() - w0) / 1000)) * 100;
      let fds = 'metrics unreachable while exhausted';
      try {
        const text = await httpGetText(`${server.url}/metrics`, agent);
        fds = `process_open_fds ${sample(text, 'process_open_fds')} of process_max_fds ${sample(text, 'process_max_fds')}`;
      } catch (err) {
        fds += ` (${(err as Error).message})`;
      }
      agent.destroy();
      for (const s of held) s.destroy();
      const endMs = nowMs();
      const healthyMs = await healthyWithin(server, 5000);
      let newListener = 'a new listener got no audio';
      try {
        const late = await wsTap(server);
        const t = nowMs();
        while (late.items.length === 0 && nowMs() - t < 5000) await sleep(20);
        if (late.items.length > 0)
          newListener = `a new listener's first chunk ${Math.round(late.items[0]!.arrivedMs - endMs)} ms after release`;
        late.close();
      } catch (err) {
        newListener = `a new listener failed: ${(err as Error).message}`;
      }
      return {
        endMs,
        extra: `${fds}; ${held.length} connections held, ${shed} shed${firstShedAfter === null ? ' (limit never reached)' : ''}; server CPU ${cpuPct.toFixed(0)}% while exhausted; /healthz ${healthyMs === null ? 'not answering' : `answered ${Math.round(healthyMs)} ms after release`}; ${newListener}`,
        problem:
          firstShedAfter === null
            ? 'the descriptor limit was never reached'
            : healthyMs === null
              ? '/healthz did not answer after release'
              : newListener.includes('first chunk')
                ? null
                : newListener,
      };
    });
    return rows;
  } finally {
    ws?.close();
    ogg?.close();
    await server.stop();
  }
}

export function faultTable(rows: FaultRow[]): string {
  const out = [
    '| fault | WebSocket listener heard | Ogg listener heard | metrics | log (warn and above) | recover (ms) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    out.push(
      `| ${r.fault} | ${describeHeard(r.ws)} | ${describeHeard(r.ogg)} | ${r.metrics} | ${r.logs} | ${r.recoverMs === null ? 'not recovered' : Math.round(r.recoverMs)}${r.problem ? ` (${r.problem})` : ''} |`,
    );
  }
  return out.join('\n');
}
