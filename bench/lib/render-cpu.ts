// Runs the CLI's `render` in this process and then prints one JSON line with the process's CPU time
// (user + system, all threads, module loading included): the whole-process cost of an offline render.
//   node --import tsx bench/lib/render-cpu.ts render --seconds 600 --out x.wav
import { runRender } from '../../src/cli/render.ts';

const code = await runRender(process.argv.slice(3));
const c = process.cpuUsage();
console.log(JSON.stringify({ cpuSeconds: (c.user + c.system) / 1e6 }));
process.exitCode = code;
