// Runs the CLI's `render` in this process and then prints one JSON line with the process's CPU time
// (user + system, all threads, module loading included): the whole-process cost of an offline render.
//   node --import tsx bench/lib/render-cpu.ts render --seconds 600 --out x.wav
// Besides `cpuSeconds` the line splits it up: `startupSeconds` (Node and tsx, before this script
// ran), `importSeconds` (loading the render command's module through tsx; the engine's modules
// load inside the render) and, on Linux, `mainThreadSeconds` and `otherThreadsSeconds` (V8's
// compiler and GC threads, the libuv threads that write the file, the loader-hooks thread), from
// /proc/self/task.
import { readdirSync, readFileSync } from 'node:fs';

const cpu = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
const ms = (s: number | null): number | null => (s === null ? null : Math.round(s * 1000) / 1000);

/** CPU seconds of each thread of this process (Linux); null elsewhere. Clock ticks are 1/100 s. */
function threadSeconds(): number[] | null {
  try {
    return readdirSync('/proc/self/task').map((tid) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    });
  } catch {
    return null;
  }
}

const startup = cpu();
const { runRender } = await import('../../src/cli/render.ts');
const imported = cpu();
const code = await runRender(process.argv.slice(3));
const total = cpu();
const threads = threadSeconds();
const mainThreadSeconds = threads === null ? null : threads[0]!;
const otherThreadsSeconds =
  threads === null ? null : threads.slice(1).reduce((sum: number, s: number) => sum + s, 0);
console.log(
  JSON.stringify({
    cpuSeconds: total,
    startupSeconds: ms(startup),
    importSeconds: ms(imported - startup),
    mainThreadSeconds: ms(mainThreadSeconds),
    otherThreadsSeconds: ms(otherThreadsSeconds),
  }),
);
process.exitCode = code;
