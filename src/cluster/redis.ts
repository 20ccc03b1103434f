import type { Redis } from 'ioredis';
import { ConfigError, redactRedisUrl } from '../server/config.ts';

/** The log lines the cluster writes (the server's pino logger fits). */
export interface ClusterLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Back-off between reconnection attempts: 100 ms doubling up to 2 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(2000, 100 * 2 ** Math.min(attempt - 1, 5));
}

let ioredis: Promise<typeof Redis> | null = null;

/**
 * One Redis connection of an origin or edge (ioredis is loaded with the first: a single process,
 * `--role all`, never loads it). Commands fail at once while it is down (no offline
 * queue: nothing piles up in memory); ioredis reconnects with reconnectDelayMs. `onState` hears
 * each change of up/down; the log says it once per change, with the URL's credentials redacted.
 */
export async function connectRedis(
  url: string,
  name: string,
  log: ClusterLog,
  onState: (up: boolean) => void,
): Promise<Redis> {
  ioredis ??= import('ioredis').then((m) => m.Redis);
  const Redis = await ioredis;
  const shown = redactRedisUrl(url);
  const client = new Redis(url, {
    protocol: 2,
    connectionName: `auralis-${name}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: reconnectDelayMs,
    lazyConnect: true,
  });
  let up = false;
  let lastError = '';
  client.on('ready', () => {
    if (up) return;
    up = true;
    lastError = '';
    log.info({ redis: shown, connection: name }, `redis connection ${name} up`);
    onState(true);
  });
  const down = (): void => {
    if (!up) return;
    up = false;
    log.warn({ redis: shown, connection: name }, `redis connection ${name} lost; reconnecting`);
    onState(false);
  };
  client.on('close', down);
  client.on('end', down);
  client.on('error', (err: Error) => {
    // ioredis retries by itself; one line per distinct error, never the URL's credentials.
    const msg = err.message;
    if (msg === lastError) return;
    lastError = msg;
    log.warn({ redis: shown, connection: name, err: msg }, `redis connection ${name}: ${msg}`);
  });
  return client;
}

/** Connects (the first attempt, then ioredis' own retries) and resolves once ready, or rejects after `timeoutMs`. */
export async function whenReady(client: Redis, timeoutMs: number, shown: string): Promise<void> {
  if (client.status === 'ready') return;
  client.connect().catch(() => {
    // The retry strategy goes on; the timeout below decides.
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      client.off('ready', ok);
      // Like a busy port: the setting names what to fix, and the CLI exits with code 2.
      reject(new ConfigError('redisUrl', `redisUrl: redis ${shown} not reachable within ${timeoutMs} ms`));
    }, timeoutMs);
    const ok = (): void => {
      clearTimeout(t);
      resolve();
    };
    client.once('ready', ok);
  });
}
