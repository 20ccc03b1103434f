import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../server/bundle.ts';

export { freePort };

export interface IcecastOptions {
  port: number;
  /** Pull this mount of a master Icecast and serve it as `localMount`. */
  relayOf?: { port: number; mount: string; localMount: string };
  /** Icecast's `<clients>` limit (listeners and sources together); default 50. */
  clients?: number;
}

/**
 * A real icecast2 on 127.0.0.1:`port`, its config, logs and pid file in a temp dir, passwords random.
 * Icecast refuses to run as root: as root it is told to change to `nobody` (the dir is made
 * writable for it); as any other user (CI) it runs as that user.
 */
export class IcecastServer {
  readonly dir: string;
  readonly port: number;
  readonly sourcePassword = randomBytes(9).toString('base64url');
  readonly adminPassword = randomBytes(9).toString('base64url');
  private child: ChildProcess | null = null;

  constructor(opts: IcecastOptions) {
    this.port = opts.port;
    this.dir = mkdtempSync(join(tmpdir(), 'auralis-icecast-'));
    chmodSync(this.dir, 0o777);
    const root = process.getuid?.() === 0;
    const r = opts.relayOf;
    const share = existsSync('/usr/share/icecast2') ? '/usr/share/icecast2' : '/usr/share/icecast';
    writeFileSync(
      join(this.dir, 'icecast.xml'),
      `<icecast>
  <location>test</location><admin>test@localhost</admin>
  <hostname>127.0.0.1</hostname>
  <limits><clients>${opts.clients ?? 50}</clients><sources>8</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout><source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect><burst-size>65535</burst-size></limits>
  <authentication>
    <source-password>${this.sourcePassword}</source-password>
    <relay-password>${randomBytes(9).toString('base64url')}</relay-password>
    <admin-user>admin</admin-user><admin-password>${this.adminPassword}</admin-password>
  </authentication>
  <listen-socket><port>${this.port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  ${
    r
      ? `<relay><server>127.0.0.1</server><port>${r.port}</port><mount>${r.mount}</mount>
    <local-mount>${r.localMount}</local-mount><on-demand>0</on-demand>
    <relay-shoutcast-metadata>0</relay-shoutcast-metadata></relay>`
      : ''
  }
  <fileserve>1</fileserve>
  <paths><basedir>${this.dir}</basedir><logdir>${this.dir}</logdir>
    <webroot>${share}/web</webroot><adminroot>${share}/admin</adminroot>
    <pidfile>${this.dir}/icecast.pid</pidfile></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
  <security><chroot>0</chroot>${
    root ? '<changeowner><user>nobody</user><group>nogroup</group></changeowner>' : ''
  }</security>
</icecast>
`,
    );
  }

  /** The icecast2 process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts icecast2 and waits until it answers on its port. */
  async start(): Promise<void> {
    const child = spawn('icecast2', ['-c', join(this.dir, 'icecast.xml')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    // Should the test process exit without its `after` hooks, Icecast does not outlive it.
    const orphan = (): void => void child.kill('SIGKILL');
    process.once('exit', orphan);
    child.once('exit', () => process.off('exit', orphan));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`icecast2 exited (${child.exitCode}): ${stderr}`);
      if ((await this.status().catch(() => null)) !== null) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`icecast2 did not answer on port ${this.port} within 10 s: ${stderr}`);
  }

  /** Stops it by its PID (SIGKILL: a crash; else SIGTERM) and waits for the exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }

  /** The sources on this server by mount (`/status-json.xsl`), with their fields. */
  async status(): Promise<Map<string, Record<string, unknown>>> {
    const res = await fetch(`http://127.0.0.1:${this.port}/status-json.xsl`, {
      signal: AbortSignal.timeout(5000),
    });
    // Icecast 2.4 writes `"title":` fields unescaped; its JSON is valid for our titles.
    const body = (await res.json()) as { icestats: { source?: unknown } };
    const src = body.icestats.source;
    const list = (Array.isArray(src) ? src : src ? [src] : []) as Record<string, unknown>[];
    const out = new Map<string, Record<string, unknown>>();
    for (const s of list) out.set(new URL(String(s.listenurl)).pathname, s);
    return out;
  }

  errorLog(): string {
    try {
      return readFileSync(join(this.dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
