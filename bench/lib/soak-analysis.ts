// The soak's samples and its end-of-run analysis: growth slopes over the settled part, handles at
// idle before and after, GC totals, lateness per interval (first vs last third), and goals.
import { leastSquaresSlope } from '../../src/metrics/least-squares.ts';

export interface SoakSample {
  /** Seconds since the listeners started. */
  t: number;
  rssMb: number;
  /** Main thread (nodejs_heap_size_used_bytes). */
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  /** Engine workers, summed (auralis_worker_heap_used_bytes); NaN when the server does not expose it. */
  workerHeapUsedMb: number;
  handles: number;
  sockets: number;
  resources: number;
  openFds: number;
  listenersServer: number;
  listenersClient: number;
  stations: number;
  /** Main-thread GC, cumulative since the server started: count and total pause (ms) by kind. */
  gc: Record<string, { count: number; pauseMs: number }>;
  /** This interval, at the WebSocket listeners (receive time vs play time − lead), ms. */
  latenessP99Ms: number;
  latenessMaxMs: number;
  latenessSamples: number;
  /** This interval, the server's auralis_chunk_lateness_seconds (all transports), interpolated, ms. */
  serverLatenessP99Ms: number;
  eventLoopLagP99Ms: number;
}

/** A snapshot of the idle server (no listener connected, only the default station). */
export interface IdleSnapshot {
  handles: number;
  sockets: number;
  resources: number;
  openFds: number;
  stations: number;
  heapUsedMb: number;
  rssMb: number;
}

export interface SoakCountsSummary {
  listenersTarget: number;
  opened: number;
  replaced: number;
  closedByHarness: number;
  throttledDisconnected: number;
  /** Chunks the server skipped for Ogg listeners (only throttled ones fall behind). */
  oggChunksSkipped: number;
  wsChunksSkipped: number;
  throttledGaps: number;
  lost: number;
  lostReasons: string[];
  wsChunks: number;
  oggPages: number;
  bytes: number;
  gaps: number;
  flagged: number;
  badFrames: number;
  maxInterArrivalMs: number;
  controlChanges: number;
  controlFailures: number;
  personalCreated: number;
  personalResumed: number;
  personalAbandoned: number;
  personalFailures: number;
}

export interface SoakAnalysis {
  durationSeconds: number;
  settledFromSeconds: number;
  settledRule: string;
  samples: number;
  slopesMbPerHour: { rss: number; heapMain: number; heapWorkers: number };
  heapMain: { firstMb: number; lastMb: number; minSettledMb: number; maxSettledMb: number };
  idleStart: IdleSnapshot | null;
  idleEnd: IdleSnapshot | null;
  handlesDuringRun: { first: number; last: number; minusListenersFirst: number; minusListenersLast: number };
  gcTotals: Record<string, { count: number; pauseMs: number }>;
  lateness: {
    firstThirdMedianP99Ms: number;
    lastThirdMedianP99Ms: number;
    firstThirdMaxP99Ms: number;
    lastThirdMaxP99Ms: number;
    serverFirstThirdMedianP99Ms: number;
    serverLastThirdMedianP99Ms: number;
  };
  goals: { name: string; met: boolean; detail: string }[];
}

/** Goal: less than this growth, MB per hour. */
export const GROWTH_GOAL_MB_PER_HOUR = 1;
/** Slack for "no handle growth" between the idle server before and after the run. */
export const HANDLE_SLACK = 2;

/**
 * Where the settled part starts: after max(2 min, 10 % of the run), but never later than half the
 * run, so that a short run still has a settled half to fit.
 */
export function settledFrom(durationSeconds: number): number {
  return Math.min(Math.max(120, 0.1 * durationSeconds), 0.5 * durationSeconds);
}

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function max(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x));
  return s.length === 0 ? Number.NaN : Math.max(...s);
}

function slope(samples: SoakSample[], pick: (s: SoakSample) => number): number {
  const pts = samples.filter((s) => Number.isFinite(pick(s)));
  return leastSquaresSlope(
    pts.map((s) => s.t / 3600),
    pts.map(pick),
  );
}

