/**
 * What the Opus bitrate tiers cost in a running server: auralis_encode_seconds{codec="opus"}
 * (sum ÷ count, one observation per chunk covering every tier the station encodes) over a window
 * with only the default tier in use, then over a window with a WebSocket listener on each other
 * tier (all four encoded), and the ring bytes per station. One station, one worker.
 *
 *   node --import tsx bench/tier-cost.ts [--seconds 15]
 */
import WebSocket from 'ws';
import { ringLayout } from '../src/engine/ring.ts';
import { loadConfig } from '../src/server/config.ts';
import { startServer } from '../src/server/server.ts';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 15);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function opusEncode(url: string): Promise<{ sum: number; count: number; tiers: string }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string): number =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(name))
        ?.split(' ')
        .pop() ?? NaN,
    );
  const tiers = text
    .split('\n')
    .filter((l) => l.startsWith('auralis_opus_tier_stations{') && !l.endsWith(' 0'))
    .map((l) => /kbps="(\d+)"/.exec(l)![1])
    .join(',');
  return {
    sum: value('auralis_encode_seconds_sum{codec="opus"}'),
    count: value('auralis_encode_seconds_count{codec="opus"}'),
    tiers,
  };
}

async function window(url: string, label: string): Promise<void> {
  const a = await opusEncode(url);
  await sleep(seconds * 1000);
  const b = await opusEncode(url);
  const perChunkMs = ((b.sum - a.sum) / (b.count - a.count)) * 1000;
  console.log(
    `${label}: tiers encoded ${b.tiers} kb/s; ${b.count - a.count} chunks, ${perChunkMs.toFixed(3)} ms per 100 ms chunk (all tiers)`,
  );
}

const config = loadConfig({});
const single = ringLayout(80, 4800, 2, config.mp3Bitrate, { kbps: [96], defaultKbps: 96 });
const all = ringLayout(80, 4800, 2, config.mp3Bitrate, { kbps: config.opusTiers, defaultKbps: 96 });
console.log(
  `ring bytes per station: one tier ${single.totalBytes}, tiers ${config.opusTiers.join(',')}: ${all.totalBytes}`,
);

const server = await startServer({ host: '127.0.0.1', port: 0, workers: 1, logLevel: 'warn', stateFile: '' });
const sockets: WebSocket[] = [];
try {
  await sleep(2000);
  await window(server.url, 'default tier only');
  for (const kbps of config.opusTiers.filter((k) => k !== 96)) {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?bitrate=${kbps}`);
    sockets.push(ws);
    await new Promise((r) => ws.once('open', r));
  }
  await sleep(3000); // warm-up and the first stats report
  await window(server.url, 'every tier');
} finally {
  for (const ws of sockets) ws.close();
  await server.close();
}
