/**
 * `npm run bench` (full, over an hour) / `npm run bench:quick` (about 3 minutes): measures the
 * `baseline` and `optimized` profiles under identical conditions and writes
 * docs/performance/baseline-comparison.md (the seed report's structure, every table filled) and the
 * raw results as baseline-comparison.json beside it.
 *
 * Order: young-generation comparison (picks the optimized profile's V8 flags), the accelerated memory
 * soak (both profiles at once, one per CPU), listener scale, synthesis per preset, a whole-process
 * render, the cost of idle stations, then the streaming runs, each with one listener on the bench
 * station: both profiles at once, each server pinned to its own CPU (one after the other without
 * taskset, or with --sequential).
 *
 * Options (each overrides the mode's preset): --quick, --out DIR, --stream-seconds S,
 * --warmup-seconds S, --soak-audio-seconds S, --listener-counts 1,100,… (or 'none'),
 * --listener-seconds S, --semi-sizes 0,16,32 (MB; 0 = V8 default), --semi-seconds S, --semi-listeners N,
 * --synth-seconds S, --render-seconds S, --idle-seconds S, --idle-stations N,
 * --ten-listener-seconds S (0 skips a stage),
 * --sequential (the two streaming runs one after the other instead of at once, one per CPU).
 * `--render-only PATH.json [--load-log FILE] [--stage-log RUN.log]` rewrites the markdown beside a results file without
 * measuring (adding the machine's load average samples from FILE to the results when given).
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runIdleStage, runRenderStage, runSynthStage } from './lib/extra-stages.ts';
import { ensureCompiledCli } from './lib/render-cpu.ts';
import { runListenerBench, type ListenerBenchRow } from './listeners.ts';
import { runMemorySoak } from './memory-soak.ts';
import { machineInfo } from './lib/machine.ts';
import { renderReport } from './lib/render-report.ts';
import type { BenchResults, RunSettings, SemiSpaceRow } from './lib/results.ts';
import { runStream, serverPinned } from './lib/stream-run.ts';
import { derive } from './lib/tables.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const PRESETS: Record<'full' | 'quick', RunSettings> = {
  full: {
    mode: 'full',
    streamSeconds: 1800,
    warmupSeconds: 30,
    soakAudioSeconds: 8 * 3600,
    listenerCounts: [1, 100, 1000, 5000],
    listenerSeconds: 25,
    semiSeconds: 60,
    semiListeners: 1000,
    semiSizesMb: [0, 16, 32],
    synthSeconds: 120,
    renderSeconds: 600,
    idleSeconds: 10,
    idleStations: 16,
    tenListenerSeconds: 300,
  },
  quick: {
    mode: 'quick',
    streamSeconds: 20,
    warmupSeconds: 3,
    soakAudioSeconds: 1200,
    listenerCounts: [1, 100],
    listenerSeconds: 6,
    semiSeconds: 6,
    semiListeners: 200,
    semiSizesMb: [0, 16, 32],
    synthSeconds: 10,
    renderSeconds: 60,
    idleSeconds: 2,
    idleStations: 4,
    tenListenerSeconds: 10,
  },
};

/** A setting whose total GC pause is within this fraction of the default's is not worth a flag. */
const SEMI_SPACE_MARGIN = 0.1;

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

export function parseSettings(argv: string[]): { settings: RunSettings; outDir: string } {
  const base = { ...PRESETS[argv.includes('--quick') ? 'quick' : 'full'] };
  const num = (name: string, fallback: number): number => {
    const v = option(argv, name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a number ≥ 0, got ${v}`);
    return n;
  };
  const list = (name: string, fallback: number[]): number[] => {
    const v = option(argv, name);
    if (v === undefined) return fallback;
    if (v === 'none') return [];
    return v.split(',').map((x) => {
      const n = Number(x);
      if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: bad value ${x}`);
      return n;
    });
  };
  const settings: RunSettings = {
    mode: base.mode,
    streamSeconds: num('stream-seconds', base.streamSeconds),
    warmupSeconds: num('warmup-seconds', base.warmupSeconds),
    soakAudioSeconds: num('soak-audio-seconds', base.soakAudioSeconds),
    listenerCounts: list('listener-counts', base.listenerCounts),
    listenerSeconds: num('listener-seconds', base.listenerSeconds),
    semiSeconds: num('semi-seconds', base.semiSeconds),
    semiListeners: num('semi-listeners', base.semiListeners),
    semiSizesMb: list('semi-sizes', base.semiSizesMb),
    synthSeconds: num('synth-seconds', base.synthSeconds ?? 0),
    renderSeconds: num('render-seconds', base.renderSeconds ?? 0),
    idleSeconds: num('idle-seconds', base.idleSeconds ?? 0),
    idleStations: num('idle-stations', base.idleStations ?? 0),
    tenListenerSeconds: num('ten-listener-seconds', base.tenListenerSeconds ?? 0),
  };
  if (!settings.semiSizesMb.includes(0)) settings.semiSizesMb.unshift(0);
  const outDir = resolve(ROOT, option(argv, 'out') ?? 'docs/performance');
  return { settings, outDir };
}