export function analyzeSoak(
  samples: SoakSample[],
  durationSeconds: number,
  idleStart: IdleSnapshot | null,
  idleEnd: IdleSnapshot | null,
): SoakAnalysis {
  const from = settledFrom(durationSeconds);
  const settled = samples.filter((s) => s.t >= from);
  const slopes = {
    rss: slope(settled, (s) => s.rssMb),
    heapMain: slope(settled, (s) => s.heapUsedMb),
    heapWorkers: slope(settled, (s) => s.workerHeapUsedMb),
  };
  const third = durationSeconds / 3;
  const first = samples.filter((s) => s.t <= third);
  const last = samples.filter((s) => s.t >= 2 * third);
  const lateness = {
    firstThirdMedianP99Ms: median(first.map((s) => s.latenessP99Ms)),
    lastThirdMedianP99Ms: median(last.map((s) => s.latenessP99Ms)),
    firstThirdMaxP99Ms: max(first.map((s) => s.latenessP99Ms)),
    lastThirdMaxP99Ms: max(last.map((s) => s.latenessP99Ms)),
    serverFirstThirdMedianP99Ms: median(first.map((s) => s.serverLatenessP99Ms)),
    serverLastThirdMedianP99Ms: median(last.map((s) => s.serverLatenessP99Ms)),
  };
  const f = samples[0];
  const l = samples[samples.length - 1];
  const goals: SoakAnalysis['goals'] = [];
  const growth = (name: string, v: number): void => {
    if (!Number.isFinite(v)) {
      goals.push({ name, met: false, detail: 'not measured' });
      return;
    }
    goals.push({
      name,
      met: v < GROWTH_GOAL_MB_PER_HOUR,
      detail: `${v.toFixed(2)} MB/h (goal < ${GROWTH_GOAL_MB_PER_HOUR} MB/h)`,
    });
  };
  growth('main-thread heap growth', slopes.heapMain);
  growth('engine worker heap growth', slopes.heapWorkers);
  growth('RSS growth', slopes.rss);
  if (idleStart && idleEnd) {
    goals.push({
      name: 'no handle growth',
      met: idleEnd.handles <= idleStart.handles + HANDLE_SLACK && idleEnd.sockets <= idleStart.sockets,
      detail: `idle before ${idleStart.handles} handles / ${idleStart.sockets} sockets, idle after ${idleEnd.handles} / ${idleEnd.sockets} (slack ${HANDLE_SLACK} handles)`,
    });
  } else goals.push({ name: 'no handle growth', met: false, detail: 'idle snapshots missing' });
  const flat =
    Number.isFinite(lateness.firstThirdMedianP99Ms) &&
    Number.isFinite(lateness.lastThirdMedianP99Ms) &&
    lateness.lastThirdMedianP99Ms <= lateness.firstThirdMedianP99Ms * 1.5 + 5;
  goals.push({
    name: 'p99 lateness flat',
    met: flat,
    detail: `median of interval p99s: first third ${lateness.firstThirdMedianP99Ms.toFixed(1)} ms, last third ${lateness.lastThirdMedianP99Ms.toFixed(1)} ms (goal: last ≤ 1.5 × first + 5 ms)`,
  });
  const gcTotals = l ? l.gc : {};
  return {
    durationSeconds,
    settledFromSeconds: from,
    settledRule:
      'samples after max(2 min, 10 % of the run), capped at half the run; slopes are least squares over those samples',
    samples: samples.length,
    slopesMbPerHour: slopes,
    heapMain: {
      firstMb: f?.heapUsedMb ?? Number.NaN,
      lastMb: l?.heapUsedMb ?? Number.NaN,
      minSettledMb: Math.min(...settled.map((s) => s.heapUsedMb)),
      maxSettledMb: Math.max(...settled.map((s) => s.heapUsedMb)),
    },
    idleStart,
    idleEnd,
    handlesDuringRun: {
      first: f?.handles ?? Number.NaN,
      last: l?.handles ?? Number.NaN,
      minusListenersFirst: f ? f.handles - f.listenersClient : Number.NaN,
      minusListenersLast: l ? l.handles - l.listenersClient : Number.NaN,
    },
    gcTotals,
    lateness,
    goals,
  };
}

const n1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
const n2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');

