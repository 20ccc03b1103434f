// The report's stages that run another benchmark as a child process and keep its numbers: the
// synthesis real-time factor per preset (bench/synth.ts), a whole-process offline render (the CLI's
// `render`), and the cost of idle stations (bench/idle.ts). Each child is pinned to CPU 0 when taskset
// exists, like the servers of the other stages.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverPinned } from './stream-run.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface SynthStageRow {
  station: string;
  realTimeFactor: number;
  chunkCpuP99Ms: number;
}

export interface SynthStage {
  command: string;
  seconds: number;
  rows: SynthStageRow[];
}

export interface RenderStage {
  command: string;
  audioSeconds: number;
  wallSeconds: number;
  /** The process's CPU time (user + system, all threads) over the audio rendered. */
  cpuSeconds: number;
  realTimeFactor: number;
  cpuRealTimeFactor: number;
}

export interface IdleStage {
  command: string;
  seconds: number;
  stations: number;
  /** Per station, % of one core and MB of RSS. */
  perStation: {
    idle: { cpuPercent: number; rssMb: number };
    listened: { cpuPercent: number; rssMb: number };
    neverIdleNoListener: { cpuPercent: number; rssMb: number };
  };
  defaultStation: { noListener: number; oneListener: number; neverIdleNoListener: number };
}

/** Runs `node ARGS` (pinned to CPU 0 when possible); resolves with its stdout and wall time. */
function runNode(args: string[]): Promise<{ stdout: string; wallSeconds: number }> {
  const [cmd, argv] = serverPinned()
    ? ['taskset', ['-c', '0', process.execPath, ...args]]
    : [process.execPath, args];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`node ${args.join(' ')} exited ${code}`));
      else resolve({ stdout: out, wallSeconds: (performance.now() - t0) / 1000 });
    });
  });
}

export async function runSynthStage(seconds: number): Promise<SynthStage> {
  const args = ['--expose-gc', '--import', 'tsx', 'bench/synth.ts', '--seconds', String(seconds), '--json'];
  const { stdout } = await runNode(args);
  const parsed = JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
    results: { station: string; realTimeFactor: number; chunkCpuMs: { p99: number } }[];
  };
  return {
    command: `node ${args.join(' ')}`,
    seconds,
    rows: parsed.results.map((r) => ({
      station: r.station,
      realTimeFactor: r.realTimeFactor,
      chunkCpuP99Ms: r.chunkCpuMs.p99,
    })),
  };
}

export async function runRenderStage(audioSeconds: number): Promise<RenderStage> {
  const dir = mkdtempSync(join(tmpdir(), 'auralis-render-'));
  try {
    // The CPU time of the whole process (composition, synthesis, WAV writing, module loading) of
    // the command users run (`node bin/auralis.mjs render`, what `npx auralis render` runs, after
    // `npm run build:server` as `npm run build` leaves it), from a wrapper that builds dist/cli if
    // needed and runs the command with a preload printing its process.cpuUsage() at exit.
    const out = join(dir, 'render.wav');
    const args = [
      '--import',
      'tsx',
      'bench/lib/render-cpu.ts',
      'render',
      '--seconds',
      String(audioSeconds),
      '--out',
      out,
    ];
    const { stdout, wallSeconds } = await runNode(args);
    const line = stdout.trim().split('\n').pop()!;
    const r = JSON.parse(line) as { cpuSeconds: number };
    const rtf = /\(([\d.]+)× real time\)/.exec(stdout);
    if (!rtf) throw new Error(`render printed no real-time factor:\n${stdout}`);
    return {
      command: `npx auralis render --seconds ${audioSeconds} --out render.wav`,
      audioSeconds,
      wallSeconds,
      cpuSeconds: r.cpuSeconds,
      realTimeFactor: Number(rtf[1]),
      cpuRealTimeFactor: audioSeconds / r.cpuSeconds,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runIdleStage(seconds: number, stations: number): Promise<IdleStage> {
  const args = [
    '--import',
    'tsx',
    'bench/idle.ts',
    '--seconds',
    String(seconds),
    '--stations',
    String(stations),
  ];
  const { stdout } = await runNode(args);
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as Omit<IdleStage, 'command'>;
  return {
    command: `node ${args.join(' ')}`,
    seconds,
    stations,
    perStation: r.perStation,
    defaultStation: r.defaultStation,
  };
}
