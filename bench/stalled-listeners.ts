// N listeners that never read (raw TCP, paused after the response head) against an in-process
// server with the default configuration: how long until the server disconnects them all, how many
// bytes the server's sockets queue (kernel tx_queue from /proc/net/tcp + Node's user-space queue),
// and the host's TCP memory (/proc/net/sockstat `TCP: ... mem`, all sockets on the host, both ends).
//
//   node --import tsx bench/stalled-listeners.ts [--listeners 300] [--transport wav|ogg|ws] [--seconds 120]
import { readFile } from 'node:fs/promises';
import { startServer } from '../src/server/server.ts';
import { openOgg, openWav, openWs, tcpMemBytes, type RawListener } from '../test/server/raw-listeners.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const n = Number(arg('--listeners', '300'));
const transport = arg('--transport', 'wav');
const seconds = Number(arg('--seconds', '120'));

async function serverTxQueues(port: number): Promise<number[]> {
  const out: number[] = [];
  for (const path of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(path, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '01' || parseInt(f[1]!.split(':')[1]!, 16) !== port) continue;
      out.push(parseInt(f[4]!.split(':')[0]!, 16));
    }
  }
  return out;
}

const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  workers: 1,
  logLevel: 'silent',
  stateFile: '',
  maxListeners: n + 10,
});
const ls: RawListener[] = [];
try {
  const memBefore = await tcpMemBytes();
  for (let i = 0; i < n; i += 50) {
    const batch = Array.from({ length: Math.min(50, n - i) }, () =>
      transport === 'ogg'
        ? openOgg(server.port)
        : transport === 'ws'
          ? openWs(server.port, 'pcm')
          : openWav(server.port),
    );
    for (const l of await Promise.all(batch)) {
      l.pause();
      ls.push(l);
    }
  }
  const st = server.registry.get('default')!;
  const t0 = Date.now();
  let maxPerSocket = 0;
  let maxTotal = 0;
  let maxMem = 0;
  let firstGone = 0;
  while (st.listeners.size > 0 && Date.now() - t0 < seconds * 1000) {
    const tx = await serverTxQueues(server.port);
    let total = 0;
    for (const l of st.listeners) total += l.socket.writableLength;
    for (const q of tx) {
      total += q;
      maxPerSocket = Math.max(maxPerSocket, q);
    }
    maxTotal = Math.max(maxTotal, total);
    maxMem = Math.max(maxMem, await tcpMemBytes());
    if (firstGone === 0 && st.listeners.size < n) firstGone = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 250));
  }
  const allGone =
    st.listeners.size === 0 ? `${Date.now() - t0} ms` : `not within ${seconds} s (${st.listeners.size} left)`;
  await new Promise((r) => setTimeout(r, 1000));
  console.log(
    `${n} never-reading ${transport} listeners: first disconnected after ${firstGone} ms, all after ${allGone}; ` +
      `server-side queued max ${maxPerSocket} bytes per socket, ${maxTotal} bytes in all; ` +
      `host TCP mem ${memBefore} → max ${maxMem} → ${await tcpMemBytes()} bytes after`,
  );
} finally {
  for (const l of ls) l.close();
  await server.close();
}
