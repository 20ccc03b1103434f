/**
 * Chooses how origins hand chunks to edges through Redis (docs/ARCHITECTURE.md, "Origins and
 * edges"): Redis Streams (`XADD … MAXLEN ~ N`, edges `XREAD BLOCK`) against pub/sub plus a short
 * backlog (`PUBLISH` + `LPUSH`/`LTRIM` of the last N chunks). One publisher sends `--stations`
 * stations × one chunk every 100 ms, each chunk of the size an origin publishes with every tier
 * encoded (Opus 24+48+96+128 kb/s frames and Ogg pages, 100 ms of PCM, MP3 at 128 kb/s: about
 * 28 KB), for `--seconds`; two subscriber processes read every station. Prints, per method: Redis
 * CPU (from /proc/<pid>/stat, % of one core), publish→receive latency p50/p99 (the system's
 * monotonic clock, the same in every process), bytes/s per subscriber and chunks received.
 *
 *   node --import tsx bench/redis-transport.ts [--seconds 30] [--stations 10]
 *
 * It starts its own redis-server (no persistence) on a free port and stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { monoNowMs } from '../src/engine/clock.ts';
import { cpuSeconds } from './lib/proc.ts';

const args = process.argv.slice(2);
const arg = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const seconds = Number(arg('seconds', '30'));
const stations = Number(arg('stations', '10'));
const port = Number(arg('port', '0'));
const mode = arg('mode', '') as 'streams' | 'pubsub' | '';
const CHUNK_MS = 100;
const BACKLOG = 80; // the ring's length: 8 s of 100 ms chunks
/** Opus 24+48+96+128 kb/s (frame + Ogg page each), PCM 100 ms stereo 16-bit, MP3 128 kb/s. */
const CHUNK_BYTES = (2 * ((24 + 48 + 96 + 128) * 1000 * 0.1)) / 8 + 8 * 60 + 4800 * 4 + 42 + 1680;
const key = (i: number): string => `bench:st:${i}`;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function subscriber(): Promise<void> {
  const r = new Redis({ port, host: '127.0.0.1', protocol: 2 });
  const lat: number[] = [];
  let bytes = 0;
  const seen = (buf: Buffer): void => {
    lat.push(monoNowMs() - buf.readDoubleBE(0));
    bytes += buf.length;
  };
  const endAt = monoNowMs() + (seconds + 2) * 1000;
  if (mode === 'pubsub') {
    r.on('messageBuffer', (_ch: Buffer, msg: Buffer) => seen(msg));
    await r.subscribe(...Array.from({ length: stations }, (_, i) => key(i)));
    process.stdout.write('ready\n');
    await new Promise((res) => setTimeout(res, endAt - monoNowMs()));
  } else {
    // '0-0', not '$': a '$' left for a stream with nothing new would skip what arrives between two reads.
    const ids = Array.from({ length: stations }, () => '0-0');
    const streams = Array.from({ length: stations }, (_, i) => key(i));
    process.stdout.write('ready\n');
    while (monoNowMs() < endAt) {
      const res = (await r.xreadBuffer('COUNT', 100, 'BLOCK', 500, 'STREAMS', ...streams, ...ids)) as
        [Buffer, [Buffer, Buffer[]][]][] | null;
      if (!res) continue;
      for (const [k, entries] of res) {
        const i = streams.indexOf(k.toString());
        for (const [id, fields] of entries) {
          ids[i] = id.toString();
          seen(fields[1]!);
        }
      }
    }
  }
  r.disconnect();
  process.stdout.write(`${JSON.stringify({ lat, bytes })}\n`);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function output(child: ChildProcess): { text: () => string } {
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  return { text: () => text };
}

async function run(m: 'streams' | 'pubsub', redisPort: number, redisPid: number): Promise<void> {
  const subs = [0, 1].map(() => {
    const c = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        new URL(import.meta.url).pathname,
        '--mode',
        m,
        '--port',
        String(redisPort),
        '--seconds',
        String(seconds),
        '--stations',
        String(stations),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    return { c, out: output(c), exited: new Promise<void>((r) => c.once('exit', () => r())) };
  });
  while (!subs.every((s) => s.out.text().includes('ready'))) await new Promise((r) => setTimeout(r, 50));
  const pub = new Redis({ port: redisPort, host: '127.0.0.1', protocol: 2 });
  const payload = Buffer.alloc(Math.round(CHUNK_BYTES));
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 2654435761) >>> 24;
  const cpu0 = cpuSeconds(redisPid);
  const t0 = monoNowMs();
  let sent = 0;
  for (let tick = 0; monoNowMs() - t0 < seconds * 1000; tick++) {
    const p = pub.pipeline();
    for (let i = 0; i < stations; i++) {
      payload.writeDoubleBE(monoNowMs(), 0);
      const buf = Buffer.from(payload);
      if (m === 'streams') p.xadd(key(i), 'MAXLEN', '~', BACKLOG, '*', 'c', buf);
      else
        p.publish(key(i), buf)
          .lpush(`${key(i)}:backlog`, buf)
          .ltrim(`${key(i)}:backlog`, 0, BACKLOG - 1);
      sent++;
    }
    await p.exec();
    const next = t0 + (tick + 1) * CHUNK_MS;
    await new Promise((r) => setTimeout(r, Math.max(0, next - monoNowMs())));
  }
  const elapsed = (monoNowMs() - t0) / 1000;
  const cpu = cpuSeconds(redisPid) - cpu0;
  await Promise.all(subs.map((s) => s.exited));
  pub.disconnect();
  const results = subs.map(
    (s) => JSON.parse(s.out.text().trim().split('\n').pop()!) as { lat: number[]; bytes: number },
  );
  const lat = results.flatMap((r) => r.lat).sort((a, b) => a - b);
  const received = results.map((r) => r.lat.length);
  console.log(
    `${m.padEnd(8)} redis CPU ${((100 * cpu) / elapsed).toFixed(1)} % of a core | publish→receive p50 ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms | ` +
      `${(results[0]!.bytes / elapsed / 1e6).toFixed(2)} MB/s per subscriber | received ${received.join(' + ')} of ${sent} each`,
  );
}

if (mode !== '') await subscriber();
else {
  const redisPort = await freePort();
  const redis = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const out = output(redis);
  while (!out.text().includes('Ready to accept')) await new Promise((r) => setTimeout(r, 50));
  console.log(
    `${stations} stations × ${Math.round(CHUNK_BYTES)} bytes every ${CHUNK_MS} ms for ${seconds} s, 2 subscribers (redis-server pid ${redis.pid})`,
  );
  try {
    await run('streams', redisPort, redis.pid!);
    await run('pubsub', redisPort, redis.pid!);
  } finally {
    process.kill(redis.pid!, 'SIGTERM');
  }
}
