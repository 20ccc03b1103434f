/**
 * Load generator for `npm run bench:listeners`: a separate process that opens N WebSocket listeners
 * to a station and measures, at each listener, every chunk's lateness (arrival minus due time:
 * the header's play time minus the server's lead), jitter (|inter-arrival − chunk length|), gaps
 * (sequence jumps) and discontinuity flags. Prints one JSON line with the results.
 *
 * Usage: node --import tsx bench/load-generator.ts --url ws://127.0.0.1:PORT/ws --listeners N
 *        --seconds S --warmup-seconds W --lead-ms L [--codec opus|pcm] [--station ID]
 * The result also carries lateness p95 and the share of chunks no later than 50 ms
 * (`within50MsPercent`, the report's SC-001) and the largest jitter.
 */
import WebSocket from 'ws';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const url = args.get('url')!;
const listeners = Number(args.get('listeners') ?? 1);
const seconds = Number(args.get('seconds') ?? 20);
const warmupSeconds = Number(args.get('warmup-seconds') ?? 3);
const leadMs = Number(args.get('lead-ms') ?? 150);
const codec = args.get('codec') ?? 'opus';
const station = args.get('station');
/** Connections opened at once while ramping up (the accept backlog is finite). */
const RAMP_BATCH = 250;

const nowMs = (): number => performance.timeOrigin + performance.now();

// Preallocated sample stores: at most 10 chunks/s per listener over the measured window (+ margin).
const capacity = Math.ceil(listeners * (seconds + 2) * (1000 / 20));
const lateness = new Float64Array(Math.min(capacity, 20_000_000));
const jitter = new Float64Array(lateness.length);
let nLate = 0;
let nJitter = 0;
let gaps = 0;
let flagged = 0;
let chunksMeasured = 0;
let measuring = false;
let closedEarly = 0;

interface State {
  lastSeq: number;
  lastArrival: number;
  chunkMs: number;
}

function open(): Promise<void> {
  return new Promise((resolve) => {
    const query = `codec=${codec}${station ? `&station=${encodeURIComponent(station)}` : ''}`;
    const ws = new WebSocket(`${url}?${query}`, { perMessageDeflate: false });
    const st: State = { lastSeq: -1, lastArrival: 0, chunkMs: 100 };
    let welcomed = false;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const t = nowMs();
      if (!isBinary) {
        if (!welcomed) {
          welcomed = true;
          st.chunkMs = (JSON.parse(data.toString()) as { chunkMs: number }).chunkMs;
          resolve();
        }
        return;
      }
      const flags = data[3]!;
      const seq = data.readUInt32LE(8);
      const playTimeMs = data.readDoubleLE(24);
      if (measuring) {
        chunksMeasured++;
        if (nLate < lateness.length) lateness[nLate++] = t - (playTimeMs - leadMs);
        if (st.lastSeq >= 0) {
          if (seq !== st.lastSeq + 1) gaps++;
          else if (nJitter < jitter.length) jitter[nJitter++] = Math.abs(t - st.lastArrival - st.chunkMs);
        }
        if (flags & 1) flagged++;
      }
      st.lastSeq = seq;
      st.lastArrival = t;
    });
    ws.on('close', () => {
      if (!welcomed) resolve();
      if (measuring) closedEarly++;
    });
    ws.on('error', () => {});
  });
}

function within(a: Float64Array, n: number, limit: number): number {
  if (n === 0) return NaN;
  let k = 0;
  for (let i = 0; i < n; i++) if (a[i]! <= limit) k++;
  return (k / n) * 100;
}

function pct(a: Float64Array, n: number, p: number): number {
  if (n === 0) return NaN;
  const s = a.slice(0, n).sort();
  return s[Math.min(n - 1, Math.floor((p / 100) * n))]!;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  for (let i = 0; i < listeners; i += RAMP_BATCH) {
    const batch: Promise<void>[] = [];
    for (let k = i; k < Math.min(listeners, i + RAMP_BATCH); k++) batch.push(open());
    await Promise.all(batch);
  }
  const connectSeconds = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
  process.stdout.write(JSON.stringify({ phase: 'measuring' }) + '\n');
  measuring = true;
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const cpu = process.cpuUsage(cpu0);
  const expected = listeners * ((seconds * 1000) / 100);
  process.stdout.write(
    JSON.stringify({
      phase: 'done',
      listeners,
      seconds,
      connectSeconds,
      chunksMeasured,
      expectedChunks: expected,
      latenessMs: {
        p50: pct(lateness, nLate, 50),
        p95: pct(lateness, nLate, 95),
        p99: pct(lateness, nLate, 99),
        max: pct(lateness, nLate, 100),
      },
      within50MsPercent: within(lateness, nLate, 50),
      jitterMs: {
        p50: pct(jitter, nJitter, 50),
        p95: pct(jitter, nJitter, 95),
        p99: pct(jitter, nJitter, 99),
        max: pct(jitter, nJitter, 100),
      },
      gaps,
      discontinuities: flagged,
      closedEarly,
      generatorCpuPercent: ((cpu.user + cpu.system) / 1e6 / seconds) * 100,
    }) + '\n',
  );
  process.exit(0);
}

void main();
