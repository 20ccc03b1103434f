/**
 * The documented nginx configuration (docs/deploy/nginx.conf), run for real: Debian's nginx on
 * loopback with a self-signed certificate in front of an Auralis started from the documented
 * settings file (docs/deploy/auralis.json). A WebSocket listener, an Ogg listener and the
 * now-playing event stream must work through it, unbuffered.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get } from 'node:https';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { readFrameHeader } from '../../src/codec/frame-header.ts';
import { startServer, type AuralisServer } from '../../src/server/server.ts';
import { probeAudio } from '../codec/mp3-tools.ts';
import { requireTool } from '../codec/tools.ts';
import { freePort } from '../server/bundle.ts';
import { nginxMainConf } from './nginx-conf.ts';

const ROOT = new URL('../../', import.meta.url);
const NGINX_CONF = readFileSync(new URL('docs/deploy/nginx.conf', ROOT), 'utf8');

/** The documented server blocks with this test's ports and certificate, inside a minimal nginx.conf. */
function renderConf(dir: string, upstreamPort: number, httpPort: number, httpsPort: number): string {
  const site = NGINX_CONF.replace('server 127.0.0.1:8000;', `server 127.0.0.1:${upstreamPort};`)
    .replace(/^\s*listen \[::\]:\d+.*$/gm, '')
    .replace(/listen 80;/, `listen 127.0.0.1:${httpPort};`)
    .replace(/listen 443 ssl http2;/, `listen 127.0.0.1:${httpsPort} ssl http2;`)
    .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${join(dir, 'cert.pem')};`)
    .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${join(dir, 'key.pem')};`);
  for (const [what, ok] of [
    ['upstream port', site.includes(`127.0.0.1:${upstreamPort}`)],
    ['http port', site.includes(`127.0.0.1:${httpPort};`)],
    ['https port', site.includes(`127.0.0.1:${httpsPort} ssl`)],
    ['certificate', site.includes(join(dir, 'key.pem'))],
  ] as const) {
    assert.ok(ok, `the documented nginx.conf changed shape: ${what} not substituted`);
  }
  return nginxMainConf(dir, site);
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = tcpConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port}`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

const insecure = { rejectUnauthorized: false };

describe('nginx in front, as docs/deploy/nginx.conf says', { timeout: 90_000 }, () => {
  let dir = '';
  let server: AuralisServer | null = null;
  let nginx: ChildProcess | null = null;
  let nginxErr = '';
  let https = 0;
  let http = 0;
  let ready = false;

  before(async () => {
    for (const tool of ['nginx', 'openssl']) {
      if (spawnSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0) {
        // Skipped on a developer's machine without it (each test says so); a failure in CI.
        if (process.env.CI) throw new Error(`${tool} is required in CI (apt-get install ${tool})`);
        return;
      }
    }
    dir = mkdtempSync(join(tmpdir(), 'auralis-nginx-'));
    const cert = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
      ].concat(['-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]),
      { encoding: 'utf8' },
    );
    assert.equal(cert.status, 0, cert.stderr);
    // The documented settings file, with this test's port; nothing kept, no token.
    server = await startServer(
      {
        configFile: new URL('docs/deploy/auralis.json', ROOT).pathname,
        port: 0,
        workers: 1,
        stateFile: '',
        controlToken: '',
        logLevel: 'silent',
      },
      {},
    );
    assert.deepEqual(server.config.trustProxy, ['127.0.0.1', '::1'], 'the documented settings were read');
    http = await freePort();
    https = await freePort();
    writeFileSync(join(dir, 'nginx.conf'), renderConf(dir, server.port, http, https));
    const bin = spawnSync('sh', ['-c', 'command -v nginx || echo /usr/sbin/nginx'], {
      encoding: 'utf8',
    }).stdout.trim();
    nginx = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.stderr!.on('data', (d: Buffer) => (nginxErr += d.toString()));
    await waitForPort(https, 15_000).catch((e: Error) => {
      throw new Error(`${e.message}; nginx said: ${nginxErr}`);
    });
    ready = true;
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx!.once('exit', r));
      nginx.kill('SIGQUIT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (nginx.exitCode === null) nginx.kill('SIGKILL');
    }
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('redirects plain HTTP to HTTPS', async (t) => {
    if (!ready) return t.skip('nginx not available');
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      httpGet(`http://127.0.0.1:${http}/`, resolve).on('error', reject),
    );
    res.resume();
    assert.equal(res.statusCode, 301);
    assert.match(String(res.headers.location), /^https:\/\//);
  });

  it('a WebSocket listener gets the welcome and every chunk in order through wss://', async (t) => {
    if (!ready) return t.skip('nginx not available');
    const ws = new WebSocket(`wss://127.0.0.1:${https}/ws`, insecure);
    const seqs: number[] = [];
    let welcome: Record<string, unknown> | null = null;
    ws.on('message', (data: Buffer, binary) => {
      if (binary) seqs.push(readFrameHeader(data).sequence);
      else {
        const m = JSON.parse(data.toString()) as Record<string, unknown>;
        if (m.type === 'welcome') welcome = m;
      }
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, 3000));
    ws.close();
    assert.ok(welcome, 'welcome received');
    assert.ok(seqs.length >= 20, `${seqs.length} chunks in 3 s (10 a second expected)`);
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1, 'consecutive');
  });

  it('an Ogg listener gets a valid, continuous Opus stream through https:// (not buffered)', async (t) => {
    if (!ready) return t.skip('nginx not available');
    const chunks: Buffer[] = [];
    const arrivals: number[] = [];
    const started = Date.now();
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      get(`https://127.0.0.1:${https}/stream/default.ogg`, insecure, resolve).on('error', reject),
    );
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^audio\/ogg/);
    res.on('data', (d: Buffer) => {
      chunks.push(d);
      arrivals.push(Date.now() - started);
    });
    await new Promise((r) => setTimeout(r, 4000));
    res.destroy();
    const bytes = Buffer.concat(chunks);
    // ~12.5 kB/s after a burst: nginx passes it on as it comes, not in one late block.
    assert.ok(bytes.length > 25_000, `${bytes.length} bytes in 4 s`);
    assert.ok(arrivals[0]! < 2000, `first bytes after ${arrivals[0]} ms`);
    assert.ok(arrivals.filter((a) => a > 2500).length >= 3, 'bytes keep arriving during the last 1.5 s');
    if (requireTool(t, 'ffprobe')) {
      const p = probeAudio(bytes);
      assert.equal(p.codec, 'opus');
      assert.equal(p.rate, '48000');
    }
  });

  it('the now-playing event stream comes through at once', async (t) => {
    if (!ready) return t.skip('nginx not available');
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      get(
        `https://127.0.0.1:${https}/api/stations/default/now`,
        { ...insecure, headers: { accept: 'text/event-stream' } },
        resolve,
      ).on('error', reject),
    );
    assert.equal(res.statusCode, 200);
    const first = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no event within 5 s')), 5000);
      res.once('data', (d: Buffer) => {
        clearTimeout(timer);
        resolve(d.toString());
      });
    });
    res.destroy();
    assert.match(first, /^(event: now\n)?data: \{/m);
  });
});
