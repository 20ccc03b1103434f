/**
 * `npm run soak -- --minutes M --listeners N --churn R [--strict] [--out raw.json] [--md summary.md]`
 *
 * A real-time soak of the built server (`npm run build:server` first; dist/main.js): the server runs
 * as a child process on a free port; this process holds N listeners (mostly WebSocket/opus, some Ogg
 * over HTTP, some throttled Ogg readers), replaces one every R seconds, changes the default station's
 * intensity every 30 s (key or preset now and then) and runs personal sessions (created, changed,
 * left, resumed or abandoned). Every --sample-seconds it scrapes /metrics: RSS, main-thread and
 * worker heap, handles and sockets, GC, lateness p99 of the interval. At the end it prints a report
 * (slopes over the settled part, idle handles before vs after, GC totals, lateness first vs last
 * third, listener counts). With --strict, missed goals make the exit code 1.
 *
 * Other options: --sample-seconds S (10), --ogg-share F (0.2), --throttled-share F (0.1),
 * --throttle-bytes B (bytes/s a throttled reader takes, 3000), --intensity-every S (30),
 * --personal-every S (60; 0 = none), --grace-ms MS (server's personal grace period),
 * --heap-snapshot-every MIN (server writes a heap snapshot every MIN minutes, into --snapshot-dir),
 * --node-flags "…" (V8/Node flags for the server).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  analyzeSoak,
  soakMarkdown,
  type IdleSnapshot,
  type SoakAnalysis,
  type SoakCountsSummary,
  type SoakSample,
} from './lib/soak-analysis.ts';
import {
  OggSoakListener,
  SoakCounters,
  WsSoakListener,
  openPersonal,
  type ListenerKind,
  type SoakListener,
} from './lib/soak-clients.ts';
import { histogramDelta, histogramQuantile, parseProm, value, type Scrape } from './lib/prom.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MB = 1024 * 1024;

export interface SoakOptions {
  minutes: number;
  listeners: number;
  churnSeconds: number;
  sampleSeconds: number;
  oggShare: number;
  throttledShare: number;
  throttleBytesPerSecond: number;
  intensityEverySeconds: number;
  personalEverySeconds: number;
  graceMs?: number;
  heapSnapshotEveryMinutes: number;
  snapshotDir: string;
  nodeFlags: string[];
  leadMs: number;
  log: (msg: string) => void;
}

export interface SoakResult {
  options: Omit<SoakOptions, 'log'>;
  serverArgs: string[];
  startedAt: string;
  samples: SoakSample[];
  idleStart: IdleSnapshot | null;
  idleEnd: IdleSnapshot | null;
  counts: SoakCountsSummary;
  analysis: SoakAnalysis;
  /** Server exit: code and signal once stopped; `diedEarly` when it exited before the run ended. */
  server: { diedEarly: boolean; exitCode: number | null; signal: string | null; stderrTail: string };
  heapSnapshots: number;
}