const semiFlags = (mb: number): string[] => (mb === 0 ? [] : [`--max-semi-space-size=${mb}`]);

function chooseSemiSpace(rows: SemiSpaceRow[]): BenchResults['semiSpace'] {
  const total = (row: SemiSpaceRow): number =>
    row.run.gc.minor.totalPauseMs + row.run.gc.incremental.totalPauseMs + row.run.gc.major.totalPauseMs;
  const def = rows.find((r) => r.semiSpaceMb === 0)!;
  let best = def;
  for (const row of rows) if (total(row) < total(best)) best = row;
  const wins = best !== def && total(best) < total(def) * (1 - SEMI_SPACE_MARGIN);
  const chosen = wins ? best : def;
  const rule =
    `the setting with the least total GC pause (all isolates) is taken when it beats the V8 default by more than ${SEMI_SPACE_MARGIN * 100}%; ` +
    (wins
      ? `\`--max-semi-space-size=${chosen.semiSpaceMb}\` did (${total(chosen).toFixed(1)} ms against ${total(def).toFixed(1)} ms), so the optimized profile runs with it.`
      : `none did (best ${best.semiSpaceMb === 0 ? 'the default' : `${best.semiSpaceMb} MB`}: ${total(best).toFixed(1)} ms against ${total(def).toFixed(1)} ms for the default), so the optimized profile keeps V8's default young generation.`);
  return { rows, chosenMb: chosen.semiSpaceMb, chosenFlags: semiFlags(chosen.semiSpaceMb), rule };
}

/**
 * runStream, once more when no audio reached the listener or the server recorded no synthesis for the
 * bench station (seen rarely on a loaded machine; the report must not print a run without data).
 */
async function streamChecked(opts: Parameters<typeof runStream>[0], log: (m: string) => void) {
  const first = await runStream(opts);
  if (first.chunksMeasured > 0 && first.synthesisMs.count > 0) return first;
  log(
    `${opts.profile}: no data (${first.chunksMeasured} chunks at the listener, ${first.synthesisMs.count} syntheses); running it again`,
  );
  return runStream(opts);
}

/** Stages done so far, so that a failure late in a long run does not lose the early measurements. */
function checkpoint(outDir: string, partial: Record<string, unknown>): void {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'baseline-comparison.partial.json'), JSON.stringify(partial) + '\n');
}

/** The commit measured: AURALIS_BENCH_COMMIT when run from an exported snapshot (no .git), else HEAD. */
function commitLabel(): string {
  const fromEnv = process.env.AURALIS_BENCH_COMMIT;
  if (fromEnv) return `${fromEnv} (clean snapshot of the commit, made with git archive)`;
  try {
    const head = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
    const dirty = execSync('git status --porcelain -- src', { cwd: ROOT }).toString().trim() !== '';
    return dirty ? `${head} (src/ modified)` : head;
  } catch {
    return 'unknown';
  }
}

