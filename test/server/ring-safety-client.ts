// The reader for test/server/ring-safety.test.ts, in its own process: it must read while the
// server's main thread is blocked, which a reader on that thread cannot do. It connects to the
// Unix socket given, stops reading at once (the kernel buffer fills, then Node's user-space queue
// on the server side holds ring views), and answers lines on stdin:
//   `resume <ms>`: read at full speed from `ms` milliseconds on;
//   `finish`: write every byte received to the output file, print `done` and exit.
// Usage: node --import tsx test/server/ring-safety-client.ts <socket path> <output file>
import { writeFileSync } from 'node:fs';
import net from 'node:net';

const path = process.argv[2]!;
const outFile = process.argv[3]!;
const body: Buffer[] = [];

const socket = net.connect({ path });
socket.pause();
socket.on('connect', () => process.stdout.write('connected\n'));
socket.on('data', (chunk: Buffer) => body.push(chunk));
socket.on('error', (err: NodeJS.ErrnoException) =>
  process.stdout.write(`socket-error ${err.code ?? err.message}\n`),
);

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text: string) => {
  pending += text;
  for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
    const line = pending.slice(0, nl).trim();
    pending = pending.slice(nl + 1);
    if (line.startsWith('resume ')) setTimeout(() => socket.resume(), Number(line.slice(7)));
    else if (line === 'finish') {
      writeFileSync(outFile, Buffer.concat(body));
      socket.destroy();
      process.stdout.write('done\n', () => process.exit(0));
    }
  }
});