export function soakMarkdown(
  a: SoakAnalysis,
  c: SoakCountsSummary,
  samples: SoakSample[],
  header: { command: string; startedAt: string; commit: string; serverArgs: string[] },
): string {
  const md: string[] = [];
  md.push(
    '# Soak run',
    '',
    `- **Command**: \`${header.command}\``,
    `- **Started**: ${header.startedAt}; commit \`${header.commit}\`; ${n1(a.durationSeconds / 60)} min, ${a.samples} samples`,
    `- **Server**: \`node dist/main.js ${header.serverArgs.join(' ')}\``,
    `- **Settled part**: from ${n1(a.settledFromSeconds)} s (${a.settledRule})`,
    '',
    '## Memory (settled part)',
    '',
    '| series | slope (MB/h) | first sample (MB) | last sample (MB) |',
    '| --- | ---: | ---: | ---: |',
    `| RSS (process) | ${n2(a.slopesMbPerHour.rss)} | ${n1(samples[0]?.rssMb ?? NaN)} | ${n1(samples.at(-1)?.rssMb ?? NaN)} |`,
    `| heap used, main thread | ${n2(a.slopesMbPerHour.heapMain)} | ${n1(a.heapMain.firstMb)} | ${n1(a.heapMain.lastMb)} |`,
    `| heap used, engine workers | ${n2(a.slopesMbPerHour.heapWorkers)} | ${n1(samples[0]?.workerHeapUsedMb ?? NaN)} | ${n1(samples.at(-1)?.workerHeapUsedMb ?? NaN)} |`,
    '',
    '## Handles (idle server: before the listeners joined, after they all left)',
    '',
    `| | handles | sockets | resources | open fds | stations | heap used (MB) |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const [name, s] of [
    ['before', a.idleStart],
    ['after', a.idleEnd],
  ] as const) {
    md.push(
      s
        ? `| ${name} | ${s.handles} | ${s.sockets} | ${s.resources} | ${s.openFds} | ${s.stations} | ${n1(s.heapUsedMb)} |`
        : `| ${name} | n/a | | | | | |`,
    );
  }
  md.push(
    '',
    `During the run: ${a.handlesDuringRun.first} → ${a.handlesDuringRun.last} handles (minus connected listeners: ${a.handlesDuringRun.minusListenersFirst} → ${a.handlesDuringRun.minusListenersLast}).`,
    '',
    '## GC (main thread, whole run)',
    '',
    '| kind | count | total pause (ms) |',
    '| --- | ---: | ---: |',
    ...Object.entries(a.gcTotals).map(([k, v]) => `| ${k} | ${v.count} | ${n1(v.pauseMs)} |`),
    '',
    '## Lateness p99 per interval (ms)',
    '',
    '| | first third | last third |',
    '| --- | ---: | ---: |',
    `| listeners, median of interval p99s | ${n1(a.lateness.firstThirdMedianP99Ms)} | ${n1(a.lateness.lastThirdMedianP99Ms)} |`,
    `| listeners, worst interval p99 | ${n1(a.lateness.firstThirdMaxP99Ms)} | ${n1(a.lateness.lastThirdMaxP99Ms)} |`,
    `| server (auralis_chunk_lateness_seconds), median of interval p99s | ${n1(a.lateness.serverFirstThirdMedianP99Ms)} | ${n1(a.lateness.serverLastThirdMedianP99Ms)} |`,
    '',
    '## Listeners',
    '',
    `- target ${c.listenersTarget}; opened ${c.opened}; replaced by churn ${c.replaced}; closed by the harness ${c.closedByHarness}`,
    `- throttled: disconnected by the server ${c.throttledDisconnected}, Ogg chunks skipped by the server ${c.oggChunksSkipped}, page gaps seen ${c.throttledGaps}`,
    `- lost (listeners that keep up, closed by the server or failing to connect): ${c.lost}${c.lostReasons.length ? ` (${[...new Set(c.lostReasons)].slice(0, 5).join('; ')})` : ''}`,
    `- received: ${c.wsChunks} WebSocket chunks, ${c.oggPages} Ogg pages, ${n1(c.bytes / 1e6)} MB; gaps ${c.gaps}, discontinuity flags ${c.flagged}, invalid frames ${c.badFrames}; WebSocket chunks skipped by the server ${c.wsChunksSkipped}; longest silence at a WebSocket listener ${n1(c.maxInterArrivalMs)} ms`,
    `- control changes ${c.controlChanges} (failed ${c.controlFailures}); personal sessions created ${c.personalCreated}, resumed ${c.personalResumed}, abandoned ${c.personalAbandoned}, failures ${c.personalFailures}`,
    '',
    '## Goals',
    '',
    ...a.goals.map((g) => `- ${g.met ? '✅' : '❌'} ${g.name}: ${g.detail}`),
    '',
  );
  return md.join('\n');
}
