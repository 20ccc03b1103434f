/**
 * What reproducing a moment costs: `node --import tsx bench/moment-replay.ts --minutes 2` replays a
 * station that has synthesized since its start (no wake-up: the worst case) to a moment that many
 * minutes in, and prints the CPU time and the replay's speed in multiples of real time.
 */
import { parseArgs } from 'node:util';
import { MomentSource } from '../src/engine/moment-source.ts';
import { DEFAULT_PARAMS } from '../src/music/params.ts';
import { SAMPLE_RATE } from '../src/music/types.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '2' } } });
const minutes = Number(values.minutes);
const chunkFrames = 4800;
const position = Math.round((minutes * 60 * SAMPLE_RATE) / chunkFrames) * chunkFrames;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const src = new MomentSource({
  station: 'default',
  position,
  chunkFrames,
  baseFrames: 0,
  at: 0,
  history: { seed: 1, params: DEFAULT_PARAMS, changes: [], wake: null, complete: true },
});
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(
  `replayed ${(src.synthFrames / SAMPLE_RATE).toFixed(0)} s of synthesis to the moment: ${cpuSeconds.toFixed(2)} s CPU, ${wall.toFixed(2)} s wall, ${(src.synthFrames / SAMPLE_RATE / cpuSeconds).toFixed(0)}× real time per CPU second`,
);
