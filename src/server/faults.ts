import type { FastifyInstance } from 'fastify';
import { monoNowMs, setWallJumpMs, wallNowMs } from '../engine/clock.ts';
import type { ServerContext } from './context.ts';
import { ApiError } from './errors.ts';
import { requireControl } from './routes/api.ts';

/**
 * Fault injection, a test switch: `POST /debug/fault` exists only when the server was started with
 * `--fault-injection on` (or `AURALIS_FAULT_INJECTION=on`), never by default, and the configuration
 * refuses it under `NODE_ENV=production`. It lets a test or `npm run bench:faults` break the server
 * on purpose and watch it recover (docs/ARCHITECTURE.md, "Faults"):
 *
 * | `fault` | fields | what happens |
 * | --- | --- | --- |
 * | `kill-worker` | `station` | the engine worker rendering the station exits half-way through writing its next chunk |
 * | `encoder-throw` | `station`, `chunks` (1–1000, default 1), `persistent` (default false) | the station's Opus encoder throws on that many chunks: once each (the retry with a rebuilt encoder works), or also on the retry (`persistent`: the chunks are dropped) |
 * | `stall-loop` | `ms` (1–10000, default 500), `at` (`now`, default, or `fan-out`) | the main thread blocks that long: at once (the answer comes after it), or right after the pacer's next fan-out, before Node can flush a socket (what an overloaded fan-out does; the answer comes at once) |
 * | `clock-jump` | `ms` (±1 day) | the main thread's wall clock (`Date.now`) is set that far from the real one (0 undoes it) |
 *
 * Stopping the whole process (SIGSTOP/SIGCONT) and running out of file descriptors need no hook:
 * a test does them from outside.
 */

const FAULTS = ['kill-worker', 'encoder-throw', 'stall-loop', 'clock-jump'] as const;
type FaultName = (typeof FAULTS)[number];

const DAY_MS = 86_400_000;

function intField(
  body: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  dflt?: number,
): number {
  const v = body[name];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ApiError(
      'INVALID_PARAM',
      `${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(v)}`,
      name,
    );
  }
  return v;
}

export function registerFaultRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.log.warn('fault injection is on (POST /debug/fault): a test switch, never for production');
  // A simulated clock step is process state: it ends with the server that made it.
  app.addHook('onClose', async () => setWallJumpMs(0));
  const block = new Int32Array(new SharedArrayBuffer(4));

  app.post('/debug/fault', async (req) => {
    requireControl(ctx, req);
    const body = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ApiError('BAD_REQUEST', 'the body must be a JSON object', 'body');
    }
    const b = body as Record<string, unknown>;
    const fault = b.fault as FaultName;
    if (!FAULTS.includes(fault)) {
      throw new ApiError(
        'INVALID_PARAM',
        `fault must be one of ${FAULTS.join(', ')}, got ${JSON.stringify(b.fault)}`,
        'fault',
      );
    }
    const injectedAtMs = wallNowMs();
    switch (fault) {
      case 'kill-worker':
      case 'encoder-throw': {
        const station = typeof b.station === 'string' ? b.station : 'default';
        if (!ctx.registry.get(station)) {
          throw new ApiError('UNKNOWN_STATION', `no station ${JSON.stringify(station)}`, 'station');
        }
        const chunks = fault === 'encoder-throw' ? intField(b, 'chunks', 1, 1000, 1) : 0;
        const persistent = b.persistent ?? false;
        if (typeof persistent !== 'boolean') {
          throw new ApiError(
            'INVALID_PARAM',
            `persistent must be true or false, got ${JSON.stringify(persistent)}`,
            'persistent',
          );
        }
        const ok = ctx.engine.injectFault(
          fault === 'kill-worker'
            ? { kind: 'exit-mid-chunk', id: station }
            : { kind: 'encoder-throw', id: station, chunks, persistent },
        );
        if (!ok) throw new ApiError('NOT_READY', `no engine worker renders ${station} now`, 'station');
        req.log.warn({ fault, station, chunks, persistent }, 'fault injected');
        return { fault, station, ...(fault === 'encoder-throw' ? { chunks, persistent } : {}), injectedAtMs };
      }
      case 'stall-loop': {
        const ms = intField(b, 'ms', 1, 10_000, 500);
        const at = b.at ?? 'now';
        if (at !== 'now' && at !== 'fan-out') {
          throw new ApiError(
            'INVALID_PARAM',
            `at must be "now" or "fan-out", got ${JSON.stringify(at)}`,
            'at',
          );
        }
        if (at === 'fan-out') {
          if (!ctx.pacer.stallAfterFanout) {
            throw new ApiError('NOT_READY', 'this profile has no ring fan-out to stall after', 'at');
          }
          ctx.pacer.stallAfterFanout(ms);
          req.log.warn({ fault, ms, at }, 'fault injected: the main thread blocks after the next fan-out');
          return { fault, ms, at, injectedAtMs };
        }
        req.log.warn({ fault, ms }, 'fault injected: blocking the main thread');
        const t0 = monoNowMs();
        // Blocks the thread like a long synchronous computation, without burning a core.
        Atomics.wait(block, 0, 0, ms);
        return { fault, ms, stalledMs: Math.round(monoNowMs() - t0), injectedAtMs };
      }
      case 'clock-jump': {
        const ms = intField(b, 'ms', -DAY_MS, DAY_MS);
        setWallJumpMs(ms);
        req.log.warn({ fault, ms }, 'fault injected: wall clock set off the real one');
        return { fault, ms, injectedAtMs, wallNowMs: wallNowMs() };
      }
    }
  });
}
