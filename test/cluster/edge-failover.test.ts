// kill -9 of an edge behind nginx (docs/deploy/nginx-edges.conf, run for real with this test's
// ports): a personal session's owner, connected through nginx, loses its edge, reconnects through
// nginx as the page does (`personal=1&resume=<newest token>`), lands on the other edge and goes on
// with the same session on the same station clock. And a token of a session that no origin runs
// any more recreates it through an edge, on the token's clock.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuralisServer } from '../../src/server/server.ts';
import { DEFAULT_PARAMS } from '../../src/music/params.ts';
import { SessionTokens } from '../../src/server/session-token.ts';
import { connect, type Client } from '../server/helpers.ts';
import { nginxMainConf } from '../deploy/nginx-conf.ts';
import { freePort, startNode, startRedis, waitFor, type Proc } from './processes.ts';

const ROOT = new URL('../../', import.meta.url);
const CONF = readFileSync(new URL('docs/deploy/nginx-edges.conf', ROOT), 'utf8');
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const SESSION_SECRET = `session-${randomBytes(12).toString('hex')}`;

const haveNginx = spawnSync('sh', ['-c', 'command -v nginx || test -x /usr/sbin/nginx']).status === 0;
const nginxBin = (): string =>
  spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim() || '/usr/sbin/nginx';

/** The documented config with this test's ports, inside a minimal nginx.conf. */
function renderConf(dir: string, edgePorts: number[], port: number): string {
  let site = CONF.replace(/^\s*listen \[::\]:\d+.*$/gm, '').replace(
    /listen 80;/,
    `listen 127.0.0.1:${port};`,
  );
  site = site.replace('server 127.0.0.1:8001 ', `server 127.0.0.1:${edgePorts[0]} `);
  site = site.replace('server 127.0.0.1:8002 ', `server 127.0.0.1:${edgePorts[1]} `);
  for (const p of [...edgePorts, port])
    assert.ok(site.includes(`127.0.0.1:${p}`), 'the documented nginx-edges.conf changed shape');
  return nginxMainConf(dir, site, 'error');
}

let dir = '';
let redis: Proc | null = null;
let nginx: ChildProcess | null = null;
const nodes: Proc[] = [];
const clients: Client[] = [];
/** Every resume token the tests saw: none may reach a node's log. */
const tokensSeen: string[] = [];

