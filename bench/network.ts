/**
 * `npm run bench:network -- [--minutes M] [--profile name[,name…]] [--resets N] [--json]`
 *
 * The web player on bad networks, measured: starts the built server (`dist/main.js`, what
 * `npm start` runs; `npm run build` first) in its own process, the impairment proxy
 * (test/browser/impairment-proxy.ts) in this one, and Debian's Chromium through playwright-core.
 * For each profile (test/browser/network-run.ts: lan, 4g, wifi-stalls, 2mbps, 64kbps) it plays for
 * M minutes and then injects N connection resets, and prints one table row: underruns per
 * 10 minutes, the buffer target it settled at, lag behind live, time to first audio, and the time
 * from a reset to audio playing again.
 *
 * `--profile capped40` (or `cappedK` for another cap of K kb/s; not in the default list) is the
 * adaptive-bitrate scenario (network-run.ts, runCapped): 15 s on a good link, then a cap of K kb/s
 * for the settling plus M minutes, then the cap lifted; it prints the tier and wire bitrate on the
 * good link, the time to settle, the share of real time played and the underruns per minute under
 * the cap, and the time back to the full tier. Not a test: it prints numbers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { launchBrowser } from '../test/browser/browser-helpers.ts';
import { startImpairmentProxy } from '../test/browser/impairment-proxy.ts';
import {
  PROFILES,
  formatCapped,
  formatTable,
  profileByName,
  runCapped,
  runProfile,
  type CappedResult,
  type ProfileResult,
} from '../test/browser/network-run.ts';

const CAPPED = /^capped(\d+)$/;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

async function startBuiltServer(): Promise<{ child: ChildProcess; port: number }> {
  if (!existsSync('dist/main.js') || !existsSync('client/dist/index.html')) {
    throw new Error('no build: run `npm run build` first');
  }
  const child = spawn(
    process.execPath,
    ['dist/main.js', 'serve', '--port', '0', '--log-level', 'warn', '--state-file='],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start within 20 s')), 20_000);
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /serving on http:\/\/[^:\s]+:(\d+)/.exec(buf);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`server exited with ${code} before serving`));
    });
  });
  return { child, port };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const minutes = Number(flag('minutes', '2'));
  const resets = Number(flag('resets', '3'));
  if (!(minutes > 0) || !Number.isInteger(resets) || resets < 0) {
    throw new Error('--minutes must be > 0 and --resets a whole number ≥ 0');
  }
  const names = flag('profile', PROFILES.map((p) => p.name).join(',')).split(',');
  const capped = names.filter((n) => CAPPED.test(n)).map((n) => Number(CAPPED.exec(n)![1]));
  const profiles = names.filter((n) => !CAPPED.test(n)).map(profileByName);
  const cappedRows: CappedResult[] = [];
  const load0 = loadavg();
  const server = await startBuiltServer();
  const rows: ProfileResult[] = [];
  try {
    const proxy = await startImpairmentProxy(server.port);
    try {
      const browser = await launchBrowser();
      try {
        for (const p of profiles) {
          process.stderr.write(`bench:network: ${p.name} (${p.description}) for ${minutes} min…\n`);
          const row = await runProfile(browser, proxy, p, { seconds: minutes * 60, resets });
          rows.push(row);
          process.stderr.write(`${formatTable([row]).split('\n').at(-1)}\n`);
        }
        for (const kbps of capped) {
          process.stderr.write(`bench:network: ${kbps} kb/s cap, ${minutes} min under it…\n`);
          const row = await runCapped(browser, proxy, {
            goodSeconds: 15,
            capBytesPerS: (kbps * 1000) / 8,
            capSeconds: minutes * 60,
          });
          cappedRows.push(row);
          process.stderr.write(`${formatCapped([row]).split('\n').at(-1)}\n`);
        }
      } finally {
        await browser.close();
      }
    } finally {
      await proxy.close();
    }
  } finally {
    await stop(server.child);
  }
  const load1 = loadavg();
  console.log(
    `load average (1/5/15 min) at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}`,
  );
  for (const p of profiles) console.log(`- ${p.name}: ${p.description}`);
  if (rows.length) console.log(formatTable(rows));
  for (const r of rows) if (r.errors.length) console.log(`${r.profile} page errors: ${r.errors.join(' | ')}`);
  if (cappedRows.length) console.log(formatCapped(cappedRows));
  for (const r of cappedRows) if (r.errors.length) console.log(`capped page errors: ${r.errors.join(' | ')}`);
  if (process.argv.includes('--json')) console.log(JSON.stringify([...rows, ...cappedRows], null, 2));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
