// The load generators the streaming benchmarks start (bench/load-generator.ts, one process each),
// and how a benchmark pins its processes to CPUs: one place for their command line, their
// measured-window protocol and the sample files they leave.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { stdoutLines } from './proc.ts';

const NCPU = cpus().length;
/** Whether processes are pinned to CPUs (taskset exists and there are two CPUs or more). */
export const HAS_TASKSET = spawnSync('taskset', ['-V']).status === 0 && NCPU >= 2;

/** `cmd args` pinned to `cpu` (modulo the CPUs there are) with taskset, or as is without it. */
export function pinned(cpu: number, cmd: string, args: string[]): [string, string[]] {
  return HAS_TASKSET ? ['taskset', ['-c', String(cpu % NCPU), cmd, ...args]] : [cmd, args];
}

export interface GeneratorOptions {
  /** The server's base URL (http://host:port); the generator connects to its /ws. */
  url: string;
  listeners: number;
  seconds: number;
  leadMs: number;
  /** A station other than the default one. */
  station?: string;
  /** Measured-window mode: it connects, says `connected`, and measures `seconds` after `measure`. */
  samplesDir?: string;
  id?: string;
  /** Otherwise: it measures `seconds` after this warm-up. */
  warmupSeconds?: number;
}

/** The node arguments that run one load generator. */
export function generatorArgs(o: GeneratorOptions): string[] {
  return [
    '--import',
    'tsx',
    'bench/load-generator.ts',
    '--url',
    `${o.url.replace('http', 'ws')}/ws`,
    ...(o.station !== undefined ? ['--station', o.station] : []),
    '--listeners',
    String(o.listeners),
    '--seconds',
    String(o.seconds),
    ...(o.samplesDir !== undefined
      ? ['--control', 'stdin', '--samples-dir', o.samplesDir, '--id', o.id ?? '0']
      : []),
    ...(o.warmupSeconds !== undefined ? ['--warmup-seconds', String(o.warmupSeconds)] : []),
    '--lead-ms',
    String(o.leadMs),
  ];
}

/** A generator in measured-window mode (startGenerator). */
export interface Generator {
  readonly child: ChildProcess;
  /** Resolves when all its listeners are connected; rejects if it exits first (or fails). */
  readonly connected: Promise<void>;
  /** Its result line once the window is measured; rejects if it exits with an error first. */
  readonly done: Promise<Record<string, unknown>>;
  /** Starts its window. */
  measure(): void;
}

/** Starts one generator on `cpu` in measured-window mode (`samplesDir` set). */
export function startGenerator(cpu: number, o: GeneratorOptions & { samplesDir: string }): Generator {
  const [cmd, args] = pinned(cpu, process.execPath, generatorArgs(o));
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const failed = new Promise<never>((_, reject) =>
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load generator ${o.id ?? '0'} exited ${code}`));
    }),
  );
  failed.catch(() => {});
  let onConnected!: () => void;
  let onDone!: (m: Record<string, unknown>) => void;
  const connected = Promise.race([new Promise<void>((r) => (onConnected = r)), failed]);
  const done = Promise.race([new Promise<Record<string, unknown>>((r) => (onDone = r)), failed]);
  stdoutLines(child, (l) => {
    const msg = JSON.parse(l) as Record<string, unknown>;
    if (msg.phase === 'connected') onConnected();
    else if (msg.phase === 'done') onDone(msg);
  });
  return { child, connected, done, measure: () => child.stdin!.write('measure\n') };
}

/** Stops generators still running (SIGTERM) and waits for every one to exit. */
export async function stopGenerators(gens: readonly Generator[]): Promise<void> {
  await Promise.all(
    gens.map((g) => {
      const c = g.child;
      if (c.exitCode !== null || c.signalCode !== null) return null;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      return exited;
    }),
  );
}

/** The samples (Float64, little-endian) that the generators `ids` wrote to `dir`, in one array. */
export function readSamples(dir: string, ids: readonly string[], what: string): Float64Array {
  const all = Buffer.concat(ids.map((id) => readFileSync(join(dir, `gen-${id}.${what}.f64`))));
  const out = new Float64Array(all.length / 8);
  new Uint8Array(out.buffer).set(all);
  return out;
}
