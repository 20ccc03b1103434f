// Preloaded into the command a benchmark measures (`node --import ./bench/lib/cpu-at-exit.mjs
// bin/auralis.mjs render …`): at exit it writes one line to stderr, `cpu-at-exit {json}`, with the
// process's CPU seconds (user + system, all threads, start-up included), the part spent before the
// command's own code ran (`startupSeconds`: Node's bootstrap) and, on Linux, `mainThreadSeconds`
// and `otherThreadsSeconds` (V8's compiler and GC threads, tsx's module-loader thread, the libuv
// threads that write files) from /proc/self/task. Plain JavaScript, so that measuring adds no
// loader of its own.
import { readdirSync, readFileSync, writeSync } from 'node:fs';

const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
const ms = (s) => (s === null ? null : Math.round(s * 1000) / 1000);

/** CPU seconds of each thread of this process, the main thread first (Linux); null elsewhere. */
function threadSeconds() {
  try {
    return readdirSync('/proc/self/task')
      .sort((a, b) => (a === String(process.pid) ? -1 : b === String(process.pid) ? 1 : 0))
      .map((tid) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return (Number(fields[11]) + Number(fields[12])) / 100;
      });
  } catch {
    return null;
  }
}

const startup = cpu();
process.on('exit', () => {
  const total = cpu();
  const threads = threadSeconds();
  const line = {
    cpuSeconds: total,
    startupSeconds: ms(startup),
    mainThreadSeconds: threads === null ? null : ms(threads[0]),
    otherThreadsSeconds: threads === null ? null : ms(threads.slice(1).reduce((a, s) => a + s, 0)),
  };
  writeSync(2, `cpu-at-exit ${JSON.stringify(line)}\n`);
});
