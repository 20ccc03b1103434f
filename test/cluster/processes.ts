// Real processes for the cluster tests: a redis-server and `auralis serve` nodes, on 127.0.0.1 and
// free ports, each stopped by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ROOT, freePort } from '../server/bundle.ts';

export { freePort };

export interface Proc {
  child: ChildProcess;
  out: () => string;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** SIGKILL (unless already gone), then waits for the exit. */
  kill(): Promise<void>;
}

function track(child: ChildProcess): Proc {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    out: () => out,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
    },
  };
}

async function until(what: string, check: () => boolean, timeoutMs: number, p: Proc): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (p.child.exitCode !== null || p.child.signalCode !== null)
      throw new Error(`${what}: the process exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.out()}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms:\n${p.out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A redis-server with no persistence on `port` and password `password`, ready to accept connections. */
export async function startRedis(port: number, password: string): Promise<Proc> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const p = track(
    spawn('redis-server', [...args, '--requirepass', password], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  await until('redis-server', () => p.out().includes('Ready to accept connections'), 10_000, p);
  return p;
}

/** `auralis serve` from the sources with `args`; resolves once it serves (its URL in `url`). */
export async function startNode(args: string[]): Promise<Proc & { url: string }> {
  const p = track(
    spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'serve',
        '--host',
        '127.0.0.1',
        '--state-file',
        '',
        '--log-format',
        'json',
        ...args,
      ],
      // Without the test runner's marker, which silences a server's log (src/server/server.ts).
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
    ),
  );
  await until('auralis serve', () => /serving on (http:\/\/\S+)/.test(p.out()), 30_000, p);
  const url = /serving on (http:\/\/\S+)/.exec(p.out())![1]!;
  return Object.assign(p, { url });
}

/**
 * An `auralis serve --role origin|edge` over the redis-server on `redisPort` (password in the URL),
 * on a free port with one engine worker, `extra` flags after; resolves once it serves.
 */
export async function startClusterNode(
  role: 'origin' | 'edge',
  redisPort: number,
  password: string,
  extra: string[] = [],
): Promise<Proc & { url: string }> {
  return startNode([
    '--role',
    role,
    '--redis',
    `redis://:${password}@127.0.0.1:${redisPort}`,
    '--port',
    String(await freePort()),
    '--workers',
    '1',
    ...extra,
  ]);
}

export type ClusterNode = Proc & { url: string };

/**
 * The cluster the cluster tests share: one redis-server (a random password in the URL, which no
 * node may ever log), origin A, which owns the default station (the edges define it when they
 * start), two edges, and origin B standing by; each a real `auralis serve` process with `extra`
 * flags. close() stops every node it started (by PID), then Redis.
 */
export class TestCluster {
  readonly password = `pw-${randomBytes(8).toString('hex')}-secret`;
  redisPort = 0;
  redis: Proc | null = null;
  readonly nodes: Proc[] = [];
  originA!: ClusterNode;
  originB!: ClusterNode;
  edge1!: ClusterNode;
  edge2!: ClusterNode;
  private readonly extra: string[];

  constructor(extra: string[] = []) {
    this.extra = extra;
  }

  async start(): Promise<this> {
    this.redisPort = await freePort();
    await this.startRedis();
    this.originA = await this.node('origin');
    [this.edge1, this.edge2] = await Promise.all([this.node('edge'), this.node('edge')]);
    const a = this.originA;
    await waitFor(
      'origin A owns default',
      () => a.out().includes('origin started station default'),
      10_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${a.out()}`);
    });
    this.originB = await this.node('origin');
    return this;
  }

  /** Starts one more node of the cluster (stopped by close()). */
  async node(role: 'origin' | 'edge'): Promise<ClusterNode> {
    const p = await startClusterNode(role, this.redisPort, this.password, this.extra);
    this.nodes.push(p);
    return p;
  }

  /** (Re)starts Redis on its port (after killRedis()). */
  async startRedis(): Promise<void> {
    this.redis = await startRedis(this.redisPort, this.password);
  }

  async killRedis(): Promise<void> {
    await this.redis?.kill();
  }

  async close(): Promise<void> {
    for (const p of this.nodes) await p.kill();
    await this.redis?.kill();
  }
}

/** Polls `check` every 50 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