export async function runReport(
  argv: string[],
): Promise<{ results: BenchResults; mdPath: string; jsonPath: string }> {
  const { settings, outDir } = parseSettings(argv);
  const log = (m: string): void => {
    process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] bench: ${m}\n`);
  };
  const startedAt = new Date();
  const t0 = performance.now();
  log(
    `${settings.mode} run → ${relative(ROOT, outDir) || '.'} (server pinned: ${serverPinned() ? 'yes' : 'no'})`,
  );
  // The servers run what `npm start` runs (bench/lib/proc.ts serverEntry): built now if stale.
  log(
    (await ensureCompiledCli())
      ? 'servers: the compiled modules (dist/main.js), as npm start runs them'
      : 'servers: the sources through tsx (the build failed)',
  );

  const semiRows: SemiSpaceRow[] = [];
  for (const mb of settings.semiSizesMb) {
    log(
      `young generation ${mb === 0 ? 'default' : `${mb} MB`}: ${settings.semiListeners} listeners, ${settings.semiSeconds} s`,
    );
    const run = await streamChecked(
      {
        profile: 'optimized',
        seconds: settings.semiSeconds,
        warmupSeconds: Math.min(5, settings.warmupSeconds + 2),
        listeners: settings.semiListeners,
        nodeFlags: semiFlags(mb),
      },
      log,
    );
    semiRows.push({ semiSpaceMb: mb, nodeFlags: semiFlags(mb), run });
  }
  const semiSpace = chooseSemiSpace(semiRows);
  checkpoint(outDir, { settings, semiSpace });
  log(`chosen V8 flags for optimized: ${semiSpace.chosenFlags.join(' ') || '(defaults)'}`);

  log(`memory soak: ${settings.soakAudioSeconds} s of audio per profile, both at once`);
  const [soakBaseline, soakOptimized] = await Promise.all([
    runMemorySoak({
      profile: 'baseline',
      audioSeconds: settings.soakAudioSeconds,
      cpu: serverPinned() ? 0 : undefined,
    }),
    runMemorySoak({
      profile: 'optimized',
      audioSeconds: settings.soakAudioSeconds,
      nodeFlags: semiSpace.chosenFlags,
      cpu: serverPinned() ? 1 : undefined,
    }),
  ]);

  checkpoint(outDir, { settings, semiSpace, soak: { baseline: soakBaseline, optimized: soakOptimized } });
  const listenerRows: ListenerBenchRow[] = [];
  const listenerErrors: string[] = [];
  const nodeOptions = semiSpace.chosenFlags.join(' ');
  const savedNodeOptions = process.env.NODE_OPTIONS;
  for (const n of settings.listenerCounts) {
    log(`listener scale: ${n} listener(s), ${settings.listenerSeconds} s`);
    // runListenerBench takes server arguments only; V8 flags reach the server through NODE_OPTIONS.
    process.env.NODE_OPTIONS = [savedNodeOptions, nodeOptions].filter(Boolean).join(' ');
    try {
      listenerRows.push(await runListenerBench(n, settings.listenerSeconds, ['--profile', 'optimized']));
    } catch (e) {
      // One failed size must not cost the rest of an hour-long run; the report lists it.
      listenerErrors.push(`${n} listeners: ${e instanceof Error ? e.message : String(e)}`);
      log(`listener scale ${n} failed: ${String(e)}`);
    } finally {
      if (savedNodeOptions === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = savedNodeOptions;
    }
  }

  const synthesis =
    (settings.synthSeconds ?? 0) > 0
      ? (log(`synthesis per preset: ${settings.synthSeconds} s of audio each`),
        await runSynthStage(settings.synthSeconds!))
      : undefined;
  const render =
    (settings.renderSeconds ?? 0) > 0
      ? (log(`whole-process render: ${settings.renderSeconds} s of audio`),
        await runRenderStage(settings.renderSeconds!))
      : undefined;
  const idle =
    (settings.idleSeconds ?? 0) > 0 && (settings.idleStations ?? 0) > 0
      ? (log(`idle stations: ${settings.idleStations} stations, ${settings.idleSeconds} s per phase`),
        await runIdleStage(settings.idleSeconds!, settings.idleStations!))
      : undefined;
  // The seed's own listener target (10): where the baseline's encoding per listener shows.
  const concurrent = serverPinned() && !argv.includes('--sequential');
  let tenListeners: BenchResults['tenListeners'];
  if ((settings.tenListenerSeconds ?? 0) > 0) {
    log(`ten listeners, both profiles${concurrent ? ' at once' : ''}: ${settings.tenListenerSeconds} s`);
    const ten = (profile: 'baseline' | 'optimized', cpu: number) =>
      streamChecked(
        {
          profile,
          seconds: settings.tenListenerSeconds!,
          warmupSeconds: Math.min(10, settings.warmupSeconds),
          listeners: 10,
          nodeFlags: profile === 'optimized' ? semiSpace.chosenFlags : [],
          cpu,
        },
        log,
      );
    if (concurrent) {
      const [baseline, optimized] = await Promise.all([ten('baseline', 0), ten('optimized', 1)]);
      tenListeners = { baseline, optimized };
    } else {
      const baseline = await ten('baseline', 0);
      tenListeners = { baseline, optimized: await ten('optimized', 0) };
    }
  }
  const stages = { synthesis, render, idle, tenListeners };
  checkpoint(outDir, {
    settings,
    semiSpace,
    soak: { baseline: soakBaseline, optimized: soakOptimized },
    listenerScale: { rows: listenerRows, errors: listenerErrors },
    ...stages,
  });

  // Both profiles at once, each server on its own CPU (as the soak runs): the same machine state for
  // both, and half the wall time. Without taskset they would share both CPUs, so they run in turn.
  const streamOpts = (profile: 'baseline' | 'optimized', cpu: number) => ({
    profile,
    seconds: settings.streamSeconds,
    warmupSeconds: settings.warmupSeconds,
    nodeFlags: profile === 'optimized' ? semiSpace.chosenFlags : [],
    cpu,
    log,
  });
  let streamBaseline;
  let streamOptimized;
  if (concurrent) {
    log(
      `streaming, baseline (CPU 0) and optimized (CPU 1) at once: ${settings.warmupSeconds} s warm-up + ${settings.streamSeconds} s`,
    );
    [streamBaseline, streamOptimized] = await Promise.all([
      streamChecked(streamOpts('baseline', 0), log),
      streamChecked(streamOpts('optimized', 1), log),
    ]);
  } else {
    log(`streaming, baseline: ${settings.warmupSeconds} s warm-up + ${settings.streamSeconds} s`);
    streamBaseline = await streamChecked(streamOpts('baseline', 0), log);
    log(`streaming, optimized: ${settings.warmupSeconds} s warm-up + ${settings.streamSeconds} s`);
    streamOptimized = await streamChecked(streamOpts('optimized', 0), log);
  }

  const gitCommit = commitLabel();
  const partial = {
    schema: 1 as const,
    command: `node --import tsx bench/report.ts${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`,
    startedAt: startedAt.toISOString().replace(/\.\d+Z$/, 'Z'),
    finishedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    wallSeconds: (performance.now() - t0) / 1000,
    gitCommit,
    machine: machineInfo(),
    settings,
    semiSpace,
    soak: { baseline: soakBaseline, optimized: soakOptimized },
    stream: { baseline: streamBaseline, optimized: streamOptimized },
    streamsConcurrent: concurrent,
    ...stages,
    listenerScale: { rows: listenerRows, nodeOptions, errors: listenerErrors },
  };
  const results: BenchResults = { ...partial, derived: derive(partial) };
  mkdirSync(outDir, { recursive: true });
  const mdPath = join(outDir, 'baseline-comparison.md');
  const jsonPath = join(outDir, 'baseline-comparison.json');
  writeFileSync(jsonPath, JSON.stringify(results, null, 1) + '\n');
  writeFileSync(mdPath, renderReport(results));
  log(
    `wrote ${relative(ROOT, mdPath)} and ${relative(ROOT, jsonPath)} in ${Math.round(results.wallSeconds)} s`,
  );
  return { results, mdPath, jsonPath };
}

/** Rewrites the markdown from a results JSON (after a change to the wording, without measuring again). */
export function renderOnly(jsonPath: string, loadLog?: string, stageLog?: string): string {
  const results = JSON.parse(readFileSync(jsonPath, 'utf8')) as BenchResults;
  if (loadLog !== undefined) {
    // Lines "HH:MM:SS load1 load5 load15" written every 30 s by a shell loop during the run.
    const samples = readFileSync(loadLog, 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length === 4 && Number.isFinite(Number(f[1])))
      .map((f) => ({ time: f[0]!, load1: Number(f[1]) }));
    // The run's own progress log, "[HH:MM:SS] bench: …" per stage, gives the stage windows.
    const stages =
      stageLog === undefined
        ? undefined
        : [...readFileSync(stageLog, 'utf8').matchAll(/^\[(\d\d:\d\d:\d\d)\] bench: (.+)$/gm)].map((m) => ({
            time: m[1]!,
            stage: m[2]!,
          }));
    results.machineLoad = {
      source: 'external monitor: /proc/loadavg every 30 s during the run',
      samples,
      stages,
    };
    writeFileSync(jsonPath, JSON.stringify(results, null, 1) + '\n');
  }
  const mdPath = join(dirname(jsonPath), 'baseline-comparison.md');
  writeFileSync(mdPath, renderReport(results));
  return mdPath;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const json = option(argv, 'render-only');
  if (json !== undefined) {
    const load = option(argv, 'load-log');
    const stages = option(argv, 'stage-log');
    const path = (x: string | undefined): string | undefined => (x === undefined ? undefined : resolve(x));
    console.log(`wrote ${renderOnly(resolve(json), path(load), path(stages))}`);
  } else
    runReport(argv).catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