after(async () => {
  for (const c of clients) c.ws.terminate();
  if (nginx && nginx.exitCode === null) {
    const gone = new Promise((r) => nginx!.once('exit', r));
    process.kill(nginx.pid!, 'SIGTERM');
    await gone;
  }
  for (const p of nodes) await p.kill();
  await redis?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let front: AuralisServer;
let edges: (Proc & { url: string; port: number })[] = [];

before(async () => {
  if (!haveNginx) {
    if (process.env.CI) throw new Error('nginx is required in CI (apt-get install nginx)');
    return;
  }
  const redisPort = await freePort();
  redis = await startRedis(redisPort, PASSWORD);
  const common = ['--redis', `redis://:${PASSWORD}@127.0.0.1:${redisPort}`, '--workers', '1'];
  const start = async (role: string, extra: string[] = []): Promise<Proc & { url: string; port: number }> => {
    const port = await freePort();
    const p = await startNode([
      '--role',
      role,
      ...common,
      '--port',
      String(port),
      '--session-secret',
      SESSION_SECRET,
      ...extra,
    ]);
    nodes.push(p);
    return Object.assign(p, { port });
  };
  const [, e1, e2] = await Promise.all([
    start('origin', ['--render-ahead-ms', '1500']),
    // A short grace period: the ownership test waits for it to pass.
    start('edge', ['--grace-period-ms', '1000']),
    start('edge', ['--grace-period-ms', '1000']),
  ]);
  edges = [e1, e2];
  dir = mkdtempSync(join(tmpdir(), 'auralis-nginx-edges-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    renderConf(
      dir,
      edges.map((e) => e.port),
      port,
    ),
  );
  let err = '';
  nginx = spawn(nginxBin(), ['-p', dir, '-c', join(dir, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  nginx.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  front = { url: `http://127.0.0.1:${port}` } as AuralisServer;
  await waitFor(
    'nginx answers',
    async () => {
      if (nginx!.exitCode !== null) throw new Error(`nginx exited: ${err}`);
      return fetch(`${front.url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
    },
    10_000,
  );
});

/** The personal sessions whose owner is connected to an edge (its /api/status). */
async function ownersOn(e: { url: string }): Promise<number> {
  const r = await fetch(`${e.url}/api/status`);
  return ((await r.json()) as { personal: { listeners: number } }).personal.listeners;
}

test(
  'an edge the owner left never ends the session another edge took back (its grace period passes)',
  { skip: !haveNginx && 'nginx not installed', timeout: 40_000 },
  async () => {
    const [a, b] = edges as [(typeof edges)[0], (typeof edges)[0]];
    const owner = await connect({ url: a.url } as AuralisServer, 'personal=1&codec=opus');
    clients.push(owner);
    const w = await owner.next('welcome', 15_000);
    const id = w.station as string;
    await owner.waitChunks(3, 15_000);
    owner.close();
    await owner.closed;
    const back = await connect(
      { url: b.url } as AuralisServer,
      `personal=1&resume=${encodeURIComponent(w.resumeToken as string)}&codec=opus`,
    );
    clients.push(back);
    assert.equal((await back.next('welcome', 15_000)).station, id, 'taken back on the other edge');
    // Edge a's grace period (1 s) passes: it forgets the session, and only that.
    await waitFor(
      'edge a ended its side of the session',
      async () => (await fetch(`${a.url}/api/stations/${id}`)).status === 404,
      10_000,
    );
    const had = back.chunks.length;
    await back.waitChunks(had + 20, 10_000);
    assert.equal((await fetch(`${b.url}/api/stations/${id}`)).status, 200, 'the session goes on on edge b');
    const seqs = back.chunks.slice(had).map((c) => c.header.sequence);
    for (let i = 1; i < seqs.length; i++)
      assert.equal(seqs[i], seqs[i - 1]! + 1, `chunk after ${seqs[i - 1]}`);
    back.close();
    await back.closed;
  },
);

test(
  'kill -9 of the edge a personal session is on: the owner resumes it through nginx on the other edge',
  { skip: !haveNginx && 'nginx not installed', timeout: 60_000 },
  async () => {
    const owner = await connect(front, 'personal=1&preset=bright&codec=opus');
    clients.push(owner);
    const w = await owner.next('welcome', 15_000);
    const id = w.station as string;
    let token = w.resumeToken as string;
    await owner.waitChunks(10, 15_000);
    owner.send({ type: 'set', params: { bpm: 72 } });
    const changed = await owner.next('params', 10_000);
    token = changed.resumeToken as string;
    tokensSeen.push(w.resumeToken as string, token);

    const counts = await Promise.all(edges.map(ownersOn));
    const victim = counts.findIndex((n) => n === 1);
    assert.ok(victim >= 0 && counts[1 - victim] === 0, `the owner is on one edge: ${counts.join(',')}`);
    const before = owner.chunks.slice();
    const last = before[before.length - 1]!.header;

    const killedAt = Date.now();
    await edges[victim]!.kill();
    const closed = await owner.closed;
    assert.notEqual(closed.code, 1000, 'the connection broke');

    // Reconnect as the page does: the same URL with the newest resume token, with back-off.
    let back: Client | null = null;
    for (let attempt = 0; back === null; attempt++) {
      const c = await connect(front, `personal=1&resume=${encodeURIComponent(token)}&codec=opus`);
      clients.push(c);
      const first = await Promise.race([c.next('welcome', 10_000), c.closed.then(() => null)]);
      if (first && first.type === 'welcome') back = c;
      else if (attempt >= 5) throw new Error(`no welcome after ${attempt + 1} attempts`);
      else await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
    const w2 = await back.next('welcome');
    assert.equal(w2.station, id, 'the same personal session');
    assert.equal((w2.params as Record<string, unknown>).bpm, 72, 'with its parameters');
    assert.equal(await ownersOn(edges[1 - victim]!), 1, 'now on the other edge');

    await back.waitChunks(10, 15_000);
    const firstNew = back.chunks.find((c) => c.header.sequence > last.sequence);
    assert.ok(firstNew, 'audio goes on past the last chunk before the kill');
    const audioAfterMs = firstNew.arrivedMs - killedAt;
    console.log(
      `edge failover: audio again ${audioAfterMs} ms after kill -9 (chunk ${firstNew.header.sequence}, last before ${last.sequence}: ${firstNew.header.sequence - last.sequence - 1} chunks skipped)`,
    );
    assert.ok(audioAfterMs < 15_000, `audio again ${audioAfterMs} ms after the kill`);
    // The same station clock: every chunk, before and after, at its sequence number's position and time.
    const frames = last.frames;
    for (const c of back.chunks) {
      const h = c.header;
      assert.equal(
        h.positionFrames - last.positionFrames,
        (h.sequence - last.sequence) * frames,
        `chunk ${h.sequence} position`,
      );
      const expectedMs = last.playTimeMs + ((h.sequence - last.sequence) * frames * 1000) / 48_000;
      assert.ok(
        Math.abs(h.playTimeMs - expectedMs) <= 2,
        `chunk ${h.sequence} play time ${h.playTimeMs}, expected ${expectedMs}`,
      );
    }
    // Sequence numbers after the reconnect are contiguous.
    const seqs = back.chunks.map((c) => c.header.sequence);
    for (let i = 1; i < seqs.length; i++)
      assert.equal(seqs[i], seqs[i - 1]! + 1, `chunk after ${seqs[i - 1]}`);
  },
);

test(
  'a resume token of a session no origin runs recreates it through an edge, on the token clock',
  { skip: !haveNginx && 'nginx not installed', timeout: 40_000 },
  async () => {
    // As a server with the cluster's secret issued it a minute ago (a session that has ended since).
    const t0 = Date.now() - 60_000;
    const sid = `p-${randomBytes(15).toString('hex')}`;
    const token = new SessionTokens(SESSION_SECRET, 60_000).issue({
      id: sid,
      seed: 1234,
      params: DEFAULT_PARAMS,
      history: [
        { effectiveAt: 48_000 * 20, params: { ...DEFAULT_PARAMS, key: 'E', mode: 'lydian', bpm: 66 } },
      ],
      startWallMs: t0,
      position: 48_000 * 30,
    });
    const c = await connect(front, `personal=1&resume=${encodeURIComponent(token)}&codec=opus`);
    clients.push(c);
    const w = await c.next('welcome', 15_000);
    assert.equal(w.station, sid);
    assert.equal(w.seed, 1234);
    const p = w.params as Record<string, unknown>;
    assert.deepEqual([p.key, p.mode, p.bpm], ['E', 'lydian', 66], 'the parameters after its changes');
    const chunks = await c.waitChunks(5, 20_000);
    for (const ch of chunks) {
      const h = ch.header;
      assert.ok(
        Math.abs(h.playTimeMs - (t0 + (h.positionFrames * 1000) / 48_000)) <= 2,
        `chunk ${h.sequence} on the token's clock`,
      );
    }
    assert.ok(chunks[0]!.header.positionFrames >= 48_000 * 59, 'it starts at the chunk due now, not at 0');
  },
);

test(
  'neither the session secret nor a resume token reaches a log',
  { skip: !haveNginx && 'nginx not installed' },
  () => {
    assert.ok(tokensSeen.length >= 2, 'tokens were handed out');
    const logs = nodes.map((p) => p.out()).join('\n');
    assert.match(logs, /origin started station/, 'the nodes logged');
    assert.ok(!logs.includes(SESSION_SECRET), 'the secret is not logged');
    for (const t of tokensSeen) assert.ok(!logs.includes(t.split('.')[1]!), 'a token is not logged');
  },
);