export const DEFAULT_SOAK_OPTIONS: SoakOptions = {
  minutes: 10,
  listeners: 40,
  churnSeconds: 10,
  sampleSeconds: 10,
  oggShare: 0.2,
  throttledShare: 0.1,
  throttleBytesPerSecond: 3000,
  intensityEverySeconds: 30,
  personalEverySeconds: 60,
  heapSnapshotEveryMinutes: 0,
  snapshotDir: join(tmpdir(), 'auralis-soak-snapshots'),
  nodeFlags: [],
  leadMs: 150,
  log: (m) => process.stderr.write(`soak: ${m}\n`),
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function onLines(stream: NodeJS.ReadableStream, onLine: (l: string) => void): void {
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

/**
 * One HTTP request on its own connection (no keep-alive agent), so that the server's socket count at
 * a sample holds the listeners and this one request, never idle pooled connections.
 */
export function request(
  url: string,
  method = 'GET',
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((res, rej) => {
    const req = http.request(
      url,
      {
        method,
        agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (r) => {
        const parts: Buffer[] = [];
        r.on('data', (d: Buffer) => parts.push(d));
        r.on('end', () => res({ status: r.statusCode ?? 0, text: Buffer.concat(parts).toString() }));
        r.on('error', rej);
      },
    );
    req.on('error', rej);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${url}: no answer in 30 s`)));
    req.end(body);
  });
}

async function scrape(url: string): Promise<Scrape> {
  const r = await request(`${url}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return parseProm(r.text);
}

function idleOf(s: Scrape): IdleSnapshot {
  return {
    handles: value(s, 'nodejs_active_handles_total'),
    sockets: value(s, 'nodejs_active_handles', { type: 'Socket' }) || 0,
    resources: value(s, 'nodejs_active_resources_total'),
    openFds: value(s, 'process_open_fds'),
    stations: value(s, 'auralis_stations'),
    heapUsedMb: value(s, 'nodejs_heap_size_used_bytes') / MB,
    rssMb: value(s, 'process_resident_memory_bytes') / MB,
  };
}

function gcOf(s: Scrape): Record<string, { count: number; pauseMs: number }> {
  const out: Record<string, { count: number; pauseMs: number }> = {};
  for (const kind of ['minor', 'major', 'incremental', 'weakcb']) {
    const count = value(s, 'auralis_gc_pause_seconds_count', { kind });
    if (Number.isFinite(count))
      out[kind] = { count, pauseMs: value(s, 'auralis_gc_pause_seconds_sum', { kind }) * 1000 };
  }
  return out;
}

function gitCommit(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT });
  return r.status === 0 ? r.stdout.toString().trim() : 'unknown';
}

/** Listener kinds for a run of n: throttled and Ogg shares rounded, at least one each from n ≥ 4. */
export function listenerMix(n: number, oggShare: number, throttledShare: number): ListenerKind[] {
  const throttled = n >= 4 ? Math.max(1, Math.round(n * throttledShare)) : 0;
  const ogg = n >= 4 ? Math.max(1, Math.round(n * oggShare)) : 0;
  const kinds: ListenerKind[] = [];
  for (let i = 0; i < n; i++) kinds.push(i < throttled ? 'throttled' : i < throttled + ogg ? 'ogg' : 'ws');
  return kinds;
}

export async function runSoak(partial: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const o: SoakOptions = { ...DEFAULT_SOAK_OPTIONS, ...partial };
  const log = o.log;
  const entry = resolve(ROOT, 'dist/main.js');
  if (!existsSync(entry)) throw new Error('dist/main.js is missing: run `npm run build:server` first');
  const startedAt = new Date().toISOString();
  const serverArgs = [
    'serve',
    // Benchmarks keep no stations across runs.
    '--state-file=',
    '--port',
    '0',
    '--log-level',
    'warn',
    '--lead-ms',
    String(o.leadMs),
    '--max-listeners',
    String(o.listeners + 100),
    // Every listener of the soak comes from this one address.
    '--max-connections-per-ip',
    String(o.listeners + 100),
    ...(o.graceMs !== undefined ? ['--grace-period-ms', String(o.graceMs)] : []),
  ];
  const nodeFlags = [...o.nodeFlags];
  if (o.heapSnapshotEveryMinutes > 0) {
    mkdirSync(o.snapshotDir, { recursive: true });
    nodeFlags.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${resolve(o.snapshotDir)}`);
  }
  const server: ChildProcess = spawn(process.execPath, [...nodeFlags, entry, ...serverArgs], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderrTail = '';
  server.stderr!.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString()).slice(-4000);
  });
  let serverExited = false;
  const serverExit = new Promise<void>((r) =>
    server.once('exit', () => {
      serverExited = true;
      r();
    }),
  );
  let runEnded = false;
  let diedEarly = false;
  void serverExit.then(() => {
    if (!runEnded) diedEarly = true;
  });

  const counters = new SoakCounters();
  const live = new Set<SoakListener>();
  const timers: NodeJS.Timeout[] = [];
  const personalSockets = new Set<{ close(): void }>();
  const samples: SoakSample[] = [];
  let idleStart: IdleSnapshot | null = null;
  let idleEnd: IdleSnapshot | null = null;
  let replaced = 0;
  let controlChanges = 0;
  let controlFailures = 0;
  const personal = { created: 0, resumed: 0, abandoned: 0, failures: 0 };
  let heapSnapshots = 0;
  let first: Scrape | null = null;
  let last: Scrape | null = null;

  try {
    const url = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error('server did not start in 30 s')), 30_000);
      void serverExit.then(() => rej(new Error(`server exited before serving: ${stderrTail}`)));
      onLines(server.stdout!, (l) => {
        const m = /serving on (http:\/\/\S+)/.exec(l);
        if (m) {
          clearTimeout(t);
          res(m[1]!);
        }
      });
    });
    const wsUrl = `${url.replace('http', 'ws')}/ws`;
    log(`server pid ${server.pid} at ${url}; ${o.listeners} listeners for ${o.minutes} min`);
    await sleep(3000);
    idleStart = idleOf(await scrape(url));

    const kinds = listenerMix(o.listeners, o.oggShare, o.throttledShare);
    const open = (kind: ListenerKind): SoakListener => {
      const l =
        kind === 'ws'
          ? new WsSoakListener(wsUrl, counters, o.leadMs, onLost)
          : new OggSoakListener(url, counters, onLost, kind === 'throttled' ? o.throttleBytesPerSecond : 0);
      live.add(l);
      return l;
    };
    // A listener closed by the server (a throttled one by policy) is replaced after a second.
    function onLost(l: SoakListener): void {
      live.delete(l);
      if (runEnded) return;
      const t = setTimeout(() => {
        if (!runEnded) open(l.kind);
      }, 1000);
      timers.push(t);
    }
    for (const k of kinds) open(k);
    const t0 = performance.now();
    const elapsed = (): number => (performance.now() - t0) / 1000;
    const endMs = o.minutes * 60_000;

    // Churn: one listener replaced every churnSeconds, the longest-connected one.
    if (o.churnSeconds > 0) {
      timers.push(
        setInterval(() => {
          let oldest: SoakListener | null = null;
          for (const l of live) if (!oldest || l.openedAt < oldest.openedAt) oldest = l;
          if (!oldest) return;
          live.delete(oldest);
          oldest.close();
          open(oldest.kind);
          replaced++;
        }, o.churnSeconds * 1000),
      );
    }

    // Control: intensity every intensityEverySeconds; every fourth change a key, every seventh a preset.
    const keys = ['A', 'C', 'D', 'E', 'F#', 'Bb'];
    const presets = ['focus', 'meditation', 'sleep', 'bright'];
    const intensities = [0.3, 0.55, 0.7, 0.45, 0.6, 0.35, 0.8];
    let nChange = 0;
    if (o.intensityEverySeconds > 0) {
      timers.push(
        setInterval(() => {
          nChange++;
          const body =
            nChange % 7 === 0
              ? { preset: presets[nChange % presets.length] }
              : nChange % 4 === 0
                ? { key: keys[nChange % keys.length] }
                : { intensity: intensities[nChange % intensities.length] };
          request(`${url}/api/stations/default`, 'PATCH', JSON.stringify(body))
            .then((r) => {
              if (r.status === 200) controlChanges++;
              else {
                controlFailures++;
                log(`control change ${JSON.stringify(body)}: HTTP ${r.status} ${r.text}`);
              }
            })
            .catch(() => controlFailures++);
        }, o.intensityEverySeconds * 1000),
      );
    }

    // Personal sessions: create, change, leave; half are resumed within the grace period, the rest
    // abandoned (the server ends them when the grace period passes).
    let nPersonal = 0;
    if (o.personalEverySeconds > 0) {
      const cycle = async (): Promise<void> => {
        const resume = nPersonal++ % 2 === 0;
        const s = await openPersonal(wsUrl);
        personal.created++;
        personalSockets.add(s.ws);
        await sleep(5000);
        s.ws.send(JSON.stringify({ type: 'set', params: { intensity: 0.3 } }));
        await sleep(5000);
        s.ws.close();
        personalSockets.delete(s.ws);
        if (!resume || runEnded) {
          personal.abandoned++;
          return;
        }
        await sleep(3000);
        if (runEnded) {
          personal.abandoned++;
          return;
        }
        const r = await openPersonal(wsUrl, s.resumeToken);
        if (r.station !== s.station) throw new Error(`resumed ${r.station}, expected ${s.station}`);
        personal.resumed++;
        personalSockets.add(r.ws);
        await sleep(10_000);
        r.ws.close();
        personalSockets.delete(r.ws);
        personal.abandoned++;
      };
      timers.push(
        setInterval(() => {
          if (runEnded) return;
          cycle().catch((err: Error) => {
            personal.failures++;
            log(`personal session failed: ${err.message}`);
          });
        }, o.personalEverySeconds * 1000),
      );
    }

    // Heap snapshots of the server's main thread (--heapsnapshot-signal); each blocks its loop a while.
    if (o.heapSnapshotEveryMinutes > 0) {
      timers.push(
        setInterval(() => {
          if (!serverExited && server.kill('SIGUSR2')) heapSnapshots++;
        }, o.heapSnapshotEveryMinutes * 60_000),
      );
    }

    // Sampling.
    let before = await scrape(url);
    first = before;
    const sample = async (): Promise<void> => {
      const s = await scrape(url);
      const lat = counters.takeLatenessP99();
      const h = histogramDelta(before, s, 'auralis_chunk_lateness_seconds');
      const w = value(s, 'auralis_worker_heap_used_bytes');
      samples.push({
        t: elapsed(),
        rssMb: value(s, 'process_resident_memory_bytes') / MB,
        heapUsedMb: value(s, 'nodejs_heap_size_used_bytes') / MB,
        heapTotalMb: value(s, 'nodejs_heap_size_total_bytes') / MB,
        externalMb: value(s, 'nodejs_external_memory_bytes') / MB,
        workerHeapUsedMb: w / MB,
        handles: value(s, 'nodejs_active_handles_total'),
        sockets: value(s, 'nodejs_active_handles', { type: 'Socket' }) || 0,
        resources: value(s, 'nodejs_active_resources_total'),
        openFds: value(s, 'process_open_fds'),
        listenersServer: value(s, 'auralis_listeners'),
        listenersClient: live.size,
        stations: value(s, 'auralis_stations'),
        gc: gcOf(s),
        latenessP99Ms: lat.p99,
        latenessMaxMs: lat.max,
        latenessSamples: lat.n,
        serverLatenessP99Ms: histogramQuantile(h, 0.99) * 1000,
        eventLoopLagP99Ms: value(s, 'nodejs_eventloop_lag_p99_seconds') * 1000,
      });
      before = s;
      last = s;
      const x = samples[samples.length - 1]!;
      log(
        `t=${x.t.toFixed(0)}s rss ${x.rssMb.toFixed(1)} MB, heap main ${x.heapUsedMb.toFixed(2)} MB, workers ${x.workerHeapUsedMb.toFixed(2)} MB, handles ${x.handles}, listeners ${x.listenersServer}, lateness p99 ${x.latenessP99Ms.toFixed(1)} ms`,
      );
    };
    while (elapsed() * 1000 < endMs) {
      const next = Math.min(endMs, (samples.length + 1) * o.sampleSeconds * 1000);
      await sleep(Math.max(0, next - elapsed() * 1000));
      if (serverExited) throw new Error(`server exited during the run: ${stderrTail}`);
      await sample();
    }
    runEnded = true;
    for (const t of timers) clearInterval(t);
    for (const l of live) l.close();
    live.clear();
    for (const s of personalSockets) s.close();
    // Idle again: every listener gone and every personal session over (grace period), then a snapshot.
    const graceMs = o.graceMs ?? 30_000;
    const deadline = Date.now() + graceMs + 20_000;
    for (;;) {
      await sleep(1000);
      const s = await scrape(url);
      if (
        (value(s, 'auralis_listeners') === 0 && value(s, 'auralis_stations') <= 1) ||
        Date.now() > deadline
      ) {
        await sleep(2000);
        idleEnd = idleOf(await scrape(url));
        break;
      }
    }
  } finally {
    runEnded = true;
    for (const t of timers) clearInterval(t);
    for (const l of live) l.close();
    for (const s of personalSockets) s.close();
    if (!serverExited) {
      server.kill('SIGTERM');
      const killer = setTimeout(() => server.kill('SIGKILL'), 10_000);
      await serverExit;
      clearTimeout(killer);
    }
  }

  const durationSeconds = o.minutes * 60;
  const analysis = analyzeSoak(samples, durationSeconds, idleStart, idleEnd);
  const skipped = (t: string): number =>
    first && last
      ? value(last, 'auralis_chunks_skipped_total', { transport: t }) -
        value(first, 'auralis_chunks_skipped_total', { transport: t })
      : Number.NaN;
  const counts: SoakCountsSummary = {
    listenersTarget: o.listeners,
    opened: counters.opened,
    replaced,
    closedByHarness: counters.closedByHarness,
    throttledDisconnected: counters.throttledDisconnected,
    oggChunksSkipped: skipped('ogg'),
    wsChunksSkipped: skipped('ws'),
    throttledGaps: counters.throttledGaps,
    lost: counters.lost,
    lostReasons: counters.lostReasons,
    wsChunks: counters.wsChunks,
    oggPages: counters.oggPages,
    bytes: counters.bytes,
    gaps: counters.gaps,
    flagged: counters.flagged,
    badFrames: counters.badFrames,
    maxInterArrivalMs: counters.maxInterArrivalMs,
    controlChanges,
    controlFailures,
    personalCreated: personal.created,
    personalResumed: personal.resumed,
    personalAbandoned: personal.abandoned,
    personalFailures: personal.failures,
  };
  const { log: _log, ...options } = o;
  void _log;
  return {
    options,
    serverArgs,
    startedAt,
    samples,
    idleStart,
    idleEnd,
    counts,
    analysis,
    server: { diedEarly, exitCode: server.exitCode, signal: server.signalCode, stderrTail },
    heapSnapshots,
  };
}

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

function num(argv: string[], name: string, fallback: number): number {
  const v = flag(argv, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${v}`);
  return n;
}

export function markdownFor(r: SoakResult, command: string): string {
  return soakMarkdown(r.analysis, r.counts, r.samples, {
    command,
    startedAt: r.startedAt,
    commit: gitCommit(),
    serverArgs: r.serverArgs,
  });
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(
      [
        'usage: npm run soak -- --minutes M --listeners N --churn R [options]',
        '  --minutes M            run length (10)',
        '  --listeners N          listeners held at once (40)',
        '  --churn R              replace one listener every R seconds (10; 0 = never)',
        '  --sample-seconds S     /metrics sample interval (10)',
        '  --ogg-share F          share of Ogg-over-HTTP listeners (0.2)',
        '  --throttled-share F    share of throttled Ogg readers (0.1)',
        '  --throttle-bytes B     bytes/s a throttled reader takes (3000)',
        '  --intensity-every S    control change interval (30; 0 = none)',
        '  --personal-every S     personal session interval (60; 0 = none)',
        '  --grace-ms MS          server personal-session grace period (server default)',
        '  --heap-snapshot-every MIN  server heap snapshot interval (0 = none), into --snapshot-dir DIR (a temp dir)',
        '  --node-flags "…"       Node/V8 flags for the server',
        '  --out FILE             raw samples and results as JSON',
        '  --md FILE              markdown summary',
        '  --strict               exit 1 when a goal is missed',
        '',
      ].join('\n'),
    );
    return 0;
  }
  const nodeFlags = flag(argv, 'node-flags');
  const grace = flag(argv, 'grace-ms');
  const r = await runSoak({
    minutes: num(argv, 'minutes', DEFAULT_SOAK_OPTIONS.minutes),
    listeners: num(argv, 'listeners', DEFAULT_SOAK_OPTIONS.listeners),
    churnSeconds: num(argv, 'churn', DEFAULT_SOAK_OPTIONS.churnSeconds),
    sampleSeconds: Math.max(1, num(argv, 'sample-seconds', DEFAULT_SOAK_OPTIONS.sampleSeconds)),
    oggShare: num(argv, 'ogg-share', DEFAULT_SOAK_OPTIONS.oggShare),
    throttledShare: num(argv, 'throttled-share', DEFAULT_SOAK_OPTIONS.throttledShare),
    throttleBytesPerSecond: num(argv, 'throttle-bytes', DEFAULT_SOAK_OPTIONS.throttleBytesPerSecond),
    intensityEverySeconds: num(argv, 'intensity-every', DEFAULT_SOAK_OPTIONS.intensityEverySeconds),
    personalEverySeconds: num(argv, 'personal-every', DEFAULT_SOAK_OPTIONS.personalEverySeconds),
    ...(grace !== undefined ? { graceMs: num(argv, 'grace-ms', 30_000) } : {}),
    heapSnapshotEveryMinutes: num(argv, 'heap-snapshot-every', 0),
    snapshotDir: flag(argv, 'snapshot-dir') ?? DEFAULT_SOAK_OPTIONS.snapshotDir,
    nodeFlags: nodeFlags ? nodeFlags.split(/\s+/).filter(Boolean) : [],
  });
  const command = `npm run soak -- ${argv.join(' ')}`;
  const md = markdownFor(r, command);
  process.stdout.write(md + '\n');
  const out = flag(argv, 'out');
  if (out) writeFileSync(out, JSON.stringify({ ...r, command }, null, 2));
  const mdFile = flag(argv, 'md');
  if (mdFile) writeFileSync(mdFile, md);
  if (r.server.diedEarly) return 2;
  if (argv.includes('--strict') && r.analysis.goals.some((g) => !g.met)) return 1;
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`soak failed: ${err.stack ?? err.message}\n`);
      process.exit(2);
    },
  );
}
