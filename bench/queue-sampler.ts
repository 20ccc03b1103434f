// Cost of the kernel send-queue sampler (src/server/broadcast/queue-sampler.ts): opens N loopback
// TCP connections (2N sockets in /proc/net/tcp), registers the N server-side sockets as listeners,
// and times reading + parsing /proc/net/tcp{,6} (what one sample does) and the parse alone (the
// part that runs on the main thread). Prints one line per N.
//
//   node --import tsx bench/queue-sampler.ts [--sockets 1000,5000] [--samples 20]
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import { ListenerFlow, type Listener } from '../src/server/broadcast/listener.ts';
import { PROC_NET_TCP, QueueSampler, parseProcNetTcp } from '../src/server/broadcast/queue-sampler.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const counts = arg('--sockets', '1000,5000').split(',').map(Number);
const samples = Number(arg('--samples', '20'));

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

async function measure(n: number): Promise<void> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const clients: net.Socket[] = [];
  try {
    for (let i = 0; i < n; i += 200) {
      const batch = Math.min(200, n - i);
      await Promise.all(
        Array.from(
          { length: batch },
          () =>
            new Promise<void>((resolve, reject) => {
              const c = net.connect(port, '127.0.0.1', () => resolve());
              c.on('error', reject);
              clients.push(c);
            }),
        ),
      );
    }
    while (accepted.length < n) await new Promise((r) => setTimeout(r, 10));
    const sampler = new QueueSampler({ intervalMs: 1_000_000 });
    for (const s of accepted) {
      const l = { socket: s, flow: new ListenerFlow(), closed: false } as unknown as Listener;
      sampler.add(l);
    }
    const registered = sampler.size;
    const total: number[] = [];
    const parse: number[] = [];
    let bytes = 0;
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      await sampler.sample();
      total.push(performance.now() - t0);
      parse.push(sampler.lastParseMs);
    }
    // The parse alone over the same files, in CPU time (the machine may be shared: wall time then
    // includes waiting for a core).
    const files: Buffer[] = [];
    for (const p of PROC_NET_TCP) files.push(await readFile(p).catch(() => Buffer.alloc(0)));
    for (const f of files) bytes += f.length;
    const byInode = new Set(accepted.length > 0 ? [0] : []);
    const cpu: number[] = [];
    let lines = 0;
    for (let i = 0; i < samples; i++) {
      const c0 = process.cpuUsage();
      lines = 0;
      for (const f of files) lines += parseProcNetTcp(f, (inode) => void byInode.has(inode));
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    }
    sampler.close();
    console.log(
      `${n} connections (${registered} registered, /proc/net/tcp{,6} ${(bytes / 1024).toFixed(0)} KiB): ` +
        `read+parse p50 ${quantile(total, 0.5).toFixed(2)} ms p95 ${quantile(total, 0.95).toFixed(2)} ms; ` +
        `longest main-thread slice p50 ${quantile(parse, 0.5).toFixed(2)} ms p95 ${quantile(parse, 0.95).toFixed(2)} ms; ` +
        `whole parse of ${lines} lines, CPU p50 ${quantile(cpu, 0.5).toFixed(2)} ms`,
    );
  } finally {
    for (const c of clients) c.destroy();
    for (const s of accepted) s.destroy();
    await new Promise((r) => server.close(r));
  }
}

for (const n of counts) await measure(n);
