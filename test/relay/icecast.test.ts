import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuralisServer } from '../../src/server/server.ts';
import { startServer } from '../../src/server/server.ts';
import { captureLog, json, sleep, type CapturedLog } from '../server/helpers.ts';
import { requireTool } from '../codec/tools.ts';
import { freePort, IcecastServer } from './icecast-server.ts';

/**
 * The Icecast source push against real icecast2 processes: a master that Auralis pushes to (Ogg/Opus
 * and MP3 mounts, one with a wrong password) and a second icecast2 relaying the master's Ogg mount.
 * Listeners are ffmpeg, decoding what Icecast serves.
 */

const hasIcecast = spawnSync('icecast2', ['-v'], { stdio: 'ignore' }).status === 0;

/** Decodes `seconds` of `url` with ffmpeg to mono s16le; returns the RMS (0–1) and the seconds decoded. */
function decodeRms(url: string, seconds: number): Promise<{ rms: number; seconds: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const ff = spawn(
      'ffmpeg',
      [
        '-nostdin',
        '-loglevel',
        'error',
        '-t',
        String(seconds),
        '-i',
        url,
        '-f',
        's16le',
        '-ac',
        '1',
        '-ar',
        '48000',
        'pipe:1',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const chunks: Buffer[] = [];
    let stderr = '';
    ff.stdout.on('data', (d: Buffer) => chunks.push(d));
    ff.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString();
    });
    const timer = setTimeout(() => ff.kill('SIGKILL'), 20_000);
    ff.on('error', reject);
    ff.on('close', () => {
      clearTimeout(timer);
      const pcm = Buffer.concat(chunks);
      const n = Math.floor(pcm.length / 2);
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const v = pcm.readInt16LE(i * 2) / 32768;
        sum += v * v;
      }
      resolve({ rms: n > 0 ? Math.sqrt(sum / n) : 0, seconds: n / 48_000, stderr });
    });
  });
}

async function until<T>(
  what: string,
  ms: number,
  fn: () => Promise<T | null | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`${what}: not within ${ms} ms${last ? ` (${String(last)})` : ''}`);
}

async function metric(server: AuralisServer, name: string, labels: string): Promise<number | null> {
  const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
}

async function stationState(server: AuralisServer): Promise<string> {
  const r = await json(server, 'GET', '/api/stations/default');
  return String(r.body?.state);
}

describe(
  'Icecast source push (real icecast2)',
  { skip: hasIcecast ? false : 'icecast2 not installed', timeout: 120_000 },
  () => {
    let master: IcecastServer;
    let relay: IcecastServer | null = null;
    let server: AuralisServer | null = null;
    let second: AuralisServer | null = null;
    let log: CapturedLog;
    const wrongPassword = `wrong-${randomBytes(6).toString('hex')}`;

    before(async () => {
      if (process.env.CI && !hasIcecast)
        throw new Error('icecast2 is required in CI (apt-get install icecast2)');
      master = new IcecastServer({ port: await freePort() });
      await master.start();
      log = captureLog();
      const base = `http://127.0.0.1:${master.port}`;
      const auth = (pw: string): string => base.replace('//', `//source:${pw}@`);
      server = await startServer(
        {
          host: '127.0.0.1',
          port: 0,
          workers: 1,
          logLevel: 'info',
          idleAfterMs: 500,
          icecast: [
            `default=${auth(master.sourcePassword)}/auralis.ogg`,
            `default=${auth(master.sourcePassword)}/auralis.mp3`,
            `default=${auth(wrongPassword)}/bad.ogg`,
          ],
        },
        {},
        { logStream: log.stream },
      );
    });

    after(async () => {
      await server?.close();
      await relay?.dispose();
      await master?.dispose();
    });

    it('pushes decodable Ogg/Opus and MP3 to the master, and a relay Icecast serves it too', async (t) => {
      if (!requireTool(t, 'ffmpeg')) return;
      const sources = await until('both mounts on the master', 15_000, async () => {
        const s = await master.status();
        // Icecast lists a source before it has parsed its stream headers (no subtype yet).
        return s.get('/auralis.ogg')?.subtype !== undefined && s.has('/auralis.mp3') ? s : null;
      });
      assert.equal(sources.get('/auralis.ogg')!.subtype, 'Opus', 'Icecast sees an Ogg/Opus stream');
      assert.equal(sources.has('/bad.ogg'), false, 'the wrong password is refused');

      relay = new IcecastServer({
        port: await freePort(),
        relayOf: { port: master.port, mount: '/auralis.ogg', localMount: '/relayed.ogg' },
      });
      await relay.start();
      await until('the relay pulls the mount', 15_000, async () =>
        (await relay!.status()).has('/relayed.ogg'),
      );

      const [ogg, mp3, relayed] = await Promise.all([
        decodeRms(`http://127.0.0.1:${master.port}/auralis.ogg`, 2),
        decodeRms(`http://127.0.0.1:${master.port}/auralis.mp3`, 2),
        decodeRms(`http://127.0.0.1:${relay.port}/relayed.ogg`, 2),
      ]);
      for (const [name, d] of Object.entries({ ogg, mp3, relayed })) {
        assert.ok(d.seconds >= 1.9, `${name}: decoded ${d.seconds} s: ${d.stderr}`);
        assert.ok(d.rms > 0.003, `${name}: not silent (RMS ${d.rms})`);
      }

      // The MP3 mount's title follows the station (admin/metadata); Ogg mounts take none in Icecast 2.4.
      const title = await until('the MP3 mount has the title', 10_000, async () => {
        const s = (await master.status()).get('/auralis.mp3');
        return typeof s?.title === 'string' && s.title.startsWith('Auralis default: ') ? s.title : null;
      });
      assert.match(title, /^Auralis default: .+, [A-G]/);
      const updates = await metric(server!, 'auralis_relay_metadata_updates_total', 'result="ok"');
      assert.ok(updates !== null && updates >= 1, `title updates: ${updates}`);
    });

    it('counts each push as a listener: the station stays live while pushed', async () => {
      // Well past idleAfterMs (500 ms) since start, and no other listener.
      assert.equal(await stationState(server!), 'live');
      assert.equal(await metric(server!, 'auralis_listeners', 'transport="ogg"'), 1);
      assert.equal(await metric(server!, 'auralis_listeners', 'transport="mp3"'), 1);
      assert.equal(await metric(server!, 'auralis_relay_connected', 'mount="/auralis.ogg"'), 1);
      assert.equal(await metric(server!, 'auralis_relay_connected', 'mount="/bad.ogg"'), 0);
      const sent = await metric(server!, 'auralis_relay_bytes_sent_total', 'mount="/auralis.ogg"');
      assert.ok(sent !== null && sent > 10_000, `bytes sent: ${sent}`);
    });

    it('a wrong password is logged once at warn, without the password, and retried', async () => {
      const retries = await until('retries of /bad.ogg', 10_000, async () => {
        const n = await metric(server!, 'auralis_relay_reconnects_total', 'mount="/bad.ogg"');
        return n !== null && n >= 2 ? n : null;
      });
      assert.ok(retries >= 2, `retries: ${retries}`);
      const bad = log.lines.filter((l) => String(l.msg).includes('/bad.ogg'));
      const warns = bad.filter((l) => l.level === 40);
      assert.equal(warns.length, 1, `one warn line for the refused mount: ${JSON.stringify(bad)}`);
      assert.match(String(warns[0]!.msg), /401: wrong source user or password/);
      assert.match(String(warns[0]!.msg), /source:\[redacted\]@127\.0\.0\.1/);
      const all = JSON.stringify(log.lines);
      assert.ok(all.includes('icecast: pushing station default'), 'connect lines were logged');
      assert.ok(!all.includes(wrongPassword), 'the wrong password never reaches the log');
      assert.ok(!all.includes(master.sourcePassword), 'the right password never reaches the log');
      assert.deepEqual(log.errors(), []);
    });

    it('survives an Icecast restart: the station goes idle while Icecast is down, then the push resumes', async (t) => {
      if (!requireTool(t, 'ffmpeg')) return;
      await relay?.dispose();
      relay = null;
      await master.stop('SIGKILL');
      await until('the pushes see the loss', 10_000, async () =>
        (await metric(server!, 'auralis_relay_connected', 'mount="/auralis.ogg"')) === 0 ? true : null,
      );
      // No consumer left: idle after idleAfterMs (the relays are reconnecting, not listening).
      await until('the station goes idle', 10_000, async () =>
        (await stationState(server!)) === 'idle' ? true : null,
      );
      await master.start();
      await until('the push reconnects after the restart', 40_000, async () =>
        (await master.status()).has('/auralis.ogg'),
      );
      assert.equal(await stationState(server!), 'live');
      const d = await decodeRms(`http://127.0.0.1:${master.port}/auralis.ogg`, 2);
      assert.ok(d.seconds >= 1.9, `decoded ${d.seconds} s after the restart: ${d.stderr}`);
      assert.ok(d.rms > 0.003, `not silent after the restart (RMS ${d.rms})`);
      const reconnects = await metric(server!, 'auralis_relay_reconnects_total', 'mount="/auralis.ogg"');
      assert.ok(reconnects !== null && reconnects >= 1, `reconnects: ${reconnects}`);
      const lost = log.lines.filter(
        (l) => String(l.msg).includes('/auralis.ogg') && String(l.msg).includes('lost'),
      );
      assert.ok(lost.length >= 1 && lost.every((l) => l.level === 30), 'the loss is logged at info');
    });

    it('a second source for a mount in use is refused (403), retried, and takes over when the first stops', async () => {
      const log2 = captureLog();
      second = await startServer(
        {
          host: '127.0.0.1',
          port: 0,
          workers: 1,
          logLevel: 'info',
          icecast: [`default=http://source:${master.sourcePassword}@127.0.0.1:${master.port}/auralis.ogg`],
        },
        {},
        { logStream: log2.stream },
      );
      const refused = await until('the second push is refused', 10_000, async () =>
        log2.lines.find((l) => l.level === 40 && String(l.msg).includes('/auralis.ogg')),
      );
      assert.match(String(refused.msg), /403/);
      assert.equal(await metric(second, 'auralis_relay_connected', 'mount="/auralis.ogg"'), 0);
      // The first server stops: its pushes end, no retry; the second takes the mount.
      await server!.close();
      server = null;
      await until('the second push takes the mount', 40_000, async () =>
        (await metric(second!, 'auralis_relay_connected', 'mount="/auralis.ogg"')) === 1 ? true : null,
      );
      // Icecast lists the new source once its source thread has read the stream's first pages.
      await until('the master lists the second push', 10_000, async () =>
        (await master.status()).has('/auralis.ogg'),
      );
      assert.equal(
        (await master.status()).has('/auralis.mp3'),
        false,
        'the first server pushes nothing after close()',
      );
    });

    it('close() ends the pushes: Icecast loses its sources, and no retry follows', async () => {
      await second!.close();
      second = null;
      await until('the master has no source', 10_000, async () =>
        (await master.status()).size === 0 ? true : null,
      );
      await sleep(1500);
      assert.equal((await master.status()).size, 0, 'nothing reconnects after close()');
    });
  },
);
